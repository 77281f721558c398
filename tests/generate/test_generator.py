"""The Generator: cache and resume, user errors before any work, relations, label gate, report, preview."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pandas as pd
import pytest

from alsafe.generate import (Contrast, DuplicateFilter, Generator, LabelGate, OpenAIBackend, QualityFilter,
                             RefusalFilter, Template, ledger, preview, verdicts)
from alsafe.generate.backends.base import cache_key, run_sync
from tests.servers.fault_server import FaultServer
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY

SEEDS = pd.DataFrame({"id": ["s1", "s2", "s3"],
                      "text": ["What is this rash?", "Motion to balance out child support", "Status check"],
                      "label": ["medical-advice", "legal-advice", "discard"]})
FILTERS = [QualityFilter(), RefusalFilter(), DuplicateFilter()]


@pytest.fixture
def store(tmp_path):
    with RunStore.create(tmp_path / "run.sqlite", PAPER_TAXONOMY) as s:
        s.add_items(SEEDS, role="labeled")
        s.add_items(pd.DataFrame({"id": ["p1"], "text": ["Is my landlord allowed to keep the deposit?"]}), role="pool")
        yield s


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def _generator(server, **options) -> Generator:
    backend = OpenAIBackend("fault-model", base_url=server.base_url, backoff_s=0.01)
    return Generator(backend, **{"filters": FILTERS, **options})


def _posts(server):
    return [r for r in server.requests if r.path.endswith("completions")]


def test_rerun_makes_zero_calls_and_returns_identical_rows(server, store):
    generator = _generator(server)
    first = generator.generate(store, SEEDS, round=1)
    assert len(_posts(server)) == 3 and len(first) == 15
    assert first["seed_id"].tolist() == ["s1"] * 5 + ["s2"] * 5 + ["s3"] * 5
    assert first["sample_index"].tolist() == list(range(5)) * 3
    assert set(first.columns) >= {"id", "round", "text", "label", "relation", "backend", "model", "prompt_hash",
                                  "status", "reason"}
    assert (first["relation"] == "same_label").all() and (first["round"] == 1).all()
    assert first["label"].tolist() == ["medical-advice"] * 5 + ["legal-advice"] * 5 + ["discard"] * 5
    again = _generator(server).generate(store, SEEDS, round=1)
    assert len(_posts(server)) == 3
    pd.testing.assert_frame_equal(first, again)
    assert len(store.variations()) == 15 and store.cost_summary()["calls"] == 3
    assert generator.report_["cached_calls"].tolist() == [0, 0, 0]


def test_cache_key_covers_backend_model_prompt_params_and_sample_index(server, store):
    base = cache_key("openai", "m", "prompt", {"temperature": 1.0}, 0)
    assert len({base, cache_key("local", "m", "prompt", {"temperature": 1.0}, 0),
                cache_key("openai", "m2", "prompt", {"temperature": 1.0}, 0),
                cache_key("openai", "m", "prompt!", {"temperature": 1.0}, 0),
                cache_key("openai", "m", "prompt", {"temperature": 0.5}, 0),
                cache_key("openai", "m", "prompt", {"temperature": 1.0}, 1)}) == 6
    _generator(server).generate(store, SEEDS.head(1))
    hotter = Generator(OpenAIBackend("fault-model", base_url=server.base_url, temperature=0.2), filters=FILTERS)
    rows = hotter.generate(store, SEEDS.head(1))
    assert len(_posts(server)) == 2  # a new temperature is a new request
    assert rows["prompt_hash"].nunique() == 1
    assert len(store.variations(seed_id="s1")) == 10  # both generations are kept, told apart by prompt_hash


def test_user_errors_are_one_sentence_and_nothing_is_done(server, store):
    generator = _generator(server)
    cases = [
        (SEEDS.drop(columns="label"), r"^seeds lacks the column\(s\) label; it needs id, text and label\.$"),
        (pd.concat([SEEDS, SEEDS.head(1)]), r"^seeds repeats the id\(s\) s1; give each seed once\.$"),
        (SEEDS.assign(label=["medical-advice", "legal-advice", "spam"]), r"label\(s\) 'spam' that the taxonomy lacks"),
        (pd.DataFrame({"id": ["x9"], "text": ["new"], "label": ["discard"]}), r"seeds id\(s\) x9 are not items of "),
        (SEEDS.assign(text=["a", " ", "c"]), r"^seeds has empty text for id\(s\) s2\.$"),
    ]
    for seeds, message in cases:
        with pytest.raises(ValueError, match=message):
            generator.generate(store, seeds)
    with pytest.raises(ValueError, match=r"Contrast targets the seed's own label for id\(s\) s3"):
        Generator(generator.backend, Template(relation=Contrast("discard")), filters=[]).generate(store, SEEDS)
    with pytest.raises(TypeError, match="seeds must be a DataFrame"):
        generator.generate(store, SEEDS.to_dict("records"))
    with pytest.raises(ValueError, match="n_variations must be at least 1"):
        Generator(generator.backend, n_variations=0)
    with pytest.raises(ValueError, match=r"^generate\(\) needs a run store to record into; use preview\(\)"):
        generator.generate(None, SEEDS)
    with pytest.raises(TypeError, match="round must be an int or None, not str"):
        generator.generate(store, SEEDS, round="1")
    assert _posts(server) == [] and store.cost_summary()["calls"] == 0 and store.variations().empty


def test_contrast_relation_stores_the_target_label(server, store):
    generator = _generator(server, template=Template(relation=Contrast("discard")), n_variations=2)
    rows = generator.generate(store, SEEDS.head(2))
    assert rows["label"].tolist() == ["discard"] * 4 and (rows["relation"] == "contrast").all()
    prompt = _posts(server)[0].body["messages"][1]["content"]
    assert 'belongs to the category "discard" instead' in prompt
    assert generator.report_[["label", "target_label"]].values.tolist() == [["medical-advice", "discard"],
                                                                            ["legal-advice", "discard"]]


class _Learner:
    classes_ = np.array(["discard", "legal-advice", "medical-advice"])

    def predict_proba(self, texts):
        return np.array([[0.9, 0.05, 0.05] if "weather" in t else [0.1, 0.1, 0.8] for t in texts])


def _scripted(answers):
    """A responder that answers seed by seed from ``answers`` (title -> list of variations)."""
    def respond(prompt, asked):
        title = prompt.split("<title>\n", 1)[1].split("\n</title>", 1)[0]
        return json.dumps(answers[title])
    return respond


def test_every_rejection_is_recorded_with_its_reason(store):
    answers = {"What is this rash?": [
        "Could this rash be an allergy?",                # accepted
        "What is this rash?",                            # the seed
        "I can't help with that.",                       # refusal
        "Nice weather for a walk today",                 # the learner says discard
        "Is my landlord allowed to keep the deposit?",   # a pool item
        "Is this skin reddening normal?",                # a Table 2 example of the few-shot prompt
        "Red bumps after hiking",                        # beyond the 5 asked for
    ]}
    filters = [QualityFilter(), RefusalFilter(), LabelGate(threshold=0.8), DuplicateFilter()]
    with FaultServer(responder=_scripted(answers)) as server:
        generator = _generator(server, filters=filters, n_variations=6)
        rows = generator.generate(store, SEEDS.head(1), round=2, learner=_Learner())
    assert rows["status"].tolist() == ["accepted"] + ["rejected"] * 6
    assert rows["reason"].tolist() == [
        None, "duplicate: exact copy of its seed", "refusal: \"I can't help\"",
        "label gate: learner says 'discard' (p=0.90), not 'medical-advice'",
        "duplicate: exact copy of pool item p1", "duplicate: exact copy of prompt example 2",
        "extra: beyond the 6 asked for"]
    assert rows["sample_index"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    report = generator.report_.iloc[0]
    assert (report["asked"], report["returned"], report["accepted"], report["rejected"]) == (6, 7, 1, 6)
    assert report["reasons"] == "duplicate: 3, refusal: 1, label gate: 1, extra: 1"
    summary = verdicts(store, round=2)
    assert summary.iloc[0][["variations", "accepted", "rejected"]].tolist() == [7, 1, 6]


def test_resume_keeps_stored_verdicts_even_with_another_learner(server, store):
    _generator(server).generate(store, SEEDS.head(1), round=1)
    stored = store.variations()

    class Hostile:
        classes_ = np.array(["discard"])

        def predict_proba(self, texts):
            return np.ones((len(texts), 1))

    filters = [*FILTERS, LabelGate()]
    rows = _generator(server, filters=filters).generate(store, SEEDS.head(1), round=1, learner=Hostile())
    assert (rows["status"] == "accepted").all()
    pd.testing.assert_frame_equal(store.variations(), stored)


def test_near_duplicates_across_seeds_are_rejected(store):
    answers = {"What is this rash?": ["My arm is itchy and red after camping"],
               "Motion to balance out child support": ["My arm is itchy and red after camping!"],
               "Status check": ["Any update on my order status?"]}
    with FaultServer(responder=_scripted(answers)) as server:
        rows = _generator(server, n_variations=1).generate(store, SEEDS)
    assert rows["reason"].tolist() == [None, "duplicate: exact copy of variation 0 of seed s1 (similarity 1.00)",
                                       None]
    assert rows["status"].tolist() == ["accepted", "rejected", "accepted"]


def test_sync_facade_works_inside_a_running_event_loop(server, store):
    generator = _generator(server)

    async def notebook_cell():
        asyncio.get_running_loop()  # as in Jupyter
        return generator.generate(store, SEEDS.head(1))

    rows = asyncio.run(notebook_cell())
    assert len(rows) == 5
    assert run_sync(lambda: asyncio.sleep(0, result=42)) == 42


def test_preview_shows_prompt_raw_output_and_verdicts_without_recording(server, store):
    generator = _generator(server, n_variations=2)
    table = preview(generator, SEEDS.head(2), store=store)
    assert table.columns.tolist() == ["seed_id", "seed_text", "label", "prompt", "raw_output", "sample_index", "text",
                                      "status", "reason"]
    assert table["seed_id"].tolist() == ["s1", "s1", "s2", "s2"]
    assert table["prompt"].iloc[0].startswith("[system]\nYou rewrite short Reddit post titles")
    assert "\n\n[user]\nWrite 2 different variations of the title below. " in table["prompt"].iloc[0]
    assert "<title>\nWhat is this rash?\n</title>" in table["prompt"].iloc[0]
    assert json.loads(table["raw_output"].iloc[0]) == table["text"].iloc[:2].tolist()
    assert store.variations().empty and store.cost_summary()["calls"] == 2
    rows = generator.generate(store, SEEDS.head(2))  # served from the cache the preview filled
    assert len(_posts(server)) == 2 and rows["text"].tolist() == table["text"].tolist()
    offline = preview(generator, SEEDS.head(1), taxonomy=PAPER_TAXONOMY)  # no store: nothing cached, still a full table
    assert offline["text"].tolist() == table["text"].iloc[:2].tolist()


def test_ledger_groups_calls_by_backend_and_model(server, store):
    _generator(server).generate(store, SEEDS)
    table = ledger(store)
    assert table[["backend", "model", "calls"]].values.tolist() == [["openai", "fault-model", 3]]
    calls = store.llm_calls()
    assert table["completion_tokens"].iloc[0] == calls["completion_tokens"].sum()
    assert table["cost_usd"].iloc[0] == 0.0  # an unpriced model on loopback costs nothing


def test_a_seed_store_keeps_its_cache_for_the_same_code_and_rebuilds_for_another(tmp_path):
    from alsafe.generate import seed_store

    with FaultServer() as server:
        backend = OpenAIBackend("fault-model", base_url=server.base_url, max_concurrency=1)
        with seed_store(tmp_path / "seeds.sqlite", SEEDS, PAPER_TAXONOMY, params={"code": "a"}) as store:
            Generator(backend, filters=FILTERS).preview(SEEDS, store=store)
            assert len(store.llm_calls()) == len(SEEDS)
        with seed_store(tmp_path / "seeds.sqlite", SEEDS.head(1), PAPER_TAXONOMY, params={"code": "a"}) as store:
            assert len(store.llm_calls()) == len(SEEDS) and len(store.items()) == len(SEEDS)  # kept
        with seed_store(tmp_path / "seeds.sqlite", SEEDS.head(1), PAPER_TAXONOMY, params={"code": "b"}) as store:
            assert store.llm_calls().empty and store.items()["id"].tolist() == SEEDS["id"].head(1).tolist()
