"""The labeling widget driven through its own callbacks (no browser), and the annotator agreement report."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from alsafe.agreement import agreement_report, cohen_kappa
from alsafe.ui.keybox import SENTINELS, keystrokes
from alsafe.store import RunStore, StoreError
from alsafe.ui.widget import LabelingWidget
from alsafe.paper.reference import PAPER_TAXONOMY

ITEMS = [f"p{i}" for i in range(5)]


def _variation(seed, index, text, label="self-harm"):
    return {"seed_id": seed, "sample_index": index, "text": text, "label": label, "relation": "paraphrase",
            "backend": "replay", "model": "test", "prompt_hash": "h", "status": "accepted"}


@pytest.fixture
def path(tmp_path):
    """A store with six pool items, five of them selected in round 1, and two variations of p0."""
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, PAPER_TAXONOMY) as store:
        store.add_items(pd.DataFrame({"id": [f"p{i}" for i in range(6)], "text": [f"text {i}" for i in range(6)]}),
                        role="pool")
        store.start_round(1, "cluster", pd.DataFrame({
            "item_id": ITEMS, "cluster": [0, 1, 2, 3, 4], "score": [0.9, 0.8, 0.7, 0.6, 0.5],
            "predicted_label": ["discard", "self-harm", "discard", "legal-advice", "discard"]}))
        store.add_variations([_variation("p0", 0, "I want it all to stop"), _variation("p0", 1, "can't go on")])
    return path


@pytest.fixture
def widget(path):
    view = LabelingWidget(path, annotator="ann")
    yield view
    view.close()


def _press(view, key):
    """What the browser sends when ``key`` is typed at the end of the key box's text."""
    text = view.hotkeys.value
    view.hotkeys.value = text[:-1] if key == "Backspace" else text + ("\n" if key == "Enter" else key)


def _active(path):
    with RunStore.open(path) as store:
        rows = store.labels()
    return list(zip(rows["item_id"], rows["label"], rows["annotator"]))


def test_first_item_text_and_progress(widget):
    assert widget.current["item_id"] == "p0"
    assert "text 0" in widget.item.value and "uncertainty <b>0.90</b>" in widget.item.value
    assert "cluster <b>0</b>" in widget.item.value and "Not-Harmful" in widget.item.value
    assert widget.progress["done"] == 0 and widget.progress["total"] == 5
    assert "0 / 5 labeled by ann" in widget.header.value
    assert [b.description for b in widget.buttons.values()][:2] == ["1 · Self-Harm", "2 · Medical-Advice"]
    assert widget.buttons["self-harm"].style.button_color == "#D55E00"


def test_click_commits_at_once_and_advances(widget, path):
    widget.buttons["medical-advice"].click()
    assert _active(path) == [("p0", "medical-advice", "ann")]  # read through a second connection
    with RunStore.open(path) as store:
        assert store.labels()["round"].tolist() == [1]
    assert widget.current["item_id"] == "p1"
    assert widget.bar.value == 1 and "1 / 5 labeled" in widget.header.value


def test_keys_pick_then_enter_saves(widget, path):
    _press(widget, "3")
    assert widget.buttons["legal-advice"].layout.border == "3px solid #222"
    assert _active(path) == [] and widget.hotkeys.value in SENTINELS
    _press(widget, "Enter")
    assert _active(path) == [("p0", "legal-advice", "ann")]
    assert widget.current["item_id"] == "p1" and widget.hotkeys.value in SENTINELS
    assert widget.buttons["legal-advice"].layout.border == ""


def test_enter_without_a_pick_and_unknown_keys_write_nothing(widget, path):
    _press(widget, "Enter")
    assert "No label picked yet; press a number key 1-6" in widget.status.value
    _press(widget, "9")
    assert "The key '9' does nothing here" in widget.status.value
    assert _active(path) == [] and widget.current["item_id"] == "p0"


def test_undo_goes_back_across_items(widget, path):
    for key in "123":
        _press(widget, key)
        _press(widget, "Enter")
    assert widget.current["item_id"] == "p3"
    _press(widget, "Backspace")
    assert widget.current["item_id"] == "p2"
    widget.undo_button.click()
    assert widget.current["item_id"] == "p1"
    assert _active(path) == [("p0", "self-harm", "ann")]
    with RunStore.open(path) as store:
        retracted = store.labels(include_retracted=True).dropna(subset=["retracted_at"])
    assert retracted["item_id"].tolist() == ["p1", "p2"]
    widget.buttons["discard"].click()
    assert widget.current["item_id"] == "p2"
    assert _active(path) == [("p0", "self-harm", "ann"), ("p1", "discard", "ann")]


