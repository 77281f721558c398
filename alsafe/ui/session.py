"""People in the loop: Algorithm 1 with the labeling widget serving each round.

A :class:`LabelingSession` shows the current round in a :class:`~alsafe.ui.widget.LabelingWidget`. Each label
triggers generation of that item's variations (so they appear for review at once); when the round's
queue is empty the loop generates what is missing, retrains, selects the next round and the session
swaps in a widget for it, with a dashboard of the run so far. All of that runs on the widget's worker
thread, so the notebook never blocks. Stopping anywhere and reopening the store continues where it stopped.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from alsafe.ui.dashboard import plot_dashboard
from alsafe.loop import ActiveLearningLoop
from alsafe.oracles import QueueOracle
from alsafe.ui.widget import LabelingWidget


class LabelingSession(widgets.VBox):
    """The labeling widget for the current round plus a dashboard, driving ``loop`` between rounds.

    Parameters
    ----------
    loop : an :class:`~alsafe.loop.ActiveLearningLoop` whose oracle is a :class:`~alsafe.oracles.QueueOracle`
        (people answer through the widget).
    annotator : name recorded with every label.
    dashboard : show the run's dashboard (class distribution, metrics, cluster coverage) after each round.

    Call :meth:`start` to select the first round (or continue a stopped run) and show it.
    """

    def __init__(self, loop: ActiveLearningLoop, annotator: str, dashboard: bool = True):
        if not isinstance(loop.oracle, QueueOracle):
            raise ValueError("LabelingSession needs a loop whose oracle is QueueOracle() (people label in the "
                             f"widget), not {type(loop.oracle).__name__}.")
        self.loop = loop
        self.annotator = annotator
        self.show_dashboard = dashboard
        self.status_ = None
        self.summary = widgets.HTML()
        self.board = widgets.Output()
        self.widget_: LabelingWidget | None = None
        super().__init__(children=[self.summary])

    def start(self) -> "LabelingSession":
        """Select round 1 (or continue where the run stopped) and show its widget; returns the session."""
        self.status_ = self.loop.run()
        self._show()
        return self

    def _show(self) -> None:
        cost = self.loop.store.cost_summary()
        status = self.status_
        self.summary.value = (
            f"<b>{status.rounds_done} of {status.rounds_total} rounds done</b> · LLM calls {cost['calls']}, "
            f"{cost['prompt_tokens'] + cost['completion_tokens']} tokens, ${cost['cost_usd']:.4f} so far"
            + (" · <b>budget spent</b>: export the dataset and classifier." if status.finished else ""))
        children = [self.summary]
        if not status.finished:
            if self.widget_ is not None:
                self.widget_.close()
            self.widget_ = LabelingWidget(self.loop.store, self.annotator, on_labeled=self._labeled,
                                          on_round_complete=self._round_complete)
            children.append(self.widget_)
        if self.show_dashboard:
            self.board.clear_output()
            figure = plot_dashboard(self.loop.store, self.loop.n_clusters)
            self.board.append_display_data(figure)
            plt.close(figure)
            children.append(self.board)
        self.children = children

    def _labeled(self, item_id: str, label: str) -> None:
        """Generate the new item's variations right away, so they can be reviewed while labeling goes on."""
        self.loop.generate_for([item_id], round=self.widget_.round)

    def _round_complete(self, round: int) -> None:
        """The round's queue is empty: generate what is missing, retrain, select the next round, show it."""
        self.status_ = self.loop.run()
        self._show()

    def wait(self, timeout: float | None = None) -> None:
        """Block until background work is done, following the session into new rounds (for tests and scripts)."""
        waited = None
        while self.widget_ is not None and self.widget_ is not waited:
            waited = self.widget_
            waited.wait(timeout)
