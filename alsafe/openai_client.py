"""One client for OpenAI-compatible endpoints (OpenAI, vLLM, Ollama, text-embeddings-inference, llama.cpp's
server), shared by the chat/completion backend and the embeddings client.

It holds, once: when an API key is needed (:func:`api_key`), when and how long to wait before trying again
(:class:`RetryPolicy`, :func:`classify`, :func:`retry_after_s`), how the ``openai`` client is built
(:func:`make_client`), and what a valid answer is (:func:`checked_completion`, :func:`checked_vectors`).
The key is read from the environment each time a client is built and kept nowhere else; no message here
ever holds it.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from dataclasses import dataclass, field
from datetime import timezone
from typing import Awaitable, Callable
from urllib.parse import urlparse

import numpy as np

OPENAI_HOST = "api.openai.com"
OPENAI_URL = f"https://{OPENAI_HOST}/v1"
PLACEHOLDER_KEY = "no-key"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# -- the key -------------------------------------------------------------------------------------------

def needs_key(base_url: str | None) -> bool:
    """Whether ``base_url`` is OpenAI's own API (None or empty means it): the one host that needs a real key."""
    return not base_url or urlparse(base_url).hostname == OPENAI_HOST


def is_loopback(base_url: str | None) -> bool:
    """Whether ``base_url`` points at this machine."""
    return bool(base_url) and urlparse(base_url).hostname in LOOPBACK_HOSTS


def api_key(base_url: str | None, api_key_env: str | None, error: type[Exception] = ValueError) -> str:
    """The key for ``base_url``, read now from the environment variable ``api_key_env`` (never stored).

    OpenAI's own API needs a real key; any other server is sent :data:`PLACEHOLDER_KEY` when the variable
    is unset or blank (local servers ignore it; one that wants a key answers HTTP 401).

    Raises
    ------
    error
        One sentence naming the variable, never its value, when OpenAI's API would get no key.
    """
    value = os.environ.get(api_key_env, "").strip() if api_key_env else ""
    if value:
        return value
    if not needs_key(base_url):
        return PLACEHOLDER_KEY
    if not api_key_env:
        raise error("Set api_key_env to the name of the environment variable holding your OpenAI API key "
                    "(the key is read from the environment only).")
    raise error(f"Set the environment variable {api_key_env} to your OpenAI API key "
                "(the key is read from the environment only).")


# -- the client ----------------------------------------------------------------------------------------

def timeouts(timeout_s: float, connect_timeout_s: float):
    """An ``httpx.Timeout``: ``timeout_s`` to read (and write), at most that long to connect."""
    import httpx

    return httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))


def make_client(base_url: str | None, api_key_env: str | None, timeout_s: float, connect_timeout_s: float, *,
                asynchronous: bool = False, error: type[Exception] = ValueError):
    """An ``openai.OpenAI`` (or ``AsyncOpenAI``) for ``base_url`` (None: OpenAI) with its own retries off.

    The key comes from :func:`api_key` (``error`` is raised when OpenAI's API has none); retries are
    :class:`RetryPolicy`'s, which honours ``Retry-After``, seeds its jitter and keeps one deadline.
    """
    import openai

    kind = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return kind(api_key=api_key(base_url, api_key_env, error), base_url=base_url or None,
                timeout=timeouts(timeout_s, connect_timeout_s), max_retries=0)


# -- what went wrong -----------------------------------------------------------------------------------

class MalformedResponse(ValueError):
    """An HTTP 200 whose body is not the OpenAI-shaped answer asked for (never cached, never retried)."""


class MalformedAnswer(MalformedResponse):
    """An HTTP 200 whose body is not a usable chat or text completion."""


class MalformedEmbeddings(MalformedResponse):
    """An HTTP 200 whose body is not an embeddings answer for the texts sent."""


@dataclass(frozen=True)
class Failure:
    """What one failed attempt means: whether to retry, a short secret-free reason, whether the endpoint
    gave no answer at all (refused, unreachable, silent), and the server's ``Retry-After`` in seconds."""

    retryable: bool
    reason: str
    no_answer: bool = False
    retry_after: float | None = None


