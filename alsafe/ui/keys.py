"""Keyboard shortcuts for the labeling widget: a focusable strip that sends each key to Python and keeps it.

An anywidget (custom widget with a few lines of JavaScript): the strip takes the focus when it is drawn
(a new round, Run All, a kernel restart re-draws it) and whenever Python asks (:meth:`KeyStrip.focus`);
a click anywhere in the labeling widget gives it back, and so does Enter in its note box. JupyterLab runs
no notebook shortcut for a key pressed inside it (``data-lm-suppress-shortcuts``, as JupyterLab's own
shortcut editor does), and the keys it handles never reach the page, so typing never edits a cell.

A key acts only on what is on screen: every key message names the item the strip shows (:attr:`KeyStrip.item`,
set by Python after the item is drawn), and Python refuses a key naming another item. A busy kernel (a long
cell after Run All) reads no message until it is done; rather than queue keys onto items nobody has seen, the
strip stops sending once a key has waited more than :data:`BUSY_MS` for Python's acknowledgement, and says so.
"""

from __future__ import annotations

from typing import Callable

import anywidget
import traitlets

KEYS = tuple("123456789") + ("Enter", "Backspace", "Escape", "s", "S")
BUSY_MS = 1000  # longer than any answer of an idle kernel, short enough that a person notices
BUSY_NOTE = "the kernel is busy — key not sent"

_ESM = """
const KEYS = new Set(%s);
const BUSY_MS = %d;
const BUSY_NOTE = %r;

function render({ model, el }) {
  const strip = document.createElement("div");
  strip.tabIndex = 0;
  strip.className = "alsafe-keystrip";
  strip.setAttribute("data-lm-suppress-shortcuts", "true");
  strip.setAttribute("role", "application");
  strip.setAttribute("aria-label", "labeling keys");
  // send times of the keys Python has not acknowledged yet, oldest first
  const waiting = [];
  let acknowledged = model.get("acknowledged");
  let note = "";
  // Both texts stay in the strip, one on top of the other, and only one is visible: the strip keeps its size
  // when the focus comes and goes, so a click that moves the focus does not move what is under the mouse.
  const idle = document.createElement("span"), on = document.createElement("span");
  idle.className = "alsafe-keys-idle";
  on.className = "alsafe-keys-on";
  strip.appendChild(idle);
  strip.appendChild(on);
  const paint = () => {
    strip.classList.toggle("alsafe-keystrip-active", document.activeElement === strip);
    strip.classList.toggle("alsafe-keystrip-busy", note !== "");
    const suffix = note ? ` · ${note}` : "";
    idle.textContent = model.get("idle_text") + suffix;
    on.textContent = model.get("active_text") + suffix;
  };
  model.on("change:acknowledged", () => {
    const now = model.get("acknowledged");
    waiting.splice(0, Math.max(0, now - acknowledged));
    acknowledged = now;
    if (waiting.length === 0 && note) { note = ""; paint(); }
  });
  strip.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !KEYS.has(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    if (event.repeat) return;
    const now = performance.now();
    if (waiting.length && now - waiting[0] > BUSY_MS) {
      note = BUSY_NOTE;  // dropped, never queued: when Python reads it the screen may show another item
      paint();
      return;
    }
    waiting.push(now);
    model.send({ key: event.key, item: model.get("item") });
  });
  strip.addEventListener("focus", paint);
  strip.addEventListener("blur", paint);
  const owner = () => el.closest(".alsafe-labeling");
  // reclaim: also from this widget's note box (Enter saved its note); never from a cell or a reason box
  const grab = (reclaim) => {
    if (!strip.isConnected) return;
    const active = document.activeElement;
    const box = owner();
    const editing = active && active.closest && active.closest(".jp-InputArea-editor, .alsafe-typing");
    const inNote = reclaim === true && editing && box && box.contains(active) && active.closest(".alsafe-note");
    if (!editing || inNote) strip.focus({ preventScroll: true });
    paint();
  };
  model.on("change:focus_requests", () => grab(false));
  model.on("change:reclaim_requests", () => grab(true));
  model.on("change:idle_text", paint);
  model.on("change:active_text", paint);
  // the widget around the strip: a click on anything but a text field gives the keys back
  const onClick = (event) => {
    if (!event.target.closest("input, textarea")) setTimeout(() => grab(false), 0);
  };
  // Enter in the note box saves the label: the next number key must pick, not type into the note
  const onKey = (event) => {
    if (event.key === "Enter" && event.target.closest(".alsafe-note")) setTimeout(() => grab(true), 0);
  };
  setTimeout(() => {
    const box = owner();
    if (box) { box.addEventListener("click", onClick); box.addEventListener("keydown", onKey); }
    grab(false);
  }, 0);
  // Run All and a restart move JupyterLab's focus to the notebook after the output is drawn: take it back
  // (grab never takes it from a cell editor or a text box the user is typing in)
  for (const delay of [400, 1200, 2500]) setTimeout(() => grab(false), delay);
  el.appendChild(strip);
  paint();
  return () => {
    const box = owner();
    if (box) { box.removeEventListener("click", onClick); box.removeEventListener("keydown", onKey); }
  };
}
export default { render };
""" % (list(KEYS), BUSY_MS, BUSY_NOTE)

