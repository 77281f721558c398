"""Oracles answer a round's queue: from gold labels (simulation, papermill) or from people (the widget).

An oracle's :meth:`answer` labels what it can and returns how many items of the round still wait;
the loop moves on only when that is zero, so it never blocks a kernel waiting for a person.
"""

from __future__ import annotations

from alsafe.store import RunStore, StoreError


class SimulatedOracle:
    """Answers every queued item with its gold label (the annotator's answer in a simulation).

    Parameters
    ----------
    annotator : name recorded with each label.
    """

    def __init__(self, annotator: str = "simulated"):
        self.annotator = annotator

    def answer(self, store: RunStore, round: int) -> int:
        queue = store.queue(round)
        if queue.empty:
            return 0
        gold = store.items().set_index("id")["gold_label"]
        missing = [item for item in queue["item_id"] if not isinstance(gold.get(item), str)]
        if missing:
            raise StoreError(f"The simulated oracle has no gold label for {', '.join(missing[:5])}; import the pool "
                             "with a label column, or label with the widget (QueueOracle).")
        for item in queue["item_id"]:
            store.add_label(item, gold[item], annotator=self.annotator, round=round)
        return 0


class QueueOracle:
    """People answer through the labeling widget; the loop resumes once the round's queue is empty."""

    def answer(self, store: RunStore, round: int) -> int:
        return len(store.queue(round))


ORACLES = ("simulated", "widget")


def make_oracle(name: str, annotator: str = "simulated"):
    """``simulated`` (gold labels answer; papermill) or ``widget`` (people answer in the labeling widget)."""
    if name == "simulated":
        return SimulatedOracle(annotator)
    if name == "widget":
        return QueueOracle()
    raise ValueError(f"ORACLE must be one of {', '.join(ORACLES)}, not {name!r}.")
