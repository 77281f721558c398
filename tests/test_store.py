"""The run store: transactions, labels, rounds, variations, cache, export, and surviving kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from alsafe.export import export_paper_tsv, export_parquet
from alsafe.store import RunStore, StoreError
from alsafe.paper.reference import PAPER_TAXONOMY


def _pool(n=5, prefix="p"):
    return pd.DataFrame({"id": [f"{prefix}{i}" for i in range(n)], "text": [f"title {i}" for i in range(n)],
                         "label": ["discard"] * n, "subreddit": ["sub"] * n})


@pytest.fixture
def store(tmp_path):
    with RunStore.create(tmp_path / "run.sqlite", PAPER_TAXONOMY, params={"seed": 1}) as s:
        yield s


def test_create_open_and_metadata(tmp_path):
    path = tmp_path / "run.sqlite"
    RunStore.create(path, PAPER_TAXONOMY, params={"budget": 100}).close()
    with pytest.raises(FileExistsError, match="already exists"):
        RunStore.create(path, PAPER_TAXONOMY)
    with RunStore.open(path) as reopened:
        assert reopened.params == {"budget": 100}
        assert reopened.taxonomy.names == PAPER_TAXONOMY.names
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RunStore.open(tmp_path / "nope.sqlite")


def test_failed_add_leaves_store_as_it_was(store):
    assert store.add_items(_pool(3), role="pool") == 3
    clash = pd.concat([_pool(2, prefix="q"), _pool(1)])  # p0 already present
    with pytest.raises(StoreError, match="already in the store: p0"):
        store.add_items(clash, role="pool")
    bad = _pool(2, prefix="r").assign(label=["discard", "cats"])
    with pytest.raises(StoreError, match="Unknown label\\(s\\) 'cats'"):
        store.add_items(bad, role="labeled")
    assert store.items()["id"].tolist() == ["p0", "p1", "p2"]
    assert store.labels().empty


def test_labels_commit_retract_and_latest_wins(store):
    store.add_items(_pool(3), role="pool")
    first = store.add_label("p0", "self-harm", annotator="ann")
    store.add_label("p0", "medical-advice", annotator="ann", note="on reflection")
    store.add_label("p1", "discard", annotator="bob")
    assert store.labeled().set_index("id")["label"].to_dict() == {"p0": "medical-advice", "p1": "discard"}
    store.retract_label(first)
    with pytest.raises(StoreError, match=f"No active label with id {first}"):
        store.retract_label(first)
    assert len(store.labels()) == 2 and len(store.labels(include_retracted=True)) == 3
    with pytest.raises(StoreError, match="Unknown label"):
        store.add_label("p2", "nonsense", annotator="ann")
    with pytest.raises(StoreError, match="No item 'zz'"):
        store.add_label("zz", "discard", annotator="ann")


def test_rounds_queue_and_status(store):
    store.add_items(_pool(4), role="pool")
    selection = pd.DataFrame({"item_id": ["p2", "p0"], "cluster": [1, 0], "score": [1.5, 0.7]})
    store.start_round(1, "cluster", selection)
    assert store.queue(1)["item_id"].tolist() == ["p2", "p0"]
    store.add_label("p2", "legal-advice", annotator="ann", round=1)
    assert store.queue(1)["item_id"].tolist() == ["p0"]
    store.set_round_status(1, "labeled", metrics={"dev_macro_f1": 0.5})
    rounds = store.rounds()
    assert rounds.loc[0, "status"] == "labeled" and rounds.loc[0, "metrics"] == {"dev_macro_f1": 0.5}
    with pytest.raises(StoreError, match="Round 1 already exists"):
        store.start_round(1, "cluster", selection)
    with pytest.raises(StoreError, match="selects items not in the store: nope"):
        store.start_round(2, "cluster", pd.DataFrame({"item_id": ["p1", "nope"]}))
    assert store.rounds()["round"].tolist() == [1]  # the refused round left nothing behind


def test_variations_cache_and_exports(store, tmp_path):
    store.add_items(_pool(2), role="pool")
    store.add_label("p0", "medical-advice", annotator="ann", round=1)
    rows = [dict(seed_id="p0", round=1, sample_index=i, text=f"var {i}", label="medical-advice",
                 relation="same_label", backend="replay", model="gpt-3.5", prompt_hash="h",
                 status="accepted" if i else "rejected", reason=None if i else "duplicate") for i in range(3)]
    assert store.add_variations(rows) == 3
    assert store.add_variations(rows) == 0  # already there
    with pytest.raises(StoreError, match="needs a reason"):
        store.add_variations([dict(rows[0], sample_index=9, reason=None)])
    training = store.training_set()
    assert training["origin"].tolist() == ["human", "llm", "llm"]
    assert training["text"].tolist() == ["title 0", "var 1", "var 2"]
    assert (training["seed_id"] == "p0").all()

    assert store.cached_response("k1") is None
    store.record_llm_call("k1", "openai", "m", "prompt", {"t": 0.7}, "answer", 10, 5, 0.001, 0.2)
    assert store.cached_response("k1") == "answer"
    assert store.cost_summary() == {"calls": 1, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.001}

    tsv = export_paper_tsv(store, tmp_path / "out" / "train.tsv")
    lines = tsv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\tinput\tsubreddit\tcategory"
    assert lines[1:] == ["p0\ttitle 0\tsub\tmedical-advice", "p0\tvar 1\tsub\tmedical-advice",
                         "p0\tvar 2\tsub\tmedical-advice"]
    parquet = pd.read_parquet(export_parquet(store, tmp_path / "out" / "train.parquet"))
    assert parquet["origin"].tolist() == ["human", "llm", "llm"]


WRITER = textwrap.dedent("""
    import sys, pandas as pd
    from alsafe.store import RunStore
    store = RunStore.open(sys.argv[1])
    ids = store.items()["id"].tolist()
    round = 1
    while True:
        for item in ids:
            store.add_label(item, "discard", annotator="w")
            print("label", item, flush=True)
        store.start_round(round, "random", pd.DataFrame({"item_id": ids, "score": range(len(ids))}))
        print("round", round, flush=True)
        round += 1
""")


def test_kill_minus_nine_loses_no_committed_label_and_no_half_round(tmp_path):
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, PAPER_TAXONOMY) as store:
        store.add_items(_pool(50), role="pool")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    reported_labels, reported_rounds = 0, 0
    deadline = time.time() + 60
    while reported_rounds < 3 and time.time() < deadline:
        line = writer.stdout.readline()
        reported_labels += line.startswith("label")
        reported_rounds += line.startswith("round")
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert reported_rounds >= 3
    with RunStore.open(path) as store:
        assert len(store.labels()) >= reported_labels  # everything reported as committed is there
        rounds = store.rounds()
        assert len(rounds) >= reported_rounds
        counts = store.selections().groupby("round").size()
        assert (counts.reindex(rounds["round"]).to_numpy() == rounds["n_selected"].to_numpy()).all()
        store.add_label("p0", "self-harm", annotator="after")  # the file is usable again
