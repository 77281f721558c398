"""The reproduction of Hassan, Sicilia, Alikhani (2024): its dataset, its reported numbers, replay of its
GPT-3.5 variations, the simulated loop, the transfer experiments, error analysis, tables and figures.

This wing imports the tool (``alsafe``); the tool never imports it.
"""
