"""The export panel: every number read from the store when it is redrawn, unreviewed rows said and marked,
a stale export said. The classifier is replaced by a stub (training one is tested in tests/test_loop.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from alsafe import export
from alsafe.store import RunStore
from alsafe.taxonomy import Taxonomy
from alsafe.ui.export_panel import ExportPanel

TAXONOMY = Taxonomy.from_dict({"labels": [{"name": "urgent", "description": "Needs help now."},
                                          {"name": "other", "description": "Anything else."}]})


class FakeSession:
    """What the panel uses of a LabelingSession: ``finished``, ``loop.n_rounds``, ``on_round`` and ``on_change``."""

    def __init__(self, n_rounds):
        self.loop, self.finished, self.listeners = SimpleNamespace(n_rounds=n_rounds), False, []
        self.change_listeners = []

    def on_round(self, callback):
        self.listeners.append(callback)

    def on_change(self, callback):
        self.change_listeners.append(callback)

    def changed(self):
        for listener in self.change_listeners:
            listener(self)

    def round_done(self, finished=False):
        self.finished = finished
        for listener in self.listeners:
            listener(self)


@pytest.fixture(autouse=True)
def stub_classifier(monkeypatch):
    def fake(store, folder, **params):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "README.md").write_text("# stub card\n", encoding="utf-8")
        return folder

    monkeypatch.setattr(export, "export_classifier", fake)


@pytest.fixture
def store(tmp_path):
    store = RunStore.create(tmp_path / "run.sqlite", TAXONOMY)
    store.add_items(pd.DataFrame({"id": ["b1", "b2"], "text": ["fire!", "hello"], "label": ["urgent", "other"]}),
                    role="labeled")
    store.add_items(pd.DataFrame({"id": [f"p{i}" for i in range(6)], "text": [f"text {i}" for i in range(6)]}),
                    role="pool")
    yield store
    store.close()


def _round(store, round, items, labels, n_variations=0):
    store.start_round(round, "cluster", pd.DataFrame({"item_id": items}))
    for item, label in zip(items, labels):
        store.add_label(item, label, annotator="me", round=round)
        store.add_variations([dict(seed_id=item, round=round, sample_index=i, text=f"{item} v{i}", label=label,
                                   relation="same_label", backend="local", model="smol", prompt_hash="h",
                                   status="accepted") for i in range(n_variations)])
    store.set_round_status(round, "trained", metrics={})


def test_rounds_done_are_read_from_the_store_at_each_redraw(store, tmp_path):
    session = FakeSession(n_rounds=3)
    panel = ExportPanel(store, tmp_path / "export", session=session)
    assert "Waiting for labeling to finish (0 of 3 rounds done)" in panel.message.value
    _round(store, 1, ["p0"], ["urgent"])
    _round(store, 2, ["p1"], ["other"])
    session.round_done()
    assert "(2 of 3 rounds done)" in panel.message.value and panel.paths_ is None
    assert panel.button.description == "Export now"


def test_unreviewed_rows_are_said_and_exported_marked_only_when_asked(store, tmp_path):
    session = FakeSession(n_rounds=3)
    _round(store, 1, ["p0", "p1"], ["urgent", "other"], n_variations=2)
    panel = ExportPanel(store, tmp_path / "export", session=session)
    assert "4 of 4 generated rows were never reviewed by a person" in panel.message.value
    assert panel.button.description == "Export with them marked"
    first = int(store.variations()["id"].iloc[0])
    store.review_variation(first, True, reviewer="me")
    session.round_done()
    assert "3 of 4 generated rows were never reviewed by a person" in panel.message.value
    assert not (tmp_path / "export").exists()  # the panel waits for the person
    panel.button.click()
    panel.wait(60)
    frame = pd.read_parquet(tmp_path / "export" / "dataset.parquet")
    assert frame.loc[frame["origin"] == "llm", "reviewed"].tolist() == [True, False, False, False]
    assert "Exported to" in panel.message.value
    assert "3 of its 4 generated rows were never reviewed by a person" in panel.message.value


def test_an_undo_after_the_export_makes_the_panel_say_it_is_stale(store, tmp_path):
    session = FakeSession(n_rounds=3)
    _round(store, 1, ["p0", "p1"], ["urgent", "other"])
    panel = ExportPanel(store, tmp_path / "export", session=session)
    assert panel.export() is not None and "The export is stale" not in panel.message.value
    store.retract_label(int(store.labels()["id"].max()))
    session.round_done()
    assert ("The export is stale: 1 label was undone after it was made; export again." in panel.message.value)
    assert panel.button.description == "Export again"
    panel.export()
    assert "stale" not in panel.message.value


def test_an_undo_in_the_widget_after_the_export_at_the_budget_says_stale_at_once_in_panel_and_card(store, tmp_path):
    _round(store, 1, ["p0", "p1"], ["urgent", "other"])
    session = FakeSession(n_rounds=1)
    session.finished = True
    panel = ExportPanel(store, tmp_path / "export", session=session)  # the budget is spent: exported at once

    def card():
        return " ".join(str(o.get("data", {}).get("text/markdown", "")) for o in panel.card.outputs)

    assert "Stale" not in card() and "stub card" in card()
    store.retract_label(int(store.labels()["id"].max()))
    session.changed()  # what the widget's on_change does after the undo: no round ends after the budget
    assert "The export is stale: 1 label was undone after it was made; export again." in panel.message.value
    assert card().startswith("> **Stale:** 1 label was undone after it was made") and "stub card" in card()
    panel.export()
    assert "Stale" not in card() and "stale" not in panel.message.value


def test_at_the_budget_the_export_runs_and_says_prominently_what_no_person_reviewed(store, tmp_path):
    session = FakeSession(n_rounds=1)
    panel = ExportPanel(store, tmp_path / "export", session=session)
    _round(store, 1, ["p0"], ["urgent"], n_variations=3)
    session.round_done(finished=True)
    assert panel.paths_ is not None and (tmp_path / "export" / "dataset.meta.json").exists()
    assert "The budget is spent (1 of 1 rounds done)" in panel.message.value
    assert "color:#b00020'>3 of its 3 generated rows were never reviewed by a person" in panel.message.value


def test_without_a_session_it_exports_at_once(store, tmp_path):
    _round(store, 1, ["p0"], ["urgent"], n_variations=1)
    panel = ExportPanel(store, tmp_path / "export")
    assert panel.paths_ is not None and "Exported to" in panel.message.value
    assert "1 of its 1 generated rows were never reviewed" in panel.message.value
    assert "rounds done" not in panel.message.value


def test_a_stale_export_with_rows_waiting_for_review_says_both(store, tmp_path):
    session = FakeSession(n_rounds=3)
    _round(store, 1, ["p0", "p1"], ["urgent", "other"])
    panel = ExportPanel(store, tmp_path / "export", session=session)
    panel.export()
    _round(store, 2, ["p2"], ["urgent"], n_variations=2)
    session.round_done()
    assert "The export is stale: 1 label was given and 2 generated rows were added after it was made" in (
        panel.message.value)
    assert "2 of 2 generated rows were never reviewed by a person" in panel.message.value
    assert panel.button.description == "Export with them marked"
