"""The labeling widget driven through its own callbacks (no browser), and the annotator agreement report."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from alsafe.agreement import agreement_report, cohen_kappa
from alsafe.store import RunStore, StoreError
from alsafe.ui.widget import LabelingWidget
from alsafe.paper.reference import PAPER_TAXONOMY
from tests.ui.conftest import ITEMS, variation

def _press(view, key):
    """What the browser's key strip sends when ``key`` is pressed on it (a custom message naming the item shown)."""
    view.hotkeys._handle_custom_msg({"key": key, "item": view.hotkeys.item}, [])


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
    assert _active(path) == []
    _press(widget, "Enter")
    assert _active(path) == [("p0", "legal-advice", "ann")]
    assert widget.current["item_id"] == "p1"
    assert widget.buttons["legal-advice"].layout.border == ""


def test_enter_without_a_pick_and_unknown_keys_write_nothing(widget, path):
    _press(widget, "Enter")
    assert "No label picked yet; press a number key 1-6" in widget.status.value
    _press(widget, "9")
    assert "The key '9' does nothing here" in widget.status.value
    _press(widget, "x")  # not a shortcut: the strip never sends it, and a forged one is ignored
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
    first, second = sorted(widget.review_list.waiting)
    reason, accept, reject = widget.review_list.rows[second].children[1].children
    assert "passed the filters" in widget.review_list.rows[second].children[0].value
    reject.click()
    assert f"Rejecting variation {second} needs a reason" in widget.status.value
    reason.value = "changes the label"
    reject.click()
    widget.review_list.rows[first].children[1].children[1].click()
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
            store.add_variations([variation(item_id, 0, f"variation of {item_id}", label)])

    view = LabelingWidget(path, annotator="ann", on_labeled=generate, on_round_complete=lambda r: calls.append(r))
    for label in ["self-harm", "discard", "discard", "discard"]:
        view.label(label)
    assert calls == [] and view.current["item_id"] == "p4"  # labeling went on while generation waited
    assert "Working: writing variations of “text 0”… (then 3 more)" in view.activity.value
    assert "Saved Not-Harmful for “text 3”." in view.status.value
    view.label("legal-advice")
    release.set()
    assert view.wait(10)
    assert "Nothing running in the background" in view.activity.value
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
    assert "Writing variations of “text 0” failed: backend down" in view.activity.value
    assert [d for d, _ in view.errors_] == ["writing variations of “text 0”"] and view.current["item_id"] == "p1"
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




# -- data right: undo, carried-over reviews, verdicts in words ------------------------------------

def test_an_undo_withdraws_the_undone_labels_variations_everywhere(widget, path):
    from alsafe import export

    widget.label("self-harm")  # p0's two stored variations are self-harm: they count now
    assert widget.wait(5) and len(widget.pending_reviews) == 2
    widget.undo()
    assert widget.pending_reviews == [] and widget.reviews.children == ()
    with RunStore.open(path) as store:
        assert (store.training_set()["origin"] == "llm").sum() == 0
        # a generation still under way for the undone label writes after the undo: it never counts
        store.add_variations([variation("p0", 2, "late variation of the undone label")])
        assert not store.variations(seed_id="p0")["current"].any()
    widget.label("discard")
    with RunStore.open(path) as store:
        store.add_variations([variation("p0", 0, "a not-harmful rewrite", label="discard")])
    widget._submit("refresh", None, (), refresh="p0")
    assert widget.wait(5)
    assert [widget.review_list.waiting[v]["text"] for v in widget.pending_reviews] == ["a not-harmful rewrite"]
    with RunStore.open(path) as store:
        table = export.labeled_dataset(store)
        variations = store.variations(seed_id="p0")
    assert table.loc[table["origin"] == "llm", ["text", "label"]].values.tolist() == [
        ["a not-harmful rewrite", "discard"]]
    assert variations.set_index("text")["current"].to_dict() == {
        "I want it all to stop": False, "can't go on": False, "late variation of the undone label": False,
        "a not-harmful rewrite": True}
    widget.undo()
    widget.label("self-harm")  # the first label back: its variations count again
    with RunStore.open(path) as store:
        assert set(store.variations(seed_id="p0", current_only=True)["label"]) == {"self-harm"}


def test_pending_reviews_carry_over_to_the_next_round_until_reviewed(path):
    with LabelingWidget(path, annotator="ann") as first:
        for label in ["self-harm", "discard", "discard", "discard", "discard"]:
            first.label(label)
        assert first.wait(5) and len(first.pending_reviews) == 2
    with RunStore.open(path) as store:
        store.add_variations([variation("p1", 0, "too short", label="discard", status="rejected",
                                         reason="too short: 9 characters")])
        store.start_round(2, "cluster", pd.DataFrame({"item_id": ["p5"], "cluster": [0], "score": [0.4],
                                                      "predicted_label": ["discard"]}))
    with LabelingWidget(path, annotator="ann") as second:
        assert second.round == 2 and len(second.pending_reviews) == 3  # round 1's, still waiting
        assert "Variations to review (3)" in second.reviews_title.value
        assert second.accept_rest_button.description == "Accept the rest (2)"
        assert second.accept_rest() == 2  # only what the filters passed; the rejected one waits for a person
        assert [second.review_list.waiting[v]["text"] for v in second.pending_reviews] == ["too short"]
    with RunStore.open(path) as store:
        reviewed = store.variations().dropna(subset=["reviewed_by"])
    assert sorted(reviewed["text"]) == ["I want it all to stop", "can't go on"]


def test_review_rows_say_the_filters_verdict_in_words_after_a_restart(path):
    with RunStore.open(path) as store:
        store.add_variations([variation("p0", 2, "Is this medical?", status="rejected",
                                         reason="label gate: reads as medical-advice (p = 0.91)")])
    with LabelingWidget(path, annotator="ann") as view:
        view.label("self-harm")
    with LabelingWidget(path, annotator="ann") as again:  # a restarted kernel
        facts = [row.children[0].value for row in again.reviews.children]
    assert len(facts) == 3 and not any("nan" in f for f in facts)
    assert sum("passed the filters" in f for f in facts) == 2
    assert any("rejected by the filters (label gate: reads as medical-advice (p = 0.91))" in f for f in facts)
    assert all("variation of “text 0” (round 1)" in f for f in facts)


def test_the_key_strip_takes_the_focus_on_request_and_enter_in_the_note_saves(widget, path):
    before = widget.hotkeys.focus_requests
    widget.focus()
    assert widget.hotkeys.focus_requests == before + 1
    widget.buttons["discard"].click()  # a click gives the keys back
    assert widget.hotkeys.focus_requests == before + 2
    _press(widget, "2")
    widget.note.value = "asks about a doctor"
    widget.note._handle_custom_msg({"event": "submit"}, [])  # Enter in the note box
    with RunStore.open(path) as store:
        labels = store.labels()
    assert labels[["item_id", "label", "note"]].values.tolist()[-1] == ["p1", "medical-advice", "asks about a doctor"]
