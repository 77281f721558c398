"""Keys act only on what is on screen, a pick can be cancelled, notes stay with their item (issue 19)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from alsafe.store import RunStore
from alsafe.ui.keys import BUSY_NOTE, KeyStrip
from tests.ui.test_widget import _active


def _send(view, key, item):
    """What the browser's key strip sends for ``key`` pressed while ``item`` was on screen."""
    view.hotkeys._handle_custom_msg({"key": key, "item": item}, [])


def _notes(path):
    with RunStore.open(path) as store:
        rows = store.labels()
    return {item: (None if note != note else note) for item, note in zip(rows["item_id"], rows["note"])}


def test_the_strip_names_the_item_on_screen(widget):
    assert widget.hotkeys.item == "p0"
    widget.label("discard")
    assert widget.hotkeys.item == "p1"
    widget.skip()
    assert widget.hotkeys.item == "p2"
    widget.undo()
    assert widget.hotkeys.item == "p0"
    for _ in range(5):
        widget.label("discard")
    assert widget.current is None and widget.hotkeys.item == ""


def test_keys_read_late_for_an_item_no_longer_shown_write_nothing(widget, path):
    _send(widget, "1", "p0")
    _send(widget, "Enter", "p0")
    assert _active(path) == [("p0", "self-harm", "ann")] and widget.current["item_id"] == "p1"
    # pressed while p0 was still drawn, read after the label moved on: they must not label p1
    _send(widget, "2", "p0")
    _send(widget, "Enter", "p0")
    _send(widget, "Backspace", "p0")
    assert _active(path) == [("p0", "self-harm", "ann")] and widget.current["item_id"] == "p1"
    assert widget.buttons["medical-advice"].layout.border == ""
    assert "A key pressed on another item was ignored (nothing was saved): “text 1” is on screen now." \
        in widget.status.value
    assert widget.hotkeys.acknowledged == 5  # every message answered, refused or not


def test_a_key_message_naming_no_item_is_refused(widget, path):
    widget.hotkeys._handle_custom_msg({"key": "1"}, [])  # an old page's strip sends no item
    widget.hotkeys._handle_custom_msg({"key": "Enter"}, [])
    assert _active(path) == [] and "A key pressed on another item was ignored" in widget.status.value
    assert widget.hotkeys.acknowledged == 2


def test_keys_after_the_round_is_done_name_no_item_and_still_undo(widget, path):
    for _ in range(5):
        widget.label("discard")
    _send(widget, "Backspace", "p4")  # pressed while p4 was shown: refused
    assert len(_active(path)) == 5 and "round 1 is done" in widget.status.value
    _send(widget, "Backspace", "")  # pressed on the done screen
    assert len(_active(path)) == 4 and widget.current["item_id"] == "p4"


def test_escape_and_backspace_cancel_a_pick_without_undoing_a_saved_label(widget, path):
    widget.label("discard")
    _send(widget, "2", "p1")
    assert widget.buttons["medical-advice"].layout.border == "3px solid #222" and not widget.undo_button.disabled
    _send(widget, "Escape", "p1")
    assert widget.buttons["medical-advice"].layout.border == ""
    assert "Medical-Advice unpicked: nothing was saved" in widget.status.value
    _send(widget, "2", "p1")
    _send(widget, "Backspace", "p1")  # the pick goes, p0's saved label stays
    assert _active(path) == [("p0", "discard", "ann")] and widget.current["item_id"] == "p1"
    assert "unpicked" in widget.status.value
    _send(widget, "Enter", "p1")
    assert "No label picked yet" in widget.status.value and _active(path) == [("p0", "discard", "ann")]
    _send(widget, "Escape", "p1")
    assert "No label is picked, so there is nothing to cancel." in widget.status.value
    _send(widget, "Backspace", "p1")  # no pick: the undo
    assert _active(path) == [] and widget.current["item_id"] == "p0" and "Undid Not-Harmful" in widget.status.value


def test_the_undo_button_also_cancels_a_pick_first(widget, path):
    widget.label("discard")
    widget.select("self-harm")
    widget.undo_button.click()
    assert _active(path) == [("p0", "discard", "ann")] and widget.current["item_id"] == "p1"
    widget.undo_button.click()
    assert _active(path) == [] and widget.current["item_id"] == "p0"


