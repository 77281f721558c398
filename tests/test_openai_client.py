"""The one OpenAI-compatible client: its retry policy (backoff, seeded jitter, Retry-After, one deadline),
its key rule (the same for chat and embeddings) and its classification of failures."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import openai
import pytest

from alsafe.exceptions import EmbeddingEndpointError
from alsafe.generate import BackendUnavailable, OpenAIBackend
from alsafe.learn.endpoint_embedder import EndpointEmbedder
from alsafe.openai_client import (PLACEHOLDER_KEY, MalformedAnswer, MalformedEmbeddings, RetryPolicy, api_key,
                                  classify, retry_after_s)
from tests.servers.fault_server import FaultServer
from tests.servers.llama_server import free_port

MISSING = "Set the environment variable OPENAI_API_KEY to your OpenAI API key (the key is read from the environment only)."


def _status_error(status: int, headers: dict | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/embeddings")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError(f"HTTP {status}", response=response, body=None)


class FakeTime:
    """A clock that moves only when slept on or when an attempt says it took time."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# -- the retry policy ----------------------------------------------------------------------------------

def _waits(seed, n=8):
    policy = RetryPolicy(max_retries=10, backoff_s=1.0, max_backoff_s=20.0, random_state=seed)
    return [policy.wait(attempt) for attempt in range(n)]


def test_waits_double_with_jitter_up_to_the_cap_and_repeat_for_the_same_seed():
    waits = _waits(0)
    for attempt, wait in enumerate(waits[:5]):  # 1, 2, 4, 8, 16 s plus 0-25 %
        assert 2 ** attempt <= wait <= 1.25 * 2 ** attempt
    assert all(later > earlier for earlier, later in zip(waits[:4], waits[1:5]))
    assert waits[5:] == [20.0, 20.0, 20.0]  # capped
    assert _waits(0) == waits
    assert _waits(1)[:5] != waits[:5]


def test_retry_after_in_seconds_or_as_a_date_is_a_floor_on_the_wait():
    policy = RetryPolicy(backoff_s=0.01, max_backoff_s=2.0)
    assert policy.wait(0, retry_after=7.0) == 7.0
    assert policy.wait(0, retry_after=30.0) == 30.0  # the server asks for longer than our cap: it gets it
    now = 1_700_000_000.0
    assert retry_after_s("3") == 3.0 and retry_after_s("1.5") == 1.5 and retry_after_s("-4") == 0.0
    assert retry_after_s(email.utils.formatdate(now + 120, usegmt=True), now=now) == pytest.approx(120.0)
    assert retry_after_s(email.utils.formatdate(now - 120, usegmt=True), now=now) == 0.0
    assert [retry_after_s(v) for v in (None, "", "soon", "nan", "inf")] == [None] * 5


@pytest.mark.parametrize("header", ["7", "date"])
def test_a_429_with_retry_after_is_retried_after_at_least_that_long(header):
    value = "7" if header == "7" else email.utils.formatdate(time.time() + 8, usegmt=True)
    errors = [_status_error(429, {"Retry-After": value})]
    fake = FakeTime()

    def attempt(left):
        if errors:
            raise errors.pop()
        return "vectors"

    outcome = RetryPolicy(backoff_s=0.01, deadline_s=30.0).run(attempt, sleep=fake.sleep, clock=fake.clock)
    assert (outcome.ok, outcome.value, outcome.attempts) == (True, "vectors", 2)
    assert len(fake.slept) == 1 and fake.slept[0] >= 7.0 and outcome.waits == fake.slept


def test_a_wait_that_would_pass_the_deadline_ends_the_call():
    fake = FakeTime()

    def attempt(left):
        fake.now += 1.0  # each attempt takes a second, then times out
        raise TimeoutError

    policy = RetryPolicy(max_retries=100, backoff_s=1.0, max_backoff_s=60.0, deadline_s=10.0)
    outcome = policy.run(attempt, sleep=fake.sleep, clock=fake.clock)
    # attempt 1 ends at 1 s, waits 1-1.25; attempt 2 ends by 3.25 s, waits 2-2.5; attempt 3 ends by 6.75 s and a
    # 4-5 s wait would pass 10 s
    assert (outcome.ok, outcome.attempts, len(outcome.waits)) == (False, 3, 2)
    assert (outcome.problem, outcome.no_answer) == ("timed out", True)
    assert fake.now < 10.0


def test_a_retry_after_past_the_deadline_ends_the_call_at_once():
    fake = FakeTime()

    def attempt(left):
        raise _status_error(503, {"Retry-After": "120"})

    outcome = RetryPolicy(deadline_s=50.0).run(attempt, sleep=fake.sleep, clock=fake.clock)
    assert (outcome.attempts, outcome.problem, outcome.no_answer, fake.slept) == (1, "HTTP 503", False, [])


