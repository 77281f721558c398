"""What one annotator has left to label, and what they can undo: the labeling widget's state, no widgets.

The queue holds the round's selected items this annotator has not labeled yet, in selection order (a skip
sends the item on screen to the end). The history holds this annotator's active labels of this round and
of the previous one, oldest first: the last label of a round may be wrong, and by the time it is noticed
the next round is on screen. An undone item of the previous round comes back first and is labeled again
under its own round. Notes belong to their item until its label saves them.
"""

from __future__ import annotations

from alsafe.store import RunStore


class LabelQueue:
    """The items ``annotator`` has left in ``round`` and their undoable labels, read from ``store``.

    Parameters
    ----------
    store : the run store.
    annotator : whose labels count as done and can be undone.
    round : the round on screen.
    rounds : every round in the store.
    """

    def __init__(self, store: RunStore, annotator: str, round: int, rounds: list[int]):
        self.round = round
        self.rounds = [*[r for r in rounds if r < round][-1:], round]  # undo reaches back one round
        selections = {r: store.selections(r) for r in self.rounds}
        self.items: dict[str, dict] = {}
        self.round_of: dict[str, int] = {}
        for r in self.rounds:  # this round last: an item selected twice is this round's
            for row in selections[r].to_dict("records"):
                self.items[row["item_id"]], self.round_of[row["item_id"]] = row, r
        self.own = set(selections[round]["item_id"])
        labels = store.labels()
        mine = labels[(labels["annotator"] == annotator) & labels["item_id"].isin(list(self.items))]
        self.history = [{"label_id": int(r["id"]), "item_id": r["item_id"], "label": r["label"],
                         "note": r["note"] if isinstance(r["note"], str) else None}
                        for r in mine.sort_values("id").to_dict("records")]
        done = {row["item_id"] for row in self.history}
        # An earlier round's item left with no label (undone, then the kernel stopped) comes first.
        earlier = selections[self.rounds[0]] if len(self.rounds) > 1 else selections[round].iloc[:0]
        undone = [row["item_id"] for row in earlier.to_dict("records")
                  if not isinstance(row["label"], str) and row["item_id"] not in done | self.own]
        self.order = undone + [item for item in selections[round]["item_id"] if item not in done]
        self.notes: dict[str, str] = {}  # notes typed for items not on screen now

    @property
    def current(self) -> str | None:
        """The id of the item on screen, or None when the round is done."""
        return self.order[0] if self.order else None

    def progress(self, label_names: list[str]) -> dict:
        """``done``, ``total`` and ``per_class`` (label -> count) of this round's items."""
        latest = {row["item_id"]: row["label"] for row in self.history if row["item_id"] in self.own}
        per_class = {name: 0 for name in label_names}
        for label in latest.values():
            per_class[label] = per_class.get(label, 0) + 1
        return {"done": len(latest), "total": len(self.own), "per_class": per_class}

    def labeled(self, label_id: int, label: str, note: str | None) -> str:
        """Record the label just saved for the current item and move on; returns the item's id."""
        item_id = self.order.pop(0)
        self.history.append({"label_id": label_id, "item_id": item_id, "label": label, "note": note})
        self.notes.pop(item_id, None)
        return item_id

    def skip(self) -> None:
        """Send the current item (and its note, kept in :attr:`notes`) to the end."""
        self.order.append(self.order.pop(0))

    def holds(self, label_id: int) -> bool:
        """Whether the label ``label_id`` is still in the history (not undone)."""
        return any(row["label_id"] == label_id for row in self.history)

    def undone(self) -> dict:
        """Forget the latest label (retracted in the store by the caller first) and put its item on screen
        with the note it had; returns the history entry."""
        last = self.history.pop()
        item_id = last["item_id"]
        if all(row["item_id"] != item_id for row in self.history) and item_id not in self.order:
            self.order.insert(0, item_id)
        if last["note"]:
            self.notes[item_id] = last["note"]
        return last