def test_undo_with_nothing_to_undo_says_so(widget):
    _press(widget, "Backspace")
    assert "'ann' has no label in round 1 left to undo" in widget.status.value
    assert widget.undo_button.disabled


def test_skip_moves_item_to_the_end(widget):
    _press(widget, "s")
    assert widget.current["item_id"] == "p1"
    order = []
    while widget.current is not None:
        order.append(widget.current["item_id"])
        widget.label("discard")
    assert order == ["p1", "p2", "p3", "p4", "p0"]
    assert "Round 1 is done" in widget.item.value
    assert all(button.disabled for button in widget.buttons.values())


def test_note_is_saved_with_the_label_and_cleared(widget, path):
    widget.note.value = "  sarcasm?  "
    widget.buttons["discard"].click()
    widget.buttons["discard"].click()
    with RunStore.open(path) as store:
        notes = store.labels()["note"]
    assert notes[0] == "sarcasm?" and pd.isna(notes[1])
    assert widget.note.value == ""


def test_variations_appear_after_a_label_and_reviews_are_recorded(widget, path):
    assert widget.reviews.children == ()
    widget.buttons["self-harm"].click()
    assert widget.wait(5)  # the review rows are built on the worker thread
    assert len(widget.reviews.children) == 2 and "Variations to review (2)" in widget.reviews_title.value
    first, second = sorted(widget._reviews)
    reject = widget._review_rows[second].children[3]
    reject.click()
    assert f"Rejecting variation {second} needs a reason" in widget.status.value
    widget._review_rows[second].children[1].value = "changes the label"
    reject.click()
    widget._review_rows[first].children[2].click()
    with RunStore.open(path) as store:
        table = store.variations(seed_id="p0").set_index("id")
    assert table.loc[first, ["status", "reviewed_by"]].tolist() == ["accepted", "ann"]
    assert table.loc[second, ["status", "reason", "reviewed_by"]].tolist() == ["rejected", "changes the label", "ann"]
    assert widget.reviews.children == () and widget.reviews_title.value == ""


def test_resume_on_the_same_store_continues_and_can_undo(path):
    first = LabelingWidget(path, annotator="ann")
    first.label("self-harm")
    first.label("discard", note="old")
    first.close()  # a closed tab or restarted kernel
    again = LabelingWidget(RunStore.open(path), annotator="ann")
    assert again.current["item_id"] == "p2"
    assert again.progress["done"] == 2 and again.reviews.children != ()  # p0's variations still to review
    assert again.undo() == "p1" and again.current["item_id"] == "p1"
    again.close()


def test_per_class_counts(widget):
    for label in ["discard", "self-harm", "discard"]:
        widget.label(label)
    counts = widget.progress["per_class"]
    assert counts["discard"] == 2 and counts["self-harm"] == 1 and sum(counts.values()) == 3
    assert "Not-Harmful 2" in widget.header.value and "Self-Harm 1" in widget.header.value
    widget.undo()
    assert widget.progress["per_class"]["discard"] == 1


def test_second_annotator_sees_every_item(path):
    with LabelingWidget(path, annotator="ann") as first:
        first.label("discard")
    with LabelingWidget(path, annotator="bob") as second:
        assert second.current["item_id"] == "p0" and second.progress["done"] == 0


def test_callbacks_run_off_the_ui_thread(path):
    release, calls = threading.Event(), []

    def generate(item_id, label):
        release.wait(5)
        calls.append((item_id, label, threading.current_thread().name))
        with RunStore.open(path) as store:  # the callback's own connection
            store.add_variations([_variation(item_id, 0, f"variation of {item_id}", label)])

    view = LabelingWidget(path, annotator="ann", on_labeled=generate, on_round_complete=lambda r: calls.append(r))
    for label in ["self-harm", "discard", "discard", "discard"]:
        view.label(label)
    assert calls == [] and view.current["item_id"] == "p4"  # labeling went on while generation waited
    assert "Running on_labeled for p3" in view.status.value
    view.label("legal-advice")
    release.set()
    assert view.wait(10)
    assert [c[:2] for c in calls[:5]] == list(zip(ITEMS, ["self-harm", "discard", "discard", "discard", "legal-advice"]))
    assert calls[5] == 1 and len(calls) == 6
    assert all(c[2].startswith("alsafe-widget") for c in calls[:5])
    assert any("variation of p4" in row.children[0].value for row in view.reviews.children)
    view.close()