def test_a_note_stays_with_its_item_through_a_skip(widget, path):
    widget.note.value = "sarcasm?"
    _send(widget, "s", "p0")
    assert widget.current["item_id"] == "p1" and widget.note.value == ""  # p1 has no note
    widget.note.value = "about p1"
    widget.label("discard")
    assert widget.note.value == ""
    for _ in range(3):
        widget.label("discard")
    assert widget.current["item_id"] == "p0" and widget.note.value == "sarcasm?"  # back with its item
    widget.label("self-harm")
    assert _notes(path) == {"p1": "about p1", "p2": None, "p3": None, "p4": None, "p0": "sarcasm?"}
    widget.undo()  # the undone label's note comes back with the item, for its next label
    assert widget.current["item_id"] == "p0" and widget.note.value == "sarcasm?"


def test_enter_in_the_note_box_saves_and_gives_the_keys_back(widget, path):
    _send(widget, "3", "p0")
    widget.note.value = "a lawyer?"
    before = widget.hotkeys.reclaim_requests
    widget.note._handle_custom_msg({"event": "submit"}, [])
    assert _notes(path) == {"p0": "a lawyer?"} and widget.current["item_id"] == "p1"
    assert widget.hotkeys.reclaim_requests == before + 1  # taken from the note box, unlike a plain request
    _send(widget, "1", "p1")  # the next number key picks
    assert widget.buttons["self-harm"].layout.border == "3px solid #222" and widget.note.value == ""


# -- the strip's own JavaScript, run in node against a stand-in page ----------------------------------

_HARNESS = """
import strip from "./strip.mjs";
let clock = 0;
Object.defineProperty(globalThis, "performance", { value: { now: () => clock }, configurable: true });
globalThis.setTimeout = () => 0;
class Element {
  constructor() { this.listeners = {}; this.children = []; this.isConnected = true; this.textContent = "";
                  this.classes = new Set();
                  this.classList = { toggle: (name, on) => on ? this.classes.add(name) : this.classes.delete(name) }; }
  addEventListener(type, f) { (this.listeners[type] ||= []).push(f); }
  removeEventListener() {}
  setAttribute() {}
  appendChild(child) { this.children.push(child); }
  closest() { return null; }
  contains() { return false; }
  focus() { globalThis.document.activeElement = this; }
}
globalThis.document = { createElement: () => new Element(), activeElement: null };
const values = { item: "p0", acknowledged: 0, active_text: "keys on", idle_text: "click here",
                 focus_requests: 0, reclaim_requests: 0 };
const handlers = {}, sent = [], seen = {};
const model = { get: (k) => values[k], send: (m) => sent.push(m), on: (e, f) => (handlers[e] ||= []).push(f) };
const set = (k, v) => { values[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); };
const el = new Element();
strip.render({ model, el });
const box = el.children[0];
const press = (key) => box.listeners.keydown.forEach((f) => f({ key, ctrlKey: false, metaKey: false,
  altKey: false, repeat: false, preventDefault() {}, stopPropagation() {} }));
box.focus();
press("1"); clock = 300; press("Enter");   // sent at once; the kernel is busy and answers neither
clock = 1400; press("2");                  // the oldest has waited 1.4 s: dropped, not queued
press("Enter");
const shown = () => box.children[box.classes.has("alsafe-keystrip-active") ? 1 : 0].textContent;
seen.busy = shown();
set("acknowledged", 2); set("item", "p1"); // the kernel reads the two, and shows p1
seen.after = shown();
clock = 1500; press("3");
press("x");                                // not a shortcut: never sent
console.log(JSON.stringify({ sent, seen }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_strip_sends_the_item_and_drops_keys_while_the_kernel_is_busy(tmp_path):
    (tmp_path / "strip.mjs").write_text(KeyStrip._esm, encoding="utf-8")
    (tmp_path / "harness.mjs").write_text(_HARNESS, encoding="utf-8")
    run = subprocess.run(["node", "harness.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["sent"] == [{"key": "1", "item": "p0"}, {"key": "Enter", "item": "p0"},
                              {"key": "3", "item": "p1"}]
    assert result["seen"]["busy"] == f"keys on · {BUSY_NOTE}" and result["seen"]["after"] == "keys on"


def test_on_change_runs_after_every_click_or_key_that_wrote_and_only_then(path):
    from alsafe.ui.widget import LabelingWidget

    calls = []
    with LabelingWidget(path, annotator="ann", on_change=lambda: calls.append(1)) as view:
        _send(view, "2", view.hotkeys.item)      # a pick: nothing written
        _send(view, "s", view.hotkeys.item)      # a skip: nothing written
        assert calls == []
        _send(view, "2", view.hotkeys.item)
        _send(view, "Enter", view.hotkeys.item)  # saved
        assert calls == [1]
        _send(view, "Backspace", view.hotkeys.item)  # undone
        assert calls == [1, 1]
        _send(view, "Enter", view.hotkeys.item)  # refused (nothing picked): no write, no call
        assert calls == [1, 1]