_CSS = """
.alsafe-keystrip { display: inline-grid; min-width: 16em; padding: 4px 10px; border: 2px dashed #999;
  border-radius: 6px; color: #666; font-size: 13px; cursor: pointer; outline: none; user-select: none; }
.alsafe-keystrip > span { grid-area: 1 / 1; }
.alsafe-keystrip > .alsafe-keys-on, .alsafe-keystrip-active > .alsafe-keys-idle { visibility: hidden; }
.alsafe-keystrip-active > .alsafe-keys-on { visibility: visible; }
.alsafe-keystrip-active { border: 2px solid #0072B2; color: #0072B2; background: #eef6fb; }
.alsafe-keystrip-busy { border-color: #b00020; color: #b00020; }
"""


class KeyStrip(anywidget.AnyWidget):
    """A strip that calls ``on_key(name, item)`` for every shortcut key pressed while it has the focus
    (``"1"``..``"9"``, ``"Enter"``, ``"Backspace"``, ``"Escape"``, ``"s"``); ``item`` is the :attr:`item` the
    strip showed when the key was pressed (None from a message that names none)."""

    _esm = _ESM
    _css = _CSS
    focus_requests = traitlets.Int(0).tag(sync=True)
    reclaim_requests = traitlets.Int(0).tag(sync=True)
    item = traitlets.Unicode("").tag(sync=True)  # the item on screen; "" when there is none
    acknowledged = traitlets.Int(0).tag(sync=True)  # key messages read so far
    idle_text = traitlets.Unicode("⌨ click here for keyboard shortcuts").tag(sync=True)
    active_text = traitlets.Unicode("⌨ keys on: 1-9 pick · Enter save · Backspace undo · s skip").tag(sync=True)

    def __init__(self, on_key: Callable[[str, str | None], None], **kwargs):
        super().__init__(**kwargs)
        self.on_key = on_key
        self.on_msg(self._on_message)

    def focus(self, reclaim: bool = False) -> None:
        """Ask the browser to give the strip the focus, unless the user is typing in a cell or a text box;
        ``reclaim`` takes it from the labeling widget's note box too (after Enter saved the note)."""
        if reclaim:
            self.reclaim_requests += 1
        else:
            self.focus_requests += 1

    def _on_message(self, widget, content, buffers) -> None:
        if not isinstance(content, dict) or "key" not in content:
            return
        self.acknowledged += 1  # every key message, read or refused, so the strip knows the kernel answers
        key, item = content.get("key"), content.get("item")
        if key in KEYS:
            self.on_key(key, item if isinstance(item, str) else None)
