"""Your own data: start a run, watch it (dashboard), export a dataset whose splits keep seeds together."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import pandas as pd
import pytest

from alsafe.ui.dashboard import class_distribution, cluster_coverage, plot_dashboard, round_metrics
from alsafe.export import export_dataset, labeled_dataset, split_by_seed
from alsafe.pools import PoolError, start_run
from alsafe.taxonomy import load_taxonomy

TAXONOMY = """
name: support-desk
labels:
  - {name: urgent, description: Needs a human within the hour., display_name: Urgent, colour: "#D55E00"}
  - {name: billing, description: About invoices or payments.}
  - {name: other, description: Anything else.}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "taxonomy.yaml").write_text(TAXONOMY, encoding="utf-8")
    pool = pd.DataFrame({"id": [f"p{i}" for i in range(12)], "text": [f"message number {i}" for i in range(12)]})
    pool.to_csv(tmp_path / "pool.csv", index=False)
    boot = pd.DataFrame({"id": ["b1", "b2"], "text": ["site is down now", "refund my invoice"],
                         "label": ["urgent", "billing"]})
    boot.to_csv(tmp_path / "boot.csv", index=False)
    return tmp_path


def test_taxonomy_errors_name_the_entry(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("labels:\n  - {name: a, description: x}\n  - {name: a, description: y}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"t.yaml: label 2 repeats the name 'a'"):
        load_taxonomy(bad)
    bad.write_text("labels:\n  - {name: '', description: x}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="label 1 has an empty `name`"):
        load_taxonomy(bad)
    bad.write_text("labels:\n  - {name: a}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="label 'a' has no `description`"):
        load_taxonomy(bad)


def test_start_run_validates_everything_before_creating_the_store(files):
    (files / "bad.csv").write_text("id,text,label\nx1,hello,refunds\n", encoding="utf-8")
    with pytest.raises(PoolError, match=r"bad.csv, row 1, column 'label': unknown label 'refunds'"):
        start_run(files / "run.sqlite", files / "pool.csv", files / "taxonomy.yaml", bootstrap=files / "bad.csv")
    assert not (files / "run.sqlite").exists()
    with start_run(files / "run.sqlite", files / "pool.csv", files / "taxonomy.yaml", bootstrap=files / "boot.csv") as s:
        assert s.taxonomy.names == ["urgent", "billing", "other"]
        assert len(s.items("pool")) == 12 and s.labeled()["label"].tolist() == ["urgent", "billing"]
    with pytest.raises(FileExistsError):
        start_run(files / "run.sqlite", files / "pool.csv", files / "taxonomy.yaml")


def _populated(files):
    store = start_run(files / "run.sqlite", files / "pool.csv", files / "taxonomy.yaml", bootstrap=files / "boot.csv")
    store.start_round(1, "cluster", pd.DataFrame({"item_id": ["p0", "p1", "p2"], "cluster": [0, 1, 1]}))
    for item, label in [("p0", "urgent"), ("p1", "other"), ("p2", "billing")]:
        store.add_label(item, label, annotator="me", round=1)
    store.add_variations([dict(seed_id=seed, round=1, sample_index=i, text=f"{seed} variation {i}", label=label,
                               relation="same_label", backend="local", model="smol", prompt_hash="h",
                               status="accepted") for seed, label in [("p0", "urgent"), ("p1", "other")]
                          for i in range(3)])
    store.set_round_status(1, "trained", metrics={"dev_macro_f1": 0.4})
    return store


def test_dashboard_tables_and_figure(files):
    with _populated(files) as store:
        distribution = class_distribution(store).set_index("class")
        assert distribution.loc["Urgent"].tolist() == [2, 3] and distribution.loc["billing"].tolist() == [2, 0]
        assert round_metrics(store).loc[0, "dev_macro_f1"] == pytest.approx(0.4)
        assert cluster_coverage(store, n_clusters=4).iloc[0].tolist() == [1, 2, 4, 0.5]
        figure = plot_dashboard(store, n_clusters=4)
        assert len(figure.axes) == 3 and figure.axes[0].get_title() == "Acquired so far"
        assert figure.axes[1].get_title() == "Learner: dev macro-F1 (%)"
        assert all(float(t).is_integer() for axis in figure.axes[1:] for t in axis.get_xticks())  # whole rounds


def test_without_gold_labels_the_dashboard_shows_how_often_the_learners_guesses_were_right(files):
    with start_run(files / "run.sqlite", files / "pool.csv", files / "taxonomy.yaml",
                   bootstrap=files / "boot.csv") as store:
        store.start_round(1, "cluster", pd.DataFrame({"item_id": ["p0", "p1", "p2", "p3"], "cluster": [0, 1, 1, 2],
                                                      "predicted_label": ["urgent", "other", "other", "billing"]}))
        for item, label in [("p0", "urgent"), ("p1", "other"), ("p2", "billing")]:  # p3 not labeled yet
            store.add_label(item, label, annotator="me", round=1)
        store.set_round_status(1, "trained", metrics={})
        assert round_metrics(store).loc[0, "picked_accuracy"] == pytest.approx(200 / 3)
        figure = plot_dashboard(store, n_clusters=4)
        assert figure.axes[1].get_title() == "Learner: its guesses on the items it picked, right (%)"
        assert figure.axes[1].lines[0].get_ydata().tolist() == pytest.approx([200 / 3])


def test_split_by_seed_never_separates_a_seed_from_its_variations(files):
    with _populated(files) as store:
        table = labeled_dataset(store)
        assert set(table["strategy"]) == {"bootstrap", "cluster"}
        for seed in range(5):
            split = split_by_seed(table, test_fraction=0.4, random_state=seed)
            assert table.assign(split=split).groupby("seed_id")["split"].nunique().max() == 1


def test_export_dataset_writes_parquet_csv_and_a_hf_folder(files):
    import datasets

    with _populated(files) as store:
        paths = export_dataset(store, files / "export", test_fraction=0.4, random_state=1)
    frame = pd.read_parquet(paths["parquet"])
    assert len(frame) == 11 and set(frame["origin"]) == {"human", "llm"}
    assert pd.read_csv(paths["csv"])["seed_id"].tolist() == frame["seed_id"].tolist()
    loaded = datasets.load_from_disk(str(paths["hf"]))
    assert set(loaded) == {"train", "test"} and loaded["train"].features["label"].names == ["urgent", "billing", "other"]
    train_seeds, test_seeds = set(loaded["train"]["seed_id"]), set(loaded["test"]["seed_id"])
    assert not train_seeds & test_seeds and len(loaded["train"]) + len(loaded["test"]) == 11
