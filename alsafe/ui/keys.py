"""Keyboard shortcuts for the labeling widget: a focusable strip that sends each key to Python and keeps it.

An anywidget (custom widget with a few lines of JavaScript): the strip takes the focus when it is drawn
(a new round, Run All, a kernel restart re-draws it) and whenever Python asks (:meth:`KeyStrip.focus`);
a click anywhere in the labeling widget gives it back. JupyterLab runs no notebook shortcut for a key
pressed inside it (``data-lm-suppress-shortcuts``, as JupyterLab's own shortcut editor does), and the
keys it handles never reach the page, so typing never edits a cell. Keys are not typed into anything,
so nothing accumulates however fast they come.
"""

from __future__ import annotations

from typing import Callable

import anywidget
import traitlets

KEYS = tuple("123456789") + ("Enter", "Backspace", "s", "S")

_ESM = """
const KEYS = new Set(%s);

function render({ model, el }) {
  const strip = document.createElement("div");
  strip.tabIndex = 0;
  strip.className = "alsafe-keystrip";
  strip.setAttribute("data-lm-suppress-shortcuts", "true");
  strip.setAttribute("role", "application");
  strip.setAttribute("aria-label", "labeling keys");
  const paint = () => {
    const active = document.activeElement === strip;
    strip.classList.toggle("alsafe-keystrip-active", active);
    strip.textContent = active ? model.get("active_text") : model.get("idle_text");
  };
  strip.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !KEYS.has(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    if (!event.repeat) model.send({ key: event.key });
  });
  strip.addEventListener("focus", paint);
  strip.addEventListener("blur", paint);
  const grab = () => {
    if (!strip.isConnected) return;
    const editing = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest(".jp-InputArea-editor, .alsafe-typing");
    if (!editing) strip.focus({ preventScroll: true });
    paint();
  };
  model.on("change:focus_requests", grab);
  model.on("change:idle_text", paint);
  model.on("change:active_text", paint);
  // the widget around the strip: a click on anything but a text field gives the keys back
  const owner = () => el.closest(".alsafe-labeling");
  const onClick = (event) => {
    if (!event.target.closest("input, textarea")) setTimeout(grab, 0);
  };
  setTimeout(() => { const box = owner(); if (box) box.addEventListener("click", onClick); grab(); }, 0);
  // Run All and a restart move JupyterLab's focus to the notebook after the output is drawn: take it back
  // (grab never takes it from a cell editor or a text box the user is typing in)
  for (const delay of [400, 1200, 2500]) setTimeout(grab, delay);
  el.appendChild(strip);
  paint();
  return () => { const box = owner(); if (box) box.removeEventListener("click", onClick); };
}
export default { render };
""" % (list(KEYS),)

_CSS = """
.alsafe-keystrip { display: inline-block; min-width: 16em; padding: 4px 10px; border: 2px dashed #999;
  border-radius: 6px; color: #666; font-size: 13px; cursor: pointer; outline: none; user-select: none; }
.alsafe-keystrip-active { border: 2px solid #0072B2; color: #0072B2; background: #eef6fb; }
"""


class KeyStrip(anywidget.AnyWidget):
    """A strip that calls ``on_key(name)`` for every shortcut key pressed while it has the focus
    (``"1"``..``"9"``, ``"Enter"``, ``"Backspace"``, ``"s"``)."""

    _esm = _ESM
    _css = _CSS
    focus_requests = traitlets.Int(0).tag(sync=True)
    idle_text = traitlets.Unicode("⌨ click here for keyboard shortcuts").tag(sync=True)
    active_text = traitlets.Unicode("⌨ keys on: 1-9 pick · Enter save · Backspace undo · s skip").tag(sync=True)

    def __init__(self, on_key: Callable[[str], None], **kwargs):
        super().__init__(**kwargs)
        self.on_key = on_key
        self.on_msg(self._on_message)

    def focus(self) -> None:
        """Ask the browser to give the strip the focus (unless the user is typing in a cell or a text box)."""
        self.focus_requests += 1

    def _on_message(self, widget, content, buffers) -> None:
        key = content.get("key") if isinstance(content, dict) else None
        if key in KEYS:
            self.on_key(key)