def test_the_async_loop_waits_as_the_sync_one_does():
    def failing(times):
        errors = [_status_error(500)] * times

        def attempt(left):
            if errors:
                raise errors.pop()
            return "ok"
        return attempt

    fake = FakeTime()
    sync = RetryPolicy(backoff_s=0.5, random_state=3).run(failing(3), sleep=fake.sleep, clock=fake.clock)

    async def run_async():
        slept, attempt = [], failing(3)

        async def sleep(seconds):
            slept.append(seconds)

        async def call(left):
            return attempt(left)

        return await RetryPolicy(backoff_s=0.5, random_state=3).arun(call, sleep=sleep, clock=lambda: 0.0), slept

    outcome, slept = asyncio.run(run_async())
    assert sync.attempts == outcome.attempts == 4 and sync.ok and outcome.ok
    assert sync.waits == outcome.waits == slept == fake.slept and len(slept) == 3


@pytest.mark.parametrize("error, retryable, reason", [
    (_status_error(429), True, "HTTP 429"),
    (_status_error(408), True, "HTTP 408"),
    (_status_error(502), True, "HTTP 502"),
    (_status_error(400), False, "HTTP 400"),
    (_status_error(401), False, "HTTP 401"),
    (TimeoutError(), True, "timed out"),
    (openai.APIConnectionError(request=httpx.Request("GET", "http://127.0.0.1:9")), True, "connection failed"),
    (ValueError("Expecting value: line 1 column 1"), True, "malformed JSON in the answer"),
    (MalformedAnswer("an empty answer"), False, "an empty answer"),
    (MalformedEmbeddings("2 vectors for 3 texts"), False, "2 vectors for 3 texts"),
    (KeyError("sk-secret"), False, "KeyError"),
])
def test_one_place_decides_what_is_retried(error, retryable, reason):
    failure = classify(error)
    assert (failure.retryable, failure.reason) == (retryable, reason)


def test_bad_policy_parameters_are_named():
    for params, message in [({"max_retries": -1}, "max_retries must be a non-negative integer, not -1"),
                            ({"backoff_s": -0.5}, "backoff_s must be a number of seconds >= 0, not -0.5"),
                            ({"deadline_s": 0}, "deadline_s must be a number of seconds > 0, not 0")]:
        with pytest.raises(ValueError, match=message):
            RetryPolicy(**params)


# -- the key rule --------------------------------------------------------------------------------------

def test_openai_itself_without_a_key_is_the_same_sentence_for_chat_and_embeddings(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for base_url in (None, "", "https://api.openai.com/v1"):
        with pytest.raises(ValueError) as error:
            api_key(base_url, "OPENAI_API_KEY")
        assert str(error.value) == MISSING
        with pytest.raises(BackendUnavailable) as chat:
            OpenAIBackend("gpt-4o-mini", base_url=base_url).validate()
        assert str(chat.value) == MISSING
    with pytest.raises(EmbeddingEndpointError) as embeddings:
        EndpointEmbedder("text-embedding-3-small", "https://api.openai.com/v1", cache=False).transform(["x"])
    assert str(embeddings.value) == MISSING
    monkeypatch.setenv("OPENAI_API_KEY", "   ")  # blank is unset
    with pytest.raises(ValueError, match="^Set the environment variable OPENAI_API_KEY "):
        api_key(None, "OPENAI_API_KEY")
    with pytest.raises(ValueError, match="^Set api_key_env to the name of the environment variable"):
        api_key(None, None)


def test_any_other_server_without_a_key_gets_the_placeholder_from_both_clients(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for base_url in ("http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "https://gpu-box.example:8000/v1"):
        assert api_key(base_url, "OPENAI_API_KEY") == PLACEHOLDER_KEY
    with FaultServer() as server:
        OpenAIBackend("fault-model", base_url=server.base_url).check()
        EndpointEmbedder("fault-embed", server.base_url, cache=tmp_path / "cache").transform(["x"])
        assert [r.headers.get("authorization") for r in server.requests] == [f"Bearer {PLACEHOLDER_KEY}"] * 3


def test_a_set_key_is_read_at_call_time_and_in_no_message(monkeypatch, tmp_path):
    secret = "sk-alsafe-FAKE-client-93d1"
    monkeypatch.setenv("ALSAFE_TEST_KEY", secret)
    assert api_key(None, "ALSAFE_TEST_KEY") == secret and api_key("http://127.0.0.1:9/v1", "ALSAFE_TEST_KEY") == secret
    backend = OpenAIBackend("m", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key_env="ALSAFE_TEST_KEY")
    embedder = EndpointEmbedder("m", f"http://127.0.0.1:{free_port()}/v1", api_key_env="ALSAFE_TEST_KEY",
                                deadline_s=0.5, cache=False)
    messages = [repr(backend), repr(RetryPolicy())]
    with pytest.raises(BackendUnavailable) as chat:
        backend.check(timeout_s=2)
    with pytest.raises(EmbeddingEndpointError) as embeddings:
        embedder.transform(["x"])
    messages += [str(chat.value), str(embeddings.value), repr(vars(embedder)), repr(vars(backend))]
    assert "connection failed" in messages[2] and "connection failed" in messages[3]
    assert not [m for m in messages if secret in m]
    monkeypatch.setenv("ALSAFE_TEST_KEY", "sk-rotated")  # read again, not remembered
    assert api_key(None, "ALSAFE_TEST_KEY") == "sk-rotated"