def classify(error: Exception) -> Failure:
    """The one rule for which failures are retried: HTTP 408, 429 and 5xx, timeouts, failed connections
    and unparseable JSON are; other HTTP statuses, well-formed answers of the wrong shape and anything
    else are not."""
    import openai

    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        return Failure(status in (408, 429) or status >= 500, f"HTTP {status}",
                       retry_after=retry_after_s(error.response.headers.get("retry-after")))
    if isinstance(error, MalformedResponse):
        return Failure(False, str(error))
    if isinstance(error, (openai.APITimeoutError, TimeoutError)):
        return Failure(True, "timed out", no_answer=True)
    if isinstance(error, openai.APIConnectionError):
        return Failure(True, "connection failed", no_answer=True)
    if isinstance(error, (ValueError, openai.APIResponseValidationError)):
        return Failure(True, "malformed JSON in the answer")
    return Failure(False, type(error).__name__)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (a number of seconds or an HTTP date), None if unreadable.

    ``now`` is the Unix time a date is measured from (the current time by default).
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # "-0000": a date in UTC from a sender that does not say its zone
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


# -- when to try again ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    """How one call under a :class:`RetryPolicy` went (the failures themselves are not kept: they may
    hold the request)."""

    ok: bool = False
    value: object = None
    attempts: int = 0
    problem: str = "no attempt made"
    no_answer: bool = True  # every failed attempt got no answer at all
    waits: list = field(default_factory=list)


class RetryPolicy:
    """Exponential backoff with seeded jitter, never shorter than ``Retry-After``, within one deadline.

    Parameters
    ----------
    max_retries : int
        Further attempts after a retryable failure (see :func:`classify`).
    backoff_s, max_backoff_s : float
        Wait after the first failure, and the longest backoff: it doubles per attempt, plus 0-25 % jitter.
        A server's ``Retry-After`` may ask for longer, and gets it.
    deadline_s : float
        Seconds one call may take in all, attempts and waits included; a wait that would pass it ends the call.
    random_state : int, numpy.random.Generator or None
        Seeds the jitter (the same seed, the same waits).
    """

    def __init__(self, max_retries: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 deadline_s: float = 50.0, random_state=0):
        if isinstance(max_retries, bool) or not isinstance(max_retries, (int, np.integer)) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, not {max_retries!r}.")
        for name, value, low in (("backoff_s", backoff_s, 0), ("max_backoff_s", max_backoff_s, 0),
                                 ("deadline_s", deadline_s, None)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or (value < low if low is not None else value <= 0):
                raise ValueError(f"{name} must be a number of seconds {'>= 0' if low is not None else '> 0'}, "
                                 f"not {value!r}.")
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.deadline_s = float(deadline_s)
        self.rng = np.random.default_rng(random_state)

    def __repr__(self) -> str:
        return (f"RetryPolicy(max_retries={self.max_retries}, backoff_s={self.backoff_s:g}, "
                f"max_backoff_s={self.max_backoff_s:g}, deadline_s={self.deadline_s:g})")

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0 for the first), at least ``retry_after``."""
        backoff = self.backoff_s * 2.0 ** min(attempt, 60) * (1 + 0.25 * self.rng.random())
        wait = min(backoff, self.max_backoff_s)
        return wait if retry_after is None else max(wait, retry_after)

    def run(self, attempt: Callable[[float], object], sleep: Callable[[float], object] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> Outcome:
        """Call ``attempt(seconds_left)`` until it returns, a failure is not retryable, the retries are
        spent, or the next wait would pass the deadline."""
        outcome, deadline = Outcome(), clock() + self.deadline_s
        for index in range(self.max_retries + 1):
            left = deadline - clock()
            if left <= 0:
                outcome.problem = "timed out"
                break
            outcome.attempts = index + 1
            try:
                outcome.value = attempt(left)
            except Exception as error:  # noqa: BLE001 - sorted by classify, never re-raised with its context
                wait = self._after_failure(outcome, error, index, deadline - clock())
                if wait is None:
                    break
                sleep(wait)
                continue
            outcome.ok = True
            break
        return outcome

    async def arun(self, attempt: Callable[[float], Awaitable], sleep: Callable[[float], Awaitable] | None = None,
                   clock: Callable[[], float] = time.monotonic) -> Outcome:
        """:meth:`run` for an ``async`` ``attempt`` (``asyncio.sleep`` between attempts)."""
        import asyncio

        sleep = sleep or asyncio.sleep
        outcome, deadline = Outcome(), clock() + self.deadline_s
        for index in range(self.max_retries + 1):
            left = deadline - clock()
            if left <= 0:
                outcome.problem = "timed out"
                break
            outcome.attempts = index + 1
            try:
                outcome.value = await attempt(left)
            except Exception as error:  # noqa: BLE001 - sorted by classify, never re-raised with its context
                wait = self._after_failure(outcome, error, index, deadline - clock())
                if wait is None:
                    break
                await sleep(wait)
                continue
            outcome.ok = True
            break
        return outcome

    def _after_failure(self, outcome: Outcome, error: Exception, index: int, left: float) -> float | None:
        """Record a failed attempt on ``outcome``; the wait before the next, or None when the call ends."""
        failure = classify(error)
        outcome.problem = failure.reason
        outcome.no_answer = outcome.no_answer and failure.no_answer
        if not failure.retryable or index == self.max_retries:
            return None
        wait = self.wait(index, failure.retry_after)
        if wait >= left:
            return None
        outcome.waits.append(wait)
        return wait


# -- what a valid answer is ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """The parts of a chat or text completion that are kept."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


def first_choice(response):
    """The first of a completion's ``choices``, or :class:`MalformedAnswer`."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise MalformedAnswer("an HTTP 200 answer without `choices` (not an OpenAI-compatible completion)")
    return choices[0]


def checked_completion(response, chat: bool = True) -> Answer:
    """The text of a chat (``chat=True``) or text completion's first choice and its token counts, or
    :class:`MalformedAnswer` saying what is wrong (an empty text is one unless the answer hit its length)."""
    choice = first_choice(response)
    text = getattr(getattr(choice, "message", None), "content", None) if chat else getattr(choice, "text", None)
    if not isinstance(text, str):
        raise MalformedAnswer(f"an answer whose first choice has no text ({type(text).__name__})")
    finish_reason = getattr(choice, "finish_reason", None)
    if not text.strip() and finish_reason != "length":
        raise MalformedAnswer("an empty answer")
    usage = getattr(response, "usage", None)
    return Answer(text, finish_reason, getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))


def _numbers(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)


def checked_vectors(response, expected: int, pool_tokens: bool = False) -> np.ndarray:
    """An embeddings answer's vectors in input order, L2-normalised (float32), or :class:`MalformedEmbeddings`
    saying what is wrong. ``pool_tokens`` mean-pools an answer holding one vector per token instead of one per
    text (llama-cpp-python's server does this for models without a pooling layer)."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or not data:
        raise MalformedEmbeddings("an HTTP 200 answer without `data` (not an OpenAI-compatible embeddings answer)")
    if len(data) != expected:
        raise MalformedEmbeddings(f"{len(data)} vectors for {expected} texts")
    indices = [getattr(item, "index", position) for position, item in enumerate(data)]
    if sorted(indices) != list(range(expected)):
        raise MalformedEmbeddings(f"vector indices {indices[:5]}... are not 0..{expected - 1}")
    rows = [None] * expected
    for index, item in zip(indices, data):
        vector = getattr(item, "embedding", None)
        if pool_tokens and isinstance(vector, list) and vector and all(_numbers(token) for token in vector) \
                and len({len(token) for token in vector}) == 1:
            vector = np.mean(np.asarray(vector, dtype=np.float64), axis=0).tolist()
        if isinstance(vector, list) and vector and all(_numbers(token) for token in vector):
            raise MalformedEmbeddings(f"vector {index} is a list of per-token vectors (the server does not pool); "
                                      "pass pool_tokens=True to mean-pool them")
        if not _numbers(vector):
            raise MalformedEmbeddings(f"vector {index} is not a list of numbers")
        rows[index] = vector
    if len({len(row) for row in rows}) != 1:
        raise MalformedEmbeddings("vectors of different lengths in one answer")
    matrix = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise MalformedEmbeddings("a vector holds NaN or infinity")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise MalformedEmbeddings("a zero vector (it has no direction to compare)")
    return (matrix / norms).astype(np.float32)
