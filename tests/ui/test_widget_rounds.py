"""Every label survives the round change and lands on its item; what fails is said until resolved (issue 19)."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from alsafe.loop import LoopStatus
from alsafe.oracles import QueueOracle
from alsafe.store import RunStore
from alsafe.ui import session as session_module
from alsafe.ui.reviews import MAX_REVIEW_ROWS
from alsafe.ui.session import LabelingSession
from alsafe.ui.widget import LabelingWidget
from tests.ui.conftest import ITEMS, variation

LABELS = ["self-harm", "discard", "discard", "discard", "legal-advice"]  # the last one is the wrong one


def _next_round(path, items=("p5",)):
    with RunStore.open(path) as store:
        store.start_round(2, "cluster", pd.DataFrame({"item_id": list(items), "cluster": [0] * len(items)}))


def _raises(error):
    """A stand-in for a store method or callback that fails with ``error``."""
    def fail(*args, **kwargs):
        raise error
    return fail


def _label_round_one(path, **callbacks):
    view = LabelingWidget(path, annotator="ann", **callbacks)
    for label in LABELS:
        view.label(label)
    assert view.wait(10)
    return view


# -- undo across the round change ----------------------------------------------------------------------

def test_the_next_rounds_widget_undoes_the_last_label_of_the_round_before(path):
    with RunStore.open(path) as store:
        store.add_variations([variation("p4", 0, "a legal rewrite", label="legal-advice")])
    _label_round_one(path).close()
    _next_round(path)
    with LabelingWidget(path, annotator="ann") as second:
        assert second.round == 2 and second.current["item_id"] == "p5" and not second.undo_button.disabled
        second.hotkeys._handle_custom_msg({"key": "Backspace", "item": "p5"}, [])
        assert second.current["item_id"] == "p4" and second.current["round"] == 1
        assert "Undid Legal-Advice for “text 4” from round 1: its variations are withdrawn and the next training " \
               "goes without it. Label it again (it stays in round 1)." in second.status.value
        assert "from round 1</b>, its label undone" in second.item.value and second.hotkeys.item == "p4"
        with RunStore.open(path) as store:
            training = store.training_set()
            variations = store.variations(seed_id="p4")
        assert "p4" not in set(training["seed_id"])  # what the next training reads: neither label nor variation
        assert (training["origin"] == "human").sum() == 4
        assert variations["text"].tolist() == ["a legal rewrite"] and not variations["current"].any()
        assert second.progress["done"] == 0 and second.progress["total"] == 1  # round 2's own count
        second.label("discard")
        assert second.current["item_id"] == "p5" and "0 / 1 labeled" in second.header.value
    with RunStore.open(path) as store:
        labels = store.labels(include_retracted=True)
        current = store.labels().set_index("item_id")
    assert current.loc["p4", ["label", "round"]].tolist() == ["discard", 1]  # its own round, not round 2
    assert labels.loc[labels["retracted_at"].notna(), "label"].tolist() == ["legal-advice"]


def test_undo_goes_on_from_this_round_into_the_previous_one_most_recent_first(path):
    _label_round_one(path).close()
    _next_round(path, ["p5"])
    with LabelingWidget(path, annotator="ann") as second:
        second.label("discard")  # p5
        assert [second.undo() for _ in range(3)] == ["p5", "p4", "p3"]
        assert second.current["item_id"] == "p3"
        second.close()
    with LabelingWidget(path, annotator="ann") as again:  # a restart: the undone items of round 1 come first
        order = []
        while again.current is not None:
            order.append((again.current["item_id"], again.current["round"]))
            again.label("discard")
    assert order == [("p3", 1), ("p4", 1), ("p5", 2)]
    with RunStore.open(path) as store:
        assert store.labels().set_index("item_id")["round"].to_dict() == {
            "p0": 1, "p1": 1, "p2": 1, "p3": 1, "p4": 1, "p5": 2}


def test_undo_reaches_only_the_previous_round(path):
    _label_round_one(path).close()
    _next_round(path, ["p5"])
    with LabelingWidget(path, annotator="ann") as second:
        second.label("discard")
    with RunStore.open(path) as store:
        store.add_items(pd.DataFrame({"id": ["p6"], "text": ["text 6"]}), role="pool")
        store.start_round(3, "cluster", pd.DataFrame({"item_id": ["p6"]}))
    with LabelingWidget(path, annotator="ann") as third:
        assert third.undo() == "p5"  # round 2's, from round 3
        third.label("discard")
        third.label("discard")
        assert [third.undo(), third.undo()] == ["p6", "p5"]
        third.hotkeys._handle_custom_msg({"key": "Backspace", "item": "p5"}, [])  # round 1's are out of reach
        assert "'ann' has no label in rounds 2 and 3 left to undo." in third.status.value


# -- failures stay until resolved, across the round change ------------------------------------------

def test_a_generation_failure_stays_until_its_item_is_undone_even_after_the_round_change(path):
    def generate(item_id, label):
        if item_id == "p4":
            raise RuntimeError("backend down")

    first = _label_round_one(path, on_labeled=generate)
    said = "Writing variations of “text 4” failed: backend down. The label is saved, its variations are not."
    assert said in first.activity.value and list(first.failures) == [("item", "p4")]
    _next_round(path)
    second = LabelingWidget(path, annotator="ann", on_labeled=generate, failures=first.failures)
    first.close()
    assert said in second.activity.value  # carried over: nothing resolved it
    second.label("discard")  # another item's label does not resolve it
    assert second.wait(5) and said in second.activity.value
    second.undo()
    assert said in second.activity.value
    second.undo()  # p4's label undone: the failure is moot
    assert said not in second.activity.value and second.failures == {}
    second.close()


def test_a_carried_failure_goes_once_the_items_variations_exist(path):
    first = _label_round_one(path, on_labeled=_raises(RuntimeError("down")))
    assert len(first.failures) == 5
    with RunStore.open(path) as store:  # the round's own generation step made p4's variations since
        store.add_variations([variation("p4", 0, "a legal rewrite", label="legal-advice")])
    _next_round(path)
    with LabelingWidget(path, annotator="ann", failures=first.failures) as second:
        # p0 had its variations from the start, p4 has them now: both resolved
        assert list(second.failures) == [("item", "p1"), ("item", "p2"), ("item", "p3")]
        assert "Writing variations of “text 4”" not in second.activity.value
        assert "Writing variations of “text 1” failed: down." in second.activity.value
    first.close()


def test_a_failure_is_resolved_when_relabeling_generates_the_variations(widget):
    calls = []

    def generate(item_id, label):
        calls.append(item_id)
        if len(calls) == 1:
            raise RuntimeError("backend down")

    widget.on_labeled = generate
    widget.label("discard")
    assert widget.wait(5) and "failed: backend down" in widget.activity.value
    widget.undo()
    widget.label("self-harm")
    assert widget.wait(5) and "failed" not in widget.activity.value and calls == ["p0", "p0"]


# -- store errors are said, never swallowed ---------------------------------------------------------

def test_a_store_error_saving_a_label_is_said_and_nothing_moves(widget, path, monkeypatch):
    monkeypatch.setattr(widget.store, "add_label", _raises(sqlite3.OperationalError("disk I/O error")))
    widget.hotkeys._handle_custom_msg({"key": "1", "item": "p0"}, [])
    widget.hotkeys._handle_custom_msg({"key": "Enter", "item": "p0"}, [])
    assert (f"Saving the label failed (disk I/O error): it was not saved; labels shown as saved before are in "
            f"{path}.") in widget.status.value
    assert "color:#b00020" in widget.status.value
    assert widget.current["item_id"] == "p0" and widget.progress["done"] == 0
    assert [name for name, _ in widget.errors_] == ["confirm"]
    monkeypatch.undo()
    widget.hotkeys._handle_custom_msg({"key": "Enter", "item": "p0"}, [])  # the pick is still there: retry
    assert widget.current["item_id"] == "p1" and "Saved Self-Harm" in widget.status.value


def test_a_store_error_undoing_keeps_the_label_undoable(widget, path, monkeypatch):
    widget.label("discard")
    monkeypatch.setattr(widget.store, "retract_label", _raises(sqlite3.OperationalError("database is locked")))
    widget.undo_button.click()
    assert "Undoing the label failed (database is locked): it still counts" in widget.status.value
    assert widget.current["item_id"] == "p1"
    monkeypatch.undo()
    widget.undo_button.click()
    assert widget.current["item_id"] == "p0"
    with RunStore.open(path) as store:
        assert store.labels().empty


def test_a_store_error_on_the_worker_names_what_failed_and_what_is_safe(path):
    view = LabelingWidget(path, annotator="ann", on_labeled=_raises(sqlite3.OperationalError("disk I/O error")),
                          on_round_complete=_raises(OSError(28, "No space left on device")))
    for label in LABELS:
        view.label(label)
    assert view.wait(10)
    assert (f"Writing variations of “text 0” failed (disk I/O error): the label is saved, its variations are not; "
            f"labels shown as saved before are in {path}.") in view.activity.value
    assert ("Training the learner on round 1 and picking the next items failed ([Errno 28] No space left on "
            "device): every label of round 1 is saved; run the labeling cell again to go on from there")\
        in view.activity.value
    view.close()


# -- the session: the round change carries failures, and a failed next round is said ------------------

class _ScriptedLoop:
    """Stands in for ActiveLearningLoop: fixed rounds, labeled by people (QueueOracle), no learner."""

    def __init__(self, store, plan, generate=None):
        self.store, self.plan, self.generate, self.oracle = store, plan, generate, QueueOracle()
        self.generated: list[tuple[str, int]] = []

    def run(self) -> LoopStatus:
        started = self.store.rounds()["round"].tolist()
        if started and len(self.store.queue(started[-1])):
            return LoopStatus(len(started) - 1, len(self.plan), len(self.store.queue(started[-1])))
        if len(started) < len(self.plan):
            self.store.start_round(len(started) + 1, "scripted", pd.DataFrame({"item_id": self.plan[len(started)]}))
            return LoopStatus(len(started), len(self.plan), len(self.plan[len(started)]))
        return LoopStatus(len(started), len(self.plan))

    def generate_for(self, item_ids, round):
        self.generated += [(item, round) for item in item_ids]
        if self.generate is not None:
            self.generate(item_ids, round)


@pytest.fixture
def bare(tmp_path):
    """A store with six pool items and no round yet."""
    from alsafe.paper.reference import PAPER_TAXONOMY

    path = tmp_path / "run.sqlite"
    with RunStore.create(path, PAPER_TAXONOMY) as store:
        store.add_items(pd.DataFrame({"id": [f"p{i}" for i in range(6)], "text": [f"text {i}" for i in range(6)]}),
                        role="pool")
    return path


def test_the_session_carries_failures_and_undo_into_the_next_round(bare):
    def generate(item_ids, round):
        if item_ids == ["p2"]:
            raise RuntimeError("backend down")

    with RunStore.open(bare) as store:
        session = LabelingSession(_ScriptedLoop(store, [ITEMS[:3], ["p3", "p4"], ["p5"]], generate), "ann").start()
        first = session.widget_
        for label in ["discard", "discard", "legal-advice"]:
            first.label(label)
        session.wait(10)
        second = session.widget_
        assert second is not first and second.round == 2
        said = "Writing variations of “text 2” failed: backend down."
        assert said in second.activity.value  # the round change did not wipe it
        assert second.undo() == "p2" and said not in second.activity.value
        second.label("self-harm")  # labeled again under round 1; its variations asked for round 1
        session.wait(10)
        assert session.loop.generated[-1] == ("p2", 1)
        assert store.labels().set_index("item_id").loc["p2", ["label", "round"]].tolist() == ["self-harm", 1]


def test_a_next_round_widget_that_cannot_be_built_is_said_where_it_would_be(bare, monkeypatch):
    with RunStore.open(bare) as store:
        session = LabelingSession(_ScriptedLoop(store, [ITEMS[:2], ["p3"]]), "ann").start()
        first = session.widget_
        monkeypatch.setattr(session_module, "LabelingWidget", _raises(sqlite3.OperationalError("disk I/O error")))
        first.label("discard")
        first.label("discard")
        session.wait(10)
        assert session.widget_ is first and not first._closed  # the previous round's widget stays usable
        assert session.children == (session.summary, session.message, first)
        assert (f"Showing the next round failed (disk I/O error): every label saved so far is in {store.path}; run "
                "this cell again to go on from there.") in session.message.value
        assert "Training the learner on round 1 and picking the next items failed (disk I/O error)" \
            in first.activity.value
        monkeypatch.undo()
        assert session.start().widget_.round == 2 and session.message.value == ""  # run the cell again
        session.widget_.close()


# -- bulk accept takes only what is on screen -----------------------------------------------------------

def test_accept_the_rest_accepts_only_the_rows_on_screen(path):
    with RunStore.open(path) as store:
        store.add_variations([variation("p1", i, f"rewrite {i}", label="discard") for i in range(12)])
    with LabelingWidget(path, annotator="ann") as view:
        view.label("self-harm")
        view.label("discard")
        assert view.wait(5) and len(view.pending_reviews) == 14 and len(view.reviews.children) == MAX_REVIEW_ROWS
        assert "Variations to review (14)" in view.reviews_title.value
        assert "4 others wait, not shown yet" in view.reviews_title.value
        assert view.accept_rest_button.description == f"Accept the rest ({MAX_REVIEW_ROWS})"
        shown = [int(c) for row in view.reviews.children for c in [row._dom_classes[-1].rsplit("-", 1)[1]]]
        view.accept_rest_button.click()
        assert "Accepted 10 variation(s) the filters passed; 4 more wait for review." in view.status.value
        assert len(view.pending_reviews) == 4 and not set(view.pending_reviews) & set(shown)
    with RunStore.open(path) as store:
        reviewed = store.variations().dropna(subset=["reviewed_by"])
    assert sorted(reviewed["id"]) == sorted(shown)