def test_a_failing_callback_shows_in_the_status_line(path):
    def broken(item_id, label):
        raise RuntimeError("backend down")

    view = LabelingWidget(path, annotator="ann", on_labeled=broken)
    view.label("discard")
    assert view.wait(5)
    assert "on_labeled for p0 failed: RuntimeError: backend down" in view.status.value
    assert [d for d, _ in view.errors_] == ["on_labeled for p0"] and view.current["item_id"] == "p1"
    view.close()


def test_user_errors_are_one_clear_sentence(path, tmp_path):
    with pytest.raises(ValueError, match="annotator must be a non-empty name"):
        LabelingWidget(path, annotator=" ")
    with pytest.raises(StoreError, match="Round 7 is not in .*; its rounds are 1"):
        LabelingWidget(path, annotator="ann", round=7)
    RunStore.create(tmp_path / "empty.sqlite", PAPER_TAXONOMY).close()
    with pytest.raises(StoreError, match="has no rounds yet"):
        LabelingWidget(tmp_path / "empty.sqlite", annotator="ann")
    with LabelingWidget(path, annotator="ann") as view:
        with pytest.raises(StoreError, match="Unknown label 'cats'"):
            view.label("cats")


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c", "d"]
    first = rng.choice(classes, size=200, p=[0.5, 0.3, 0.15, 0.05])
    second = np.where(rng.random(200) < 0.7, first, rng.choice(classes, size=200))
    assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second))
    assert cohen_kappa(first, second, labels=["a", "b"]) == pytest.approx(
        cohen_kappa_score(first, second, labels=["a", "b"]))


def test_cohen_kappa_edge_cases():
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert np.isnan(cohen_kappa(["a", "a"], ["a", "a"]))
    with pytest.raises(ValueError, match="differ in length \\(2 vs 1\\)"):
        cohen_kappa(["a", "b"], ["a"])


def test_agreement_report_on_shared_items(path):
    with LabelingWidget(path, annotator="ann") as first:
        for label in ["self-harm", "discard", "legal-advice", "discard"]:
            first.label(label)
    with LabelingWidget(path, annotator="bob") as second:
        for label in ["self-harm", "discard", "discard"]:
            second.label(label)
    with RunStore.open(path) as store:
        report = agreement_report(store, "ann", "bob")
        with pytest.raises(StoreError, match="no labels by 'eve'"):
            agreement_report(store, "ann", "eve")
    assert report["n_shared"] == 3 and report["observed_agreement"] == pytest.approx(2 / 3)
    expected = cohen_kappa_score(["self-harm", "discard", "legal-advice"], ["self-harm", "discard", "discard"])
    assert report["kappa"] == pytest.approx(expected) and report["kappa_percent"] == pytest.approx(100 * expected)
    assert report["confusion"].loc["legal-advice", "discard"] == 1 and report["confusion"].to_numpy().sum() == 3


def test_keystrokes_reads_the_edit_between_two_texts():
    assert keystrokes("››", "››1") == ["1"]
    assert keystrokes("››", "››1\n2") == ["1", "Enter", "2"]
    assert keystrokes("››", "›") == ["Backspace"]
    assert keystrokes("››1", "") == ["Backspace"] * 3
    assert keystrokes("››", "1››") == ["1"]  # typed with the cursor at the start
    assert keystrokes("››", "››") == []


def test_keys_typed_ahead_of_the_reset_are_read_once(widget, path):
    old = widget.hotkeys.value  # the text the browser shows
    widget.hotkeys.value = old + "1"  # the kernel resets the box; the reset is still on its way
    reset = widget.hotkeys.value
    assert reset != old and reset in SENTINELS
    widget.hotkeys.value = old + "1\n"  # typed before the reset arrived
    widget.hotkeys.value = old + "1\n2"
    assert _active(path) == [("p0", "self-harm", "ann")] and widget._selected == "medical-advice"
    widget.hotkeys.value = reset + "\n"  # the reset arrived, then Enter
    assert _active(path) == [("p0", "self-harm", "ann"), ("p1", "medical-advice", "ann")]
    shown = widget.hotkeys.value
    widget.hotkeys.value = shown[:-1]  # Backspace on the new text: one undo
    widget.hotkeys.value = ""  # a second Backspace before the next reset arrived: one more undo
    assert _active(path) == [] and widget.current["item_id"] == "p0"
