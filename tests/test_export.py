"""An export that says what it holds: reviewed rows, notes, no empty columns, and whether it is stale."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from alsafe import export
from alsafe.store import RunStore
from alsafe.taxonomy import Taxonomy

TAXONOMY = Taxonomy.from_dict({"labels": [{"name": "urgent", "description": "Needs help now."},
                                          {"name": "billing", "description": "About invoices."},
                                          {"name": "other", "description": "Anything else."}]})


def _variation(seed, i, label):
    return dict(seed_id=seed, round=1, sample_index=i, text=f"{seed} variation {i}", label=label,
                relation="same_label", backend="local", model="smol", prompt_hash="h", status="accepted")


@pytest.fixture
def store(tmp_path):
    """Two bootstrap labels, three labeled pool items (one with a note), five accepted variations of which
    a person reviewed one; the pool has no subreddits."""
    store = RunStore.create(tmp_path / "run.sqlite", TAXONOMY)
    store.add_items(pd.DataFrame({"id": ["b1", "b2"], "text": ["site is down", "refund my invoice"],
                                  "label": ["urgent", "billing"]}), role="labeled", annotator="bootstrap")
    store.add_items(pd.DataFrame({"id": [f"p{i}" for i in range(6)], "text": [f"message {i}" for i in range(6)]}),
                    role="pool")
    store.start_round(1, "cluster", pd.DataFrame({"item_id": ["p0", "p1", "p2"], "cluster": [0, 1, 2]}))
    store.add_label("p0", "urgent", annotator="me", round=1, note="smoke in the hall, not a drill")
    store.add_label("p1", "other", annotator="me", round=1)
    store.add_label("p2", "billing", annotator="me", round=1)
    store.add_variations([_variation("p0", i, "urgent") for i in range(3)]
                         + [_variation("p1", i, "other") for i in range(2)])
    store.set_round_status(1, "trained", metrics={})
    first = int(store.variations(seed_id="p0")["id"].iloc[0])
    store.review_variation(first, True, reviewer="me")
    yield store
    store.close()


def test_the_dataset_marks_what_a_person_reviewed_and_keeps_the_notes(store):
    table = export.labeled_dataset(store).set_index("id")
    reviewed = store.variations().set_index("id")["reviewed_by"]
    first = int(reviewed.dropna().index[0])
    assert table.loc[table["origin"] == "human", "reviewed"].all()
    assert bool(table.loc[f"p0~v{first}", "reviewed"])
    assert int((~table.loc[table["origin"] == "llm", "reviewed"]).sum()) == 4
    assert table.loc["p0", "note"] == "smoke in the hall, not a drill"
    assert table["note"].drop("p0").isna().all()
    assert "subreddit" not in table.columns  # empty on every row: left out
    assert {"generator_model", "round", "strategy", "annotator"} <= set(table.columns)  # these have values
    assert export.unreviewed_counts(store) == (4, 5)


def test_the_export_card_and_metadata_say_how_many_rows_no_person_reviewed(store, tmp_path):
    import datasets

    paths = export.export_dataset(store, tmp_path / "export", test_fraction=0.4, random_state=0)
    frame = pd.read_parquet(paths["parquet"])
    assert frame["reviewed"].dtype == bool and int((~frame["reviewed"]).sum()) == 4
    assert "subreddit" not in frame.columns and "subreddit" not in pd.read_csv(paths["csv"]).columns
    assert pd.read_csv(paths["csv"]).set_index("id").loc["p0", "note"] == "smoke in the hall, not a drill"
    loaded = datasets.load_from_disk(str(paths["hf"]))
    assert loaded["train"].features["reviewed"].dtype == "bool"
    assert sum(loaded[s].to_pandas()["reviewed"].eq(False).sum() for s in loaded) == 4
    card = paths["readme"].read_text(encoding="utf-8")
    assert "**4 of the 5 generated rows were never reviewed by a person**" in card
    assert "1 label carries the annotator's note" in card and "Left out, empty on every row: `subreddit`." in card
    meta = json.loads(paths["meta"].read_text(encoding="utf-8"))
    assert (meta["rows"], meta["human"], meta["generated"], meta["unreviewed"]) == (10, 5, 5, 4)
    assert meta["labeling_state"] == export.labeling_state(store) and meta["dropped_columns"] == ["subreddit"]
    assert f"`{meta['labeling_state']['digest']}`" in card


def test_export_is_stale_says_what_changed_after_it_was_made(store, tmp_path):
    folder = tmp_path / "export"
    assert export.export_is_stale(store, folder) is None  # nothing exported: nothing to be stale
    export.export_dataset(store, folder, test_fraction=0.4)
    assert export.export_is_stale(store, folder) is None
    last = int(store.labels()["id"].max())
    store.retract_label(last)
    assert export.export_is_stale(store, folder) == "1 label was undone after it was made"
    export.export_dataset(store, folder, test_fraction=0.4)
    assert export.export_is_stale(store, folder) is None
    waiting = store.variations()
    waiting = waiting[waiting["reviewed_by"].isna() & waiting["current"]]
    store.review_variation(int(waiting["id"].iloc[0]), False, reviewer="me", reason="changes the meaning")
    store.add_label("p2", "billing", annotator="me", round=1)
    store.add_label("p3", "other", annotator="me", round=1)
    assert export.export_is_stale(store, folder) == (
        "2 labels were given and 1 generated row was reviewed after it was made")
    store.add_variations([_variation("p3", 0, "other")])
    assert export.export_is_stale(store, folder).startswith("2 labels were given, 1 generated row was reviewed and "
                                                            "1 generated row was added")


def test_an_export_without_metadata_is_reported_stale(store, tmp_path):
    folder = tmp_path / "old"
    export.export_parquet(store, folder / "dataset.parquet")
    assert "records no labeling state" in export.export_is_stale(store, folder)
