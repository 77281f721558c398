"""alsafe: active learning that steers LLM generation towards rare but critical safety cases.

A thin helper package behind the numbered notebooks in ``notebooks/``; see README.md.
"""

__version__ = "0.1.0"
