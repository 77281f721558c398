"""A key box: keyboard shortcuts for ipywidgets, which has no key listener of its own.

The box is a one-row ``Textarea`` holding two sentinel characters. Typing into it changes its value, which the
kernel observes, reads as keys and resets: each inserted character is a key (a newline is Enter) and each
deleted character is a Backspace. A ``Textarea`` rather than a ``Text`` because Enter then changes the value
too, so the deprecated ``on_submit`` is not needed.

Keys typed before the kernel's reset reaches the browser arrive as values still built on the old text (the
browser also merges changes made while the kernel is busy). The reset alternates between two sentinels, so
each value tells which text it grew from, and only its new part is read: typing ahead never repeats a key.
Two sentinels rather than one so that a Backspace still leaves a mark of its text. One case stays ambiguous:
Backspaces that the browser merges into one message and that empty the box can count as more than they were.
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as widgets

SENTINELS = ("››", "»»")


class KeyBox(widgets.Textarea):
    """A small text box that calls ``on_key(name)`` for every key typed into it (``Enter``, ``Backspace``, or
    the character itself)."""

    def __init__(self, on_key: Callable[[str], None], **kwargs):
        kwargs.setdefault("layout", widgets.Layout(width="70px", height="32px"))
        super().__init__(value=SENTINELS[0], rows=1, continuous_update=True, **kwargs)
        self.on_key = on_key
        self._base = self._sent = SENTINELS[0]  # the text of the latest reset; the last value the browser sent
        self._resetting = False
        self.observe(self._on_value, names="value")

    def _on_value(self, change: dict) -> None:
        if self._resetting:
            return
        value = change["new"]
        stale = self._base[0] not in value  # built on the text before the latest reset
        before = self._sent if stale else self._base
        self._sent = value
        if not stale:
            # Reset only here: a second reset to the same text could wipe keys typed on it but not yet sent,
            # and the next value would then read as deletions.
            self._base = SENTINELS[1] if self._base == SENTINELS[0] else SENTINELS[0]
            self._resetting = True
            try:
                self.value = self._base
            finally:
                self._resetting = False
        for key in keystrokes(before, value):
            if key not in "".join(SENTINELS):
                self.on_key(key)


def keystrokes(before: str, after: str) -> list[str]:
    """The keys that turn the box's text ``before`` into ``after``: one Backspace per deleted character."""
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(before), len(after)) - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    inserted = after[prefix:len(after) - suffix]
    return ["Backspace"] * (len(before) - prefix - suffix) + ["Enter" if char in "\r\n" else char for char in inserted]
