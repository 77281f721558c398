"""What went wrong, in one sentence that says what is safe, shown until it is resolved.

The labeling widget keeps each background failure in :class:`OpenFailures`, keyed by what it is about
(``("item", item_id)``: that item's variations; ``("fetch", item_id)``: showing them; ``("round", n)``:
finishing round n), until the thing it reports is resolved; a new round's widget takes over the ones
still open, so a red line never vanishes while it is still true.
"""

from __future__ import annotations

import html
import sqlite3
from pathlib import Path

from alsafe.store import RunStore, StoreError

# What the run's file can raise under a person's hands: a full or failing disk, a lock, a refused write.
STORE_ERRORS = (StoreError, sqlite3.Error, OSError)

# action name -> (what was tried, what it means that it failed)
ACTION_FAILURES = {
    "label": ("Saving the label", "it was not saved"),
    "confirm": ("Saving the label", "it was not saved"),
    "undo": ("Undoing the label", "it still counts"),
    "back": ("Undoing the label", "it still counts"),  # Backspace and the undo button
    "review": ("Saving the review", "it was not saved and the variation still waits"),
    "accept_rest": ("Accepting the variations", "those still listed were not accepted"),
}


def failure_sentence(what: str, error: BaseException, consequence: str, path: str | Path) -> str:
    """``What failed (error): consequence; labels shown as saved before are in path.`` for a store error,
    ``What failed: error. Consequence.`` for anything else (a backend down, a bug in a callback)."""
    reason = str(error).strip() or type(error).__name__
    if isinstance(error, STORE_ERRORS):
        return f"{what} failed ({reason}): {consequence}; labels shown as saved before are in {path}."
    return f"{what} failed: {reason}. {consequence[:1].upper()}{consequence[1:]}."


def action_failure(action: str, error: BaseException, path: str | Path) -> str:
    """The sentence for a button or key whose store write (or anything after it) failed."""
    what, consequence = ACTION_FAILURES.get(action, ("That action", "nothing more was saved"))
    reason = str(error).strip() or type(error).__name__
    if not isinstance(error, STORE_ERRORS):  # a bug, said like a store error: the write may not have happened
        reason = f"{type(error).__name__}: {reason}"
    return f"{what} failed ({reason}): {consequence}; labels shown as saved before are in {path}."


class OpenFailures:
    """The failures not resolved yet, in the order they happened.

    Parameters
    ----------
    path : the run's file, named in every sentence (what is saved is there).
    carried : :attr:`items` of the previous round's widget.
    """

    def __init__(self, path: str | Path, carried: dict[tuple, str] | None = None):
        self.path = path
        self.items: dict[tuple, str] = dict(carried or {})

    def report(self, key: tuple, what: str, error: BaseException, consequence: str) -> None:
        """Show ``What failed …`` under ``key`` until :meth:`resolve` (a later failure of the same replaces it)."""
        self.items.pop(key, None)
        self.items[key] = failure_sentence(what, error, consequence, self.path)

    def resolve(self, *keys: tuple) -> None:
        for key in keys:
            self.items.pop(key, None)

    def drop_resolved(self, store: RunStore, round: int) -> None:
        """Forget carried-over failures no longer true in ``round``'s widget: a later round exists, the fetch
        is done again, the item's label was undone, or its variations were made since (the round's own
        generation step)."""
        labeled = set(store.labels()["item_id"]) if self.items else set()
        for kind, subject in list(self.items):
            if kind == "round" and subject < round or kind == "fetch" or kind == "item" and (
                    subject not in labeled or not store.variations(seed_id=subject, current_only=True).empty):
                self.resolve((kind, subject))

    def html(self) -> str:
        return "".join(f"<br><span style='color:#b00020'>{html.escape(text, quote=False)}</span>"
                       for text in self.items.values())
