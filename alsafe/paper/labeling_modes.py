"""Notebook 03's one mode per run: simulate, or label the paper's pool yourself, never both under one Run All.

Run All in widget mode must not go on into a simulation of minutes while the widget waits for keys, and a
simulated run must not open a widget: each step below does its work in one mode only, and says so in one
line in the other. Above :mod:`alsafe.paper.simulate` and :mod:`alsafe.paper.figures`, which it combines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from alsafe import report
from alsafe.loop import ActiveLearningLoop
from alsafe.oracles import ORACLES
from alsafe.paper.figures import plot_learning_curves
from alsafe.paper.simulate import acquired_balance, learning_curves, open_simulation_store, run_simulation


@dataclass
class SimulationResults:
    """What :func:`simulate_unless_widget` produced; every field None when widget mode skipped it."""

    curves: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    figure: object = None

    @property
    def last_round(self) -> pd.DataFrame | None:
        """The learning curves at the most labels bought (None when skipped)."""
        if self.summary is None:
            return None
        return self.summary[self.summary["n_acquired"] == self.summary["n_acquired"].max()]

    def save(self, params: dict, started: float) -> list[Path]:
        """Record the tables and the figure through :mod:`alsafe.report`; nothing when skipped."""
        if self.curves is None:
            print("Widget mode: no simulation results to record.")
            return []
        return [
            report.save_table(self.curves, "simulation_rounds", params, started),
            report.save_table(self.summary, "simulation_learning_curves", params, started,
                              notes=["Held-out macro-F1 (percent) after each round: mean, sample std and 95% "
                                     "t-interval over seeds."]),
            report.save_table(self.balance, "simulation_balance", params, started,
                              notes=["Mean over seeds of the class counts each strategy acquired, their sample "
                                     "std (std) and its spread over seeds (std_sd)."]),
            report.save_figure(self.figure, "learning_curves"),
        ]


def _check_oracle(oracle: str) -> None:
    if oracle not in ORACLES:
        raise ValueError(f"ORACLE must be one of {', '.join(ORACLES)}, not {oracle!r}.")


def simulate_unless_widget(oracle: str, dataset: pd.DataFrame, runs_dir: str | Path, **simulation) -> SimulationResults:
    """:func:`run_simulation` with its learning curves, acquired balance and figure, when ``oracle`` is
    ``simulated``; in widget mode it says so in one line and returns empty :class:`SimulationResults`.

    ``simulation``: the keyword arguments of :func:`run_simulation`.
    """
    _check_oracle(oracle)
    if oracle == "widget":
        print("Widget mode (ORACLE = 'widget') skips the simulation; set ORACLE = 'simulated' to run it.")
        return SimulationResults()
    curves = run_simulation(dataset, runs_dir, **simulation)
    return SimulationResults(curves, learning_curves(curves), acquired_balance(curves), plot_learning_curves(curves))


def label_paper_pool(oracle: str, path: str | Path, dataset: pd.DataFrame, annotator: str, pool_size: int = 0,
                     random_state: int = 0, generator_factory: Callable | None = None, **loop_params):
    """Widget mode: you label the paper's pool in a :class:`~alsafe.ui.session.LabelingSession` (Cluster-AL)
    with its live dashboard; returns both in one box. In simulated mode it says so in one line and
    returns None.

    ``pool_size`` 0 is the whole pool; ``loop_params`` go to :class:`~alsafe.loop.ActiveLearningLoop`.
    """
    _check_oracle(oracle)
    if oracle != "widget":
        print("Simulated mode (ORACLE = 'simulated'): no labeling widget in this run; the simulation below answers.")
        return None
    import ipywidgets as widgets

    from alsafe.oracles import make_oracle
    from alsafe.ui.dashboard import LiveDashboard
    from alsafe.ui.session import LabelingSession

    store = open_simulation_store(path, dataset, pool_size=pool_size or None, random_state=random_state,
                                  params={"oracle": "widget", "seed": random_state, "pool_size": pool_size})
    loop = ActiveLearningLoop(store, strategy="cluster", random_state=random_state, oracle=make_oracle(oracle),
                              generator=generator_factory() if generator_factory else None, **loop_params)
    session = LabelingSession(loop, annotator=annotator).start()
    return widgets.VBox([session, LiveDashboard(store, loop.n_clusters, session=session)])
