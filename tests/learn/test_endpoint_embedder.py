"""Embeddings through an OpenAI-compatible /embeddings endpoint: the loopback fault server's vectors, cached like
the local embedder's; every fault ends within the deadline in one sentence with nothing cached; the key stays secret."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from alsafe.exceptions import EmbeddingEndpointError
from alsafe.learn.endpoint_embedder import EndpointEmbedder
from alsafe.names import UnknownName, parse_vectorizer
from alsafe.learn.learners import make_learner
from alsafe.learn.vectorize import make_vectorizer
from tests.servers.fault_server import FaultServer, fake_embedding
from tests.servers.llama_server import free_port

TEXTS = ["my landlord kept my deposit", "landlord refuses to return security deposit",
         "tenant evicted without notice", "rent increase in the middle of my lease",
         "my boss did not pay overtime", "employer withholding my final paycheck",
         "fired for asking about wages", "manager makes me work off the clock"]
LABELS = ["housing"] * 4 + ["employment"] * 4


@pytest.fixture
def server():
    with FaultServer(hang_s=3.0) as running:
        yield running


def _embedder(server, tmp_path, **options):
    options = {"batch_size": 3, "cache": tmp_path / "cache", "timeout_s": 5.0, **options}
    return EndpointEmbedder("fault-embed", server.base_url, **options)


def _posts(server):
    return [r for r in server.requests if r.path.endswith("/embeddings")]


def _cached(tmp_path) -> int:
    files = list((tmp_path / "cache").rglob("vectors.sqlite"))
    if not files:
        return 0
    import sqlite3

    with sqlite3.connect(files[0]) as connection:
        return connection.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


def test_vectors_come_from_the_endpoint_in_order_unit_length_and_cached(server, tmp_path):
    embedder = _embedder(server, tmp_path)
    vectors = embedder.transform(TEXTS[:7] + [TEXTS[0]])  # a duplicate is sent once
    expected = np.array([fake_embedding(t) for t in TEXTS[:7] + [TEXTS[0]]])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.shape == (8, 8) and vectors.dtype == np.float32
    assert np.allclose(vectors, expected, atol=1e-6)
    assert len(_posts(server)) == 3 and embedder.n_embedded_ == 7  # batches of 3: 3 + 3 + 1
    assert [r.body["input"] for r in _posts(server)][2] == [TEXTS[6]]
    assert all(r.body["model"] == "fault-embed" and r.body["encoding_format"] == "float" for r in _posts(server))
    again = _embedder(server, tmp_path)
    assert np.array_equal(again.transform(TEXTS[:7]), vectors[:7])
    assert again.n_from_cache_ == 7 and again.n_requests_ == 0 and len(_posts(server)) == 3


def test_is_a_vectorizer_and_an_embedding_lr_model_by_name(server, tmp_path):
    name = f"fault-embed@{server.base_url}"
    served = parse_vectorizer(name).model
    assert (served.source, served.name, served.base_url) == ("served", "fault-embed", server.base_url)
    assert parse_vectorizer("all-MiniLM-L6-v2").kind == "sentence"
    vectorizer = make_vectorizer(name, cache=tmp_path / "cache")
    assert isinstance(vectorizer, EndpointEmbedder) and vectorizer.transform(TEXTS[:2]).shape == (2, 8)
    learner = make_learner(f"embedding-lr:{name}", classes=["employment", "housing"], cache=tmp_path / "cache")
    proba = learner.fit(TEXTS, LABELS).predict_proba(TEXTS)
    assert isinstance(learner.embedder_, EndpointEmbedder) and proba.shape == (8, 2)
    assert np.allclose(proba.sum(axis=1), 1)
    with pytest.raises(UnknownName, match="a served model is written '<model>@<base_url>'"):
        parse_vectorizer("a@b")


def test_a_rate_limit_and_a_server_error_are_retried(server, tmp_path):
    server.enqueue("429", retry_after=0)
    server.enqueue("500")
    embedder = _embedder(server, tmp_path, batch_size=8)
    assert embedder.transform(TEXTS).shape == (8, 8)
    assert embedder.n_requests_ == 3 and _cached(tmp_path) == 8


def test_a_429_with_retry_after_is_retried_after_waiting_at_least_that_long(server, tmp_path):
    server.enqueue("429", retry_after=1)
    embedder = _embedder(server, tmp_path, backoff_s=0.01)
    assert embedder.transform(TEXTS[:3]).shape == (3, 8)
    first, second = _posts(server)
    assert embedder.n_requests_ == 2 and embedder.retry_waits_ == [1.0]  # backoff alone would wait ~0.01 s
    assert second.received_at - first.received_at >= 0.95


def test_the_jitter_between_retries_is_seeded(server, tmp_path):
    def waits(random_state):
        server.enqueue("500", times=3)
        embedder = _embedder(server, tmp_path, cache=False, backoff_s=0.01, random_state=random_state)
        embedder.transform(TEXTS[:3])
        assert embedder.n_requests_ == 4
        return embedder.retry_waits_

    first = waits(0)
    assert len(first) == 3 and first == waits(0) and first != waits(1)
    assert all(0.01 * 2 ** i <= wait <= 0.0125 * 2 ** i for i, wait in enumerate(first))


def test_an_endpoint_that_always_fails_ends_within_its_deadline_naming_the_url(server, tmp_path):
    server.enqueue("500", times=200)
    embedder = _embedder(server, tmp_path, max_retries=100, backoff_s=0.1, max_backoff_s=0.2, deadline_s=1.5)
    with pytest.raises(EmbeddingEndpointError) as error:
        embedder.transform(TEXTS[:3])
    attempts = embedder.n_requests_
    assert str(error.value) == (f"The embeddings endpoint {server.base_url} gave no vectors for model 'fault-embed' "
                                f"(HTTP 500, {attempts} attempt(s) within 1.5 s); start the server or fix the URL. "
                                "Nothing was cached for these texts.")
    assert 3 <= attempts < 101 and len(embedder.retry_waits_) == attempts - 1  # the deadline ended it, not the retries
    assert sum(embedder.retry_waits_) < 1.5 and _cached(tmp_path) == 0


@pytest.mark.parametrize("fault, reason, requests", [
    ("not_openai", "an HTTP 200 answer without `data` (not an OpenAI-compatible embeddings answer)", 1),
    ("empty", "an HTTP 200 answer without `data`", 1),
    ("short", "2 vectors for 3 texts", 1),
    ("malformed", "malformed JSON in the answer", 2),
    ("500", "HTTP 500", 2),
])
def test_a_bad_answer_fails_in_one_sentence_and_caches_nothing(server, tmp_path, fault, reason, requests):
    server.enqueue(fault, times=5)
    embedder = _embedder(server, tmp_path, max_retries=1)
    with pytest.raises(EmbeddingEndpointError) as error:
        embedder.transform(TEXTS[:3])
    message = str(error.value)
    assert message.startswith(f"The embeddings endpoint {server.base_url} gave no vectors for model 'fault-embed'")
    assert reason in message and "Nothing was cached" in message
    assert embedder.n_requests_ == requests and _cached(tmp_path) == 0
    assert error.value.__context__ is None  # nothing chained that could hold the request
    server._faults.clear()
    assert _embedder(server, tmp_path).transform(TEXTS[:3]).shape == (3, 8)  # a rerun asks again
    assert _cached(tmp_path) == 3


def test_a_silent_server_and_a_refused_port_end_within_the_deadline(server, tmp_path):
    server.enqueue("hang", times=10)
    started = time.monotonic()
    with pytest.raises(EmbeddingEndpointError, match=r"\(timed out, \d attempt\(s\) within 2.5 s\)"):
        _embedder(server, tmp_path, timeout_s=1.0, deadline_s=2.5).transform(TEXTS[:3])
    assert time.monotonic() - started < 6
    refused = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(EmbeddingEndpointError, match=rf"endpoint {refused} .*\(connection failed"):
        EndpointEmbedder("m", refused, deadline_s=3.0, cache=tmp_path / "cache").transform(TEXTS[:3])
    assert time.monotonic() - started < 5
    assert _cached(tmp_path) == 0


def test_the_key_is_sent_and_appears_in_no_message_log_or_file(server, tmp_path, monkeypatch, caplog):
    secret = "sk-alsafe-FAKE-embed-5e1f0a"
    monkeypatch.setenv("ALSAFE_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    embedder = _embedder(server, tmp_path, api_key_env="ALSAFE_TEST_KEY", max_retries=0)
    embedder.transform(TEXTS[:3])
    server.enqueue("500")
    with pytest.raises(EmbeddingEndpointError) as error:
        embedder.transform(TEXTS[3:6])
    assert all(r.headers.get("authorization") == f"Bearer {secret}" for r in _posts(server))  # the key was used
    texts = [str(error.value), repr(error.value), caplog.text, json.dumps(vars(embedder), default=str)]
    assert not [t for t in texts if secret in t]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and [p for p in written if secret.encode() in p.read_bytes()] == []


def test_openai_without_a_key_and_bad_parameters_are_named(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EmbeddingEndpointError, match="Set the environment variable OPENAI_API_KEY"):
        EndpointEmbedder("text-embedding-3-small", "https://api.openai.com/v1", cache=False).transform(["x"])
    for params, message in [({"base_url": "localhost:8000"}, "base_url must be an http:// or https:// URL"),
                            ({"batch_size": 0}, "batch_size must be a positive integer, not 0"),
                            ({"deadline_s": -1}, "deadline_s must be a number of seconds > 0, not -1"),
                            ({"max_retries": -1}, "max_retries must be a non-negative integer, not -1"),
                            ({"backoff_s": -1}, "backoff_s must be a number of seconds >= 0, not -1")]:
        with pytest.raises(ValueError, match=message):
            EndpointEmbedder(**{"model": "m", "base_url": "http://127.0.0.1:1/v1", **params}).transform(["x"])
