"""People in the loop: Algorithm 1 with the labeling widget serving each round.

A :class:`LabelingSession` shows the current round in a :class:`~alsafe.ui.widget.LabelingWidget`. Each label
triggers generation of that item's variations (so they appear for review at once); when the round's
queue is empty the loop generates what is missing, retrains, selects the next round and the session
swaps in a widget for it, which takes the keyboard, and which still lists every variation waiting for
review, and the failures still unresolved (a red line stays until what it reports is resolved). All of
that runs on the widget's worker thread, so the notebook never blocks; if the next round's widget cannot be
built, the session says so where it would be, and the previous one stays. Stopping anywhere and reopening
the store continues where it stopped. Whatever else shows the run (the live dashboard,
the export panel) hears of each new round through :meth:`LabelingSession.on_round`.
"""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as widgets

from alsafe.loop import ActiveLearningLoop
from alsafe.oracles import QueueOracle
from alsafe.ui.widget import LabelingWidget


class LabelingSession(widgets.VBox):
    """The labeling widget for the current round, driving ``loop`` between rounds.

    Parameters
    ----------
    loop : an :class:`~alsafe.loop.ActiveLearningLoop` whose oracle is a :class:`~alsafe.oracles.QueueOracle`
        (people answer through the widget).
    annotator : name recorded with every label.

    Call :meth:`start` to select the first round (or continue a stopped run) and show it.
    """

    def __init__(self, loop: ActiveLearningLoop, annotator: str):
        if not isinstance(loop.oracle, QueueOracle):
            raise ValueError("LabelingSession needs a loop whose oracle is QueueOracle() (people label in the "
                             f"widget), not {type(loop.oracle).__name__}.")
        self.loop = loop
        self.annotator = annotator
        self.status_ = None
        self.summary = widgets.HTML()
        self.message = widgets.HTML()  # what went wrong showing a round, in red; empty otherwise
        self.message.add_class("alsafe-session-message")
        self.widget_: LabelingWidget | None = None
        self._listeners: list[Callable[["LabelingSession"], object]] = []
        self._change_listeners: list[Callable[["LabelingSession"], object]] = []
        super().__init__(children=[self.summary])

    @property
    def finished(self) -> bool:
        """Whether the labeling budget is spent."""
        return self.status_ is not None and self.status_.finished

    def on_round(self, callback: Callable[["LabelingSession"], object]) -> None:
        """Call ``callback(session)`` after every round the loop finishes (on the worker thread)."""
        self._listeners.append(callback)

    def on_change(self, callback: Callable[["LabelingSession"], object]) -> None:
        """Call ``callback(session)`` after every label, undo or review given in the widget (on the UI thread)."""
        self._change_listeners.append(callback)

    def _changed(self) -> None:
        for listener in self._change_listeners:
            listener(self)

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
            + (" · <b>budget spent</b>: the export below runs now." if status.finished else ""))
        old = self.widget_
        # Even when the budget is spent the widget stays: the last round's variations may wait for review.
        try:
            new = LabelingWidget(self.loop.store, self.annotator, on_labeled=self._labeled,
                                 on_round_complete=None if status.finished else self._round_complete,
                                 failures=None if old is None else old.failures, on_change=self._changed)
        except Exception as error:  # said where the round would be; the previous widget (if any) stays usable
            reason = str(error).strip() or type(error).__name__
            self.message.value = (
                "<span style='color:#b00020'>" + html.escape(
                    f"Showing the next round failed ({reason}): every label saved so far is in "
                    f"{self.loop.store.path}; run this cell again to go on from there.", quote=False) + "</span>")
            self.children = [self.summary, self.message, *([old] if old is not None else [])]
            raise
        if old is not None:
            old.close()
        self.widget_, self.message.value = new, ""
        self.children = [self.summary, new]
        new.focus()

    def _labeled(self, item_id: str, label: str) -> None:
        """Generate the new item's variations right away, so they can be reviewed while labeling goes on;
        an item of the previous round labeled again (after an undo) keeps its own round."""
        self.loop.generate_for([item_id], round=self.widget_.round_of(item_id))

    def _round_complete(self, round: int) -> None:
        """The round's queue is empty: generate what is missing, retrain, select the next round, show it."""
        self.status_ = self.loop.run()
        try:
            self._show()
        finally:  # the round is finished in the store either way; whatever else shows the run hears of it
            for listener in self._listeners:
                listener(self)

    def wait(self, timeout: float | None = None) -> None:
        """Block until background work is done, following the session into new rounds (for tests and scripts)."""
        waited = None
        while self.widget_ is not None and self.widget_ is not waited:
            waited = self.widget_
            waited.wait(timeout)
