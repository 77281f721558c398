"""The openai backend against a misbehaving loopback server: retries, Retry-After, timeouts, cost, secrecy."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from alsafe.generate import (BackendUnavailable, GenerationError, Generator, OpenAIBackend, QualityFilter,
                             RefusalFilter, DuplicateFilter)
from tests.servers.fault_server import FaultServer
from tests.servers.llama_server import free_port
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY

SEEDS = pd.DataFrame({"id": ["s1", "s2"], "text": ["What is this rash?", "Motion to balance out child support"],
                      "label": ["medical-advice", "legal-advice"]})
FILTERS = [QualityFilter(), RefusalFilter(), DuplicateFilter()]


@pytest.fixture
def store(tmp_path):
    with RunStore.create(tmp_path / "run.sqlite", PAPER_TAXONOMY) as s:
        s.add_items(SEEDS, role="labeled")
        yield s


@pytest.fixture
def server():
    with FaultServer(hang_s=2.0) as running:
        yield running


def _backend(server, **options):
    options = {"model": "fault-model", "backoff_s": 0.01, "max_concurrency": 1, "timeout_s": 5.0, **options}
    return OpenAIBackend(base_url=server.base_url, **options)


def _posts(server):
    return [r for r in server.requests if r.path.endswith("completions")]


def test_429_waits_for_retry_after_then_succeeds(server, store):
    server.enqueue("429", retry_after=1)
    rows = Generator(_backend(server), filters=FILTERS).generate(store, SEEDS.head(1))
    first, second = _posts(server)
    assert second.received_at - first.received_at >= 0.95  # backoff alone would wait ~0.01 s
    assert len(rows) == 5 and (rows["status"] == "accepted").all()


@pytest.mark.parametrize("fault", ["500", "malformed", "hang"])
def test_transient_faults_are_retried(server, store, fault):
    server.enqueue(fault, times=2 if fault != "hang" else 1)
    backend = _backend(server, timeout_s=0.5)
    rows = Generator(backend, filters=FILTERS).generate(store, SEEDS.head(1))
    assert len(_posts(server)) == (3 if fault != "hang" else 2)
    assert rows["text"].nunique() == 5
    assert store.cost_summary()["calls"] == 1  # only the answered call is in the ledger


def test_failure_after_retries_names_the_endpoint_keeps_the_rest_and_resumes(server, store):
    server.enqueue("500", times=3)  # s1's call and its two retries; s2 is answered
    generator = Generator(_backend(server, max_retries=2), filters=FILTERS)
    with pytest.raises(GenerationError, match=r"1 of 2 seeds got no answer \(first: seed s1: .*HTTP 500"):
        generator.generate(store, SEEDS, round=1)
    assert set(store.variations()["seed_id"]) == {"s2"}
    assert generator.report_.set_index("seed_id").loc["s1", "error"].endswith("after 3 attempt(s): HTTP 500.")
    before = len(_posts(server))
    rows = generator.generate(store, SEEDS, round=1)
    assert len(_posts(server)) - before == 1  # only s1 is asked again
    assert rows.groupby("seed_id").size().to_dict() == {"s1": 5, "s2": 5}


def test_skip_mode_reports_the_failure_instead_of_raising(server, store):
    server.enqueue("500", times=1)
    generator = Generator(_backend(server, max_retries=0), filters=FILTERS, on_error="skip")
    rows = generator.generate(store, SEEDS)
    assert list(rows["seed_id"].unique()) == ["s2"]
    assert generator.report_["error"].notna().tolist() == [True, False]


def test_fewer_variations_than_asked_are_reported(server, store):
    server.enqueue("short")
    generator = Generator(_backend(server), filters=FILTERS)
    rows = generator.generate(store, SEEDS.head(1))
    report = generator.report_.iloc[0]
    assert (report["asked"], report["returned"], report["accepted"]) == (5, 3, 3)
    assert len(rows) == 3


def test_concurrency_is_bounded_and_one_request_per_call(store):
    with FaultServer(delay_s=0.3) as server:
        seeds = pd.DataFrame({"id": [f"c{i}" for i in range(8)], "text": [f"title number {i}" for i in range(8)],
                              "label": ["discard"] * 8})
        store.add_items(seeds, role="pool")
        Generator(_backend(server, max_concurrency=4), filters=[]).generate(store, seeds)
        posts = _posts(server)
    assert len(posts) == 8
    assert server.max_in_flight == 4
    assert all("n" not in r.body for r in posts)  # never n > 1: llama.cpp answers one choice anyway


def test_one_call_per_sample_index_sends_distinct_seeds(server, store):
    generator = Generator(_backend(server, random_state=7), filters=[], variations_per_call=1, n_variations=3)
    rows = generator.generate(store, SEEDS.head(1))
    bodies = [r.body for r in _posts(server)]
    assert sorted(b["seed"] for b in bodies) == [7, 8, 9]
    assert all("Write 1 different variation of" in b["messages"][1]["content"] for b in bodies)
    assert rows["sample_index"].tolist() == [0, 1, 2]


def test_cost_ledger_uses_the_price_table_and_token_counts(server, store):
    backend = _backend(server, prices={"fault-model": (1.0, 2.0)})
    Generator(backend, filters=FILTERS).generate(store, SEEDS)
    calls = store.llm_calls()
    assert len(calls) == 2 and (calls["prompt_tokens"] > 0).all() and (calls["completion_tokens"] > 0).all()
    expected = ((calls["prompt_tokens"] * 1.0 + calls["completion_tokens"] * 2.0) / 1e6).tolist()
    assert calls["cost_usd"].tolist() == pytest.approx(expected)
    assert store.cost_summary()["cost_usd"] == pytest.approx(sum(expected))
    assert (calls["latency_s"] > 0).all()
    assert OpenAIBackend("gpt-3.5-turbo-0125").cost(1_000_000, 1_000_000) == pytest.approx(2.0)
    assert OpenAIBackend("my-model", base_url="http://127.0.0.1:9/v1").cost(10, 10) == 0.0
    assert OpenAIBackend("my-model", base_url="http://gpu-box.example:8000/v1").cost(10, 10) is None


def test_check_answers_or_raises_one_sentence(server):
    _backend(server).check()
    port = free_port()
    with pytest.raises(BackendUnavailable) as error:
        OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1").check(timeout_s=2)
    assert str(error.value) == (f"The OpenAI-compatible endpoint http://127.0.0.1:{port}/v1 did not answer "
                                "(connection failed); start the server or fix base_url.")


def test_missing_key_for_openai_itself_is_one_sentence_before_any_work(monkeypatch, store):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendUnavailable, match=r"^Set the environment variable OPENAI_API_KEY to your OpenAI "):
        Generator(OpenAIBackend("gpt-3.5-turbo"), filters=[]).generate(store, SEEDS)
    assert store.cost_summary()["calls"] == 0


def test_api_key_never_reaches_store_logs_or_messages(server, store, tmp_path, monkeypatch, caplog):
    secret = "sk-alsafe-FAKE-7c41d9e2b0"
    monkeypatch.setenv("ALSAFE_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    backend = _backend(server, api_key_env="ALSAFE_TEST_KEY", max_retries=1)
    server.enqueue("429", retry_after=0)
    server.enqueue("500", times=2)  # s2 fails for good: an exception message to inspect
    generator = Generator(backend, filters=FILTERS)
    with pytest.raises(GenerationError) as error:
        generator.generate(store, SEEDS)
    generator.generate(store, SEEDS)
    assert all(r.headers.get("authorization") == f"Bearer {secret}" for r in _posts(server))  # the key was used
    texts = [str(error.value), repr(error.value), repr(backend), caplog.text, generator.report_.to_csv(),
             json.dumps(vars(backend), default=str)]
    assert not [t for t in texts if secret in t]
    assert error.value.__context__ is None and error.value.__cause__ is None
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "run.sqlite" for p in written)
    assert [p for p in written if secret.encode() in p.read_bytes()] == []


# -- endpoints that fail fast and loud -----------------------------------------------------------------

@pytest.mark.parametrize("fault, reason", [("not_openai", "an HTTP 200 answer without `choices`"),
                                           ("empty", "an empty answer")])
def test_an_answer_that_is_not_a_completion_is_an_error_and_never_cached(server, store, fault, reason):
    server.enqueue(fault)
    with pytest.raises(GenerationError, match=rf"{server.base_url} failed for model 'fault-model' after 1 attempt\(s\): "
                                              rf"{reason}"):
        Generator(_backend(server), filters=FILTERS).generate(store, SEEDS.head(1))
    assert store.llm_calls().empty and store.variations().empty  # nothing cached: a rerun asks again
    rows = Generator(_backend(server), filters=FILTERS).generate(store, SEEDS.head(1))
    assert len(rows) == 5 and store.cost_summary()["calls"] == 1


def test_a_server_that_never_answers_ends_within_the_deadline_and_then_at_once(store):
    import time

    with FaultServer(hang_s=60.0) as silent:
        silent.enqueue("hang", times=100)
        backend = _backend(silent, timeout_s=1.0, connect_timeout_s=1.0, deadline_s=2.5, max_retries=10)
        started = time.monotonic()
        with pytest.raises(GenerationError, match=rf"{silent.base_url} is not answering \(timed out"):
            Generator(backend, filters=FILTERS).generate(store, SEEDS)  # two seeds: the second fails at once
        assert time.monotonic() - started < 6
        assert store.llm_calls().empty


def test_a_refused_connection_ends_fast_naming_url_and_cause(store):
    import time

    base_url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend("m", base_url=base_url, backoff_s=0.05, deadline_s=3.0)
    started = time.monotonic()
    with pytest.raises(GenerationError, match=rf"{base_url} is not answering \(connection failed"):
        Generator(backend, filters=FILTERS).generate(store, SEEDS)
    assert time.monotonic() - started < 5  # the default deadline (50 s) bounds it within a minute too
    assert OpenAIBackend("m").deadline_s < 60


def test_check_refuses_an_endpoint_whose_answers_are_not_openai_shaped():
    with FaultServer(bare=True) as bare:
        with pytest.raises(BackendUnavailable, match=rf"{bare.base_url} did not answer \(its /models answer holds no "
                                                     "model list\\)"):
            _backend(bare).check()
    with FaultServer() as healthy:
        _backend(healthy).check()
        assert [r.path for r in healthy.requests] == ["/v1/models", "/v1/chat/completions"]


def test_the_call_ledger_records_the_seed_cap(server, store):
    Generator(_backend(server), filters=FILTERS).generate(store, SEEDS.head(1))
    params = store.llm_calls()["params"].iloc[0]
    params = json.loads(params) if isinstance(params, str) else params
    assert params["seed_cap"] == 300 and params["seed_cut"] is False and params["seed_chars"] == 18


def test_the_deadline_counts_from_a_calls_turn_not_from_its_wait_in_the_queue(store):
    """One call at a time against a slow server: later calls queue longer than the deadline and still succeed."""
    with FaultServer(delay_s=0.6) as slow:
        backend = _backend(slow, max_concurrency=1, deadline_s=1.5)
        seeds = pd.DataFrame({"id": [f"q{i}" for i in range(4)], "text": [f"Question number {i} about rent" for i in
                                                                          range(4)], "label": "legal-advice"})
        store.add_items(seeds, role="labeled")
        rows = Generator(backend, filters=[]).generate(store, seeds)  # the last call waits ~1.8 s for its turn
        assert rows["seed_id"].nunique() == 4 and store.cost_summary()["calls"] == 4


def test_concurrency_against_a_loopback_server_is_configurable():
    from alsafe.generate import make_backend

    assert make_backend("openai", model="m", base_url="http://127.0.0.1:8080/v1").max_concurrency == 1
    assert make_backend("openai", model="m", base_url="http://localhost:8080/v1").max_concurrency == 1
    assert make_backend("openai", model="m", base_url="http://127.0.0.1:8080/v1", max_concurrency=4).max_concurrency == 4
    assert make_backend("openai", model="m", base_url="https://example.invalid/v1").max_concurrency == 8
