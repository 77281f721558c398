"""The replay backend: the paper's own GPT-3.5 variations, exactly, and never an invented answer."""

from __future__ import annotations

import pandas as pd
import pytest

from alsafe.exceptions import ReplayMissing
from alsafe.generate import Generator, OpenAIBackend
from alsafe.paper.replay import ReplayBackend
from tests.servers.fault_server import FaultServer
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY


def _split():
    """A small split in the canonical layout: variations first, then their originals."""
    rows = [("t-0001", "Rash on arm", "llm", "t-0007"), ("t-0002", "\"Itchy red patch\"", "llm", "t-0007"),
            ("t-0003", "Skin bumps  after hike", "llm", "t-0007"),
            ("t-0004", "broken bicycle", "llm", "t-0008"), ("t-0005", "cracked bike", "llm", "t-0008"),
            ("t-0006", "moped malfunction", "llm", "t-0009"),
            ("t-0007", "What is this rash?", "human", "t-0007"), ("t-0008", "broken bike", "human", "t-0008"),
            ("t-0009", "Broken  BIKE", "human", "t-0009")]
    return pd.DataFrame(rows, columns=["id", "text", "origin", "seed_id"]).assign(
        label=["medical-advice"] * 3 + ["legal-advice"] * 3 + ["medical-advice", "legal-advice", "legal-advice"])


def _store(path, seeds):
    store = RunStore.create(path, PAPER_TAXONOMY)
    store.add_items(seeds[["id", "text", "label"]], role="labeled")
    return store


def test_replay_serves_the_released_variations_verbatim(tmp_path):
    split = _split()
    seeds = split[split["origin"] == "human"].head(1)
    with _store(tmp_path / "run.sqlite", seeds) as store:
        generator = Generator(ReplayBackend("cluster", table=split), filters=[], n_variations=3)
        rows = generator.generate(store, seeds, round=1)
        again = generator.generate(store, seeds, round=1)
        calls = store.llm_calls()
    assert rows["text"].tolist() == ["Rash on arm", "\"Itchy red patch\"", "Skin bumps  after hike"]
    assert (rows["backend"] == "replay").all() and (rows["model"] == "gpt-3.5-turbo (paper, cluster split)").all()
    assert again["text"].tolist() == rows["text"].tolist() and len(calls) == 1
    assert calls["cost_usd"].tolist() == [0.0]
    one_by_one = Generator(ReplayBackend("cluster", table=split), filters=[], n_variations=3, variations_per_call=1)
    assert one_by_one.preview(seeds, taxonomy=PAPER_TAXONOMY)["text"].tolist() == rows["text"].tolist()
    assert one_by_one.report_["calls"].tolist() == [3]


def test_repeated_titles_get_their_own_block_by_id_and_the_first_by_text(tmp_path):
    split = _split()
    backend = ReplayBackend("cluster", table=split)
    assert backend.block_for("broken bike", "t-0008") == "t-0008"
    assert backend.block_for("Broken BIKE", "t-0009") == "t-0009"
    assert backend.block_for("  broken   Bike ", "my-own-id") == "t-0008"
    seeds = split[split["origin"] == "human"].iloc[1:]
    with _store(tmp_path / "run.sqlite", seeds) as store:
        rows = Generator(backend, filters=[], n_variations=2).generate(store, seeds)
    assert rows.groupby("seed_id")["text"].apply(list).to_dict() == {
        "t-0008": ["broken bicycle", "cracked bike"], "t-0009": ["moped malfunction"]}


def test_unknown_seed_is_an_error_before_any_work_or_goes_to_the_fallback(tmp_path):
    split = _split()
    seeds = pd.DataFrame({"id": ["t-0007", "new1"], "text": ["What is this rash?", "Where is the fire exit?"],
                          "label": ["medical-advice", "emergency-situation"]})
    with _store(tmp_path / "run.sqlite", seeds) as store:
        with pytest.raises(ReplayMissing, match=r"^The paper's cluster split has no variations for the seed "
                                                r"'Where is the fire exit\?'; pass ReplayBackend\(fallback=\.\.\.\)"):
            Generator(ReplayBackend("cluster", table=split), filters=[]).generate(store, seeds)
        assert store.variations().empty and store.cost_summary()["calls"] == 0
        with FaultServer() as server:
            fallback = OpenAIBackend("fault-model", base_url=server.base_url)
            rows = Generator(ReplayBackend("cluster", table=split, fallback=fallback), filters=[],
                             n_variations=2).generate(store, seeds)
            assert len([r for r in server.requests if r.path.endswith("completions")]) == 1
    assert rows.groupby("seed_id")["backend"].first().to_dict() == {"t-0007": "replay", "new1": "openai"}
    with pytest.raises(ValueError, match="split must be one of random, topn, coreset, cluster, not 'test'"):
        ReplayBackend("test")


def test_replay_reproduces_the_cluster_splits_first_original(paper_dir, tmp_path):
    from alsafe.paper.data import load_split

    split = load_split("cluster", paper_dir)
    original = split[split["origin"] == "human"].iloc[[0]]
    released = split[(split["origin"] == "llm") & (split["seed_id"] == original["id"].iloc[0])]["text"].tolist()
    assert len(released) == 5
    with _store(tmp_path / "run.sqlite", original) as store:
        rows = Generator(ReplayBackend("cluster"), filters=[]).generate(store, original, round=1)
    assert rows["text"].tolist() == released
    assert (rows["label"] == original["label"].iloc[0]).all()
