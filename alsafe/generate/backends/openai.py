"""The ``openai`` backend: the official client against any OpenAI-compatible endpoint.

OpenAI itself, vLLM, Ollama and ``llama_cpp.server`` all speak this protocol. Calls run concurrently
(at most ``max_concurrency`` in flight), each with a timeout, and are retried with exponential backoff
on 429, 5xx, timeouts, dropped connections and malformed answers, waiting at least as long as the
server's ``Retry-After`` asks. ``n > 1`` is never used: llama.cpp answers one choice whatever ``n`` is,
so every call is one request for one sample index.

The API key is read from the environment variable named by ``api_key_env`` when the client is opened
and is kept nowhere else: not on the backend, not in the cache key, the store, or any message.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from urllib.parse import urlparse

import numpy as np

from alsafe.generate.backends.base import (Backend, BackendUnavailable, Completion, GenerationError, Prompt, Request,
                                           run_sync)

# US dollars per million tokens (input, output); OpenAI list prices, 2025. Override with ``prices=``.
DEFAULT_PRICES = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def price_of(model: str, prices: dict) -> tuple[float, float] | None:
    """(input, output) dollars per million tokens for ``model``, by exact name or longest prefix."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


class OpenAIBackend(Backend):
    """Chat or completion calls through ``openai.AsyncOpenAI``.

    Parameters
    ----------
    model : model name sent to the endpoint (``gpt-3.5-turbo`` was the paper's).
    base_url : endpoint such as ``http://127.0.0.1:8080/v1``; None means OpenAI itself.
    api_key_env : name of the environment variable holding the key. Endpoints other than OpenAI's get
        a placeholder key when the variable is unset (local servers ignore it).
    temperature, top_p : sampling parameters (part of the cache key).
    random_state : base of the per-call ``seed`` (call ``i`` sends ``random_state + i``).
    max_concurrency : calls in flight at once (against a loopback server as much as against OpenAI).
    timeout_s : seconds one attempt may wait for the answer (read timeout).
    connect_timeout_s : seconds one attempt may take to connect.
    deadline_s : seconds one call may take in all, retries and waits included. Once a call fails to
        connect or to get any answer by then, the endpoint counts as down: later calls fail at once
        with the same sentence instead of waiting again.
    max_retries : further attempts after a retryable failure.
    backoff_s, max_backoff_s : first and largest wait between attempts (doubling, with 0-25 % jitter).
    prices : model -> (input, output) dollars per million tokens, merged over :data:`DEFAULT_PRICES`.
    style : ``chat`` (``/chat/completions``) or ``completion`` (``/completions``, few-shot prompt).
    """

    name = "openai"

    def __init__(self, model: str = "gpt-3.5-turbo", base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", temperature: float = 1.0, top_p: float | None = None,
                 random_state: int = 0, max_concurrency: int = 8, timeout_s: float = 30.0,
                 connect_timeout_s: float = 5.0, deadline_s: float = 50.0, max_retries: int = 5,
                 backoff_s: float = 1.0, max_backoff_s: float = 60.0, prices: dict | None = None,
                 style: str = "chat"):
        if style not in ("chat", "completion"):
            raise ValueError(f"style must be 'chat' or 'completion', not {style!r}.")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}.")
        for name, value in (("timeout_s", timeout_s), ("connect_timeout_s", connect_timeout_s),
                            ("deadline_s", deadline_s)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}.")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}.")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.top_p = top_p
        self.random_state = random_state
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.deadline_s = deadline_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.prices = prices
        self.style = style
        self._client = None
        self._semaphore: asyncio.Semaphore | None = None
        self._down: str | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    # -- configuration -------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    def _is_local(self) -> bool:
        return self.base_url is not None and urlparse(self.base_url).hostname in _LOOPBACK

    def validate(self) -> None:
        """Raise one sentence if the key is missing where it is needed (no network)."""
        self._api_key()

    def _api_key(self) -> str:
        value = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if value:
            return value
        if self.base_url is None:
            raise BackendUnavailable(f"Set the environment variable {self.api_key_env} to your OpenAI API key "
                                     "(the key is read from the environment only).")
        return "no-key"

    def sampling_params(self) -> dict:
        params = {"temperature": self.temperature, "seed": self.random_state}
        if self.top_p is not None:
            params["top_p"] = self.top_p
        return params

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """Dollars for one call, None when the model has no price (0 for a loopback server)."""
        price = price_of(self.model, {**DEFAULT_PRICES, **(self.prices or {})})
        if price is None:
            return 0.0 if self._is_local() else None
        return ((prompt_tokens or 0) * price[0] + (completion_tokens or 0) * price[1]) / 1e6

    def _make_client(self, timeout_s: float):
        import httpx
        import openai

        # Retries are ours (Retry-After, jitter, malformed answers, the deadline), so the client's are off.
        timeout = httpx.Timeout(timeout_s, connect=min(self.connect_timeout_s, timeout_s))
        return openai.AsyncOpenAI(api_key=self._api_key(), base_url=self.base_url, timeout=timeout, max_retries=0)

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> "OpenAIBackend":
        self._client = self._make_client(self.timeout_s)
        self._semaphore = asyncio.Semaphore(self.max_concurrency)
        self._rng = np.random.default_rng(self.random_state)
        self._down = None
        return self

    async def __aexit__(self, *exc) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def check(self, timeout_s: float = 10.0) -> None:
        """Ask the endpoint for its model list and for a one-token answer, and check both have the OpenAI
        shape; raise one sentence naming the endpoint if either does not come back as it should."""

        async def probe() -> str | None:
            client = self._make_client(min(timeout_s, self.timeout_s))
            try:
                page = await asyncio.wait_for(client.models.list(), timeout_s)
                if not getattr(page, "data", None) or not all(isinstance(getattr(m, "id", None), str) for m in page.data):
                    return "its /models answer holds no model list"
                tiny = Request(Prompt("chat", ({"role": "user", "content": "Say OK."},), "Say OK."),
                               params={"max_tokens": 1, "temperature": 0}, asked=1, call_index=0, offset=0,
                               seed_text="", seed_id="check", label="", target_label="")
                previous, self._client = self._client, client
                try:
                    await asyncio.wait_for(self._call(tiny), timeout_s)
                finally:
                    self._client = previous
                return None
            except Exception as error:  # noqa: BLE001 - any failure means "does not answer"
                return _reason(error)
            finally:
                await client.close()

        problem = run_sync(probe)
        if problem is not None:
            raise BackendUnavailable(f"The OpenAI-compatible endpoint {self.endpoint} did not answer ({problem}); "
                                     "start the server or fix base_url.")

    # -- calls ---------------------------------------------------------------------------
    async def acomplete(self, request: Request) -> Completion:
        if self._client is None:
            raise RuntimeError("Open the backend first: `async with backend:`.")
        if self._down is not None:
            raise GenerationError(self._down)
        problem, connection_only = "no attempt made", True
        async with self._semaphore:
            if self._down is not None:  # another call found the endpoint down while this one queued
                raise GenerationError(self._down)
            deadline = time.monotonic() + self.deadline_s  # from the call's turn: queueing is not its time
            for attempt in range(self.max_retries + 1):
                started = time.perf_counter()
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        raise asyncio.TimeoutError
                    completion = await asyncio.wait_for(self._call(request), left)
                except Exception as error:  # noqa: BLE001 - sorted below, never re-raised with its context
                    retryable, problem, wait = self._classify(error, attempt)
                    connection_only = connection_only and _no_answer(error)
                    if not retryable or attempt == self.max_retries or time.monotonic() + wait >= deadline:
                        break
                    await asyncio.sleep(wait)
                    continue
                completion.latency_s = time.perf_counter() - started
                completion.extra["attempts"] = attempt + 1
                return completion
        # Raised outside the except block so no exception (which holds the request) is chained.
        message = f"{self.endpoint} failed for model {self.model!r} after {attempt + 1} attempt(s): {problem}."
        if connection_only:
            self._down = (f"{self.endpoint} is not answering ({problem}, {attempt + 1} attempt(s) within "
                          f"{self.deadline_s:g} s); start the server or fix base_url.")
            raise GenerationError(self._down)
        raise GenerationError(message)

    async def _call(self, request: Request) -> Completion:
        params = dict(request.params)
        if "seed" in params:
            params["seed"] = int(params["seed"]) + request.call_index
        params = {k: v for k, v in params.items() if v is not None}
        if self.style == "chat":
            response = await self._client.chat.completions.create(
                model=self.model, messages=list(request.prompt.messages), **params)
            choice = _first_choice(response)
            text = getattr(getattr(choice, "message", None), "content", None)
        else:
            response = await self._client.completions.create(model=self.model, prompt=request.prompt.text, **params)
            choice = _first_choice(response)
            text = getattr(choice, "text", None)
        if not isinstance(text, str):
            raise MalformedAnswer(f"an answer whose first choice has no text ({type(text).__name__})")
        if not text.strip() and choice.finish_reason != "length":
            raise MalformedAnswer("an empty answer")
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          finish_reason=choice.finish_reason, cost_usd=self.cost(prompt_tokens, completion_tokens))

    def _classify(self, error: Exception, attempt: int) -> tuple[bool, str, float]:
        """(retry?, a short reason without secrets, seconds to wait)."""
        import openai

        wait = min(self.backoff_s * 2 ** attempt * (1 + 0.25 * self._rng.random()), self.max_backoff_s)
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            retry_after = _retry_after(error.response.headers.get("retry-after"))
            if retry_after is not None:
                wait = min(max(wait, retry_after), max(self.max_backoff_s, retry_after))
            return status == 429 or status >= 500 or status == 408, f"HTTP {status}", wait
        if isinstance(error, MalformedAnswer):
            return False, str(error), wait
        if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError, asyncio.TimeoutError)):
            return True, _reason(error), wait
        if isinstance(error, (ValueError, openai.APIResponseValidationError)):
            return True, "malformed JSON in the answer", wait
        return False, _reason(error), wait


class MalformedAnswer(ValueError):
    """An HTTP 200 whose body is not a usable OpenAI-shaped completion (never cached, never retried)."""


def _first_choice(response):
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise MalformedAnswer("an HTTP 200 answer without `choices` (not an OpenAI-compatible completion)")
    return choices[0]


def _no_answer(error: Exception) -> bool:
    """Whether ``error`` means the endpoint gave no answer at all (refused, unreachable, silent)."""
    import openai

    return isinstance(error, (openai.APITimeoutError, openai.APIConnectionError, asyncio.TimeoutError))


def _reason(error: Exception) -> str:
    """A short, secret-free name for a failure."""
    import openai

    if isinstance(error, MalformedAnswer):
        return str(error)
    if isinstance(error, (openai.APITimeoutError, asyncio.TimeoutError)):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)
