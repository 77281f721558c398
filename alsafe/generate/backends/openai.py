"""The ``openai`` backend: the official client against any OpenAI-compatible endpoint.

OpenAI itself, vLLM, Ollama and ``llama_cpp.server`` all speak this protocol. Calls run concurrently
(at most ``max_concurrency`` in flight), each with a timeout, and are retried with exponential backoff
on 408, 429, 5xx, timeouts, dropped connections and unparseable JSON, waiting at least as long as the
server's ``Retry-After`` asks (a well-formed answer of the wrong shape is not retried). ``n > 1`` is never used: llama.cpp answers one choice whatever ``n`` is,
so every call is one request for one sample index.

The API key is read from the environment variable named by ``api_key_env`` when the client is opened
and is kept nowhere else: not on the backend, not in the cache key, the store, or any message. The key
rule, the retry rule, the client and the checks of an answer are :mod:`alsafe.openai_client`'s, shared
with the embeddings client.
"""

from __future__ import annotations

import asyncio
import time

from alsafe.generate.backends.base import Backend, Completion, Prompt, Request, run_sync
from alsafe.exceptions import BackendUnavailable, GenerationError
from alsafe.openai_client import (OPENAI_URL, MalformedAnswer, RetryPolicy, api_key, checked_completion, classify,
                                  is_loopback, make_client)

# US dollars per million tokens (input, output); OpenAI list prices, 2025. Override with ``prices=``.
DEFAULT_PRICES = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}

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
    api_key_env : name of the environment variable holding the key. OpenAI's own API (base_url None or
        host api.openai.com) needs it; other endpoints get a placeholder key when it is unset.
    temperature, top_p : sampling parameters (part of the cache key).
    random_state : base of the per-call ``seed`` (call ``i`` sends ``random_state + i``); also seeds the
        jitter between retries.
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
        self._policy: RetryPolicy | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    # -- configuration -------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.base_url or OPENAI_URL

    def _is_local(self) -> bool:
        return is_loopback(self.base_url)

    def validate(self) -> None:
        """Raise one sentence if the key is missing where it is needed (no network)."""
        api_key(self.base_url, self.api_key_env, BackendUnavailable)

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
        return make_client(self.base_url, self.api_key_env, timeout_s, self.connect_timeout_s, asynchronous=True,
                           error=BackendUnavailable)

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> "OpenAIBackend":
        self._client = self._make_client(self.timeout_s)
        self._semaphore = asyncio.Semaphore(self.max_concurrency)
        self._policy = RetryPolicy(self.max_retries, self.backoff_s, self.max_backoff_s, self.deadline_s,
                                   random_state=self.random_state)
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
                return classify(error).reason
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

        async def attempt(left: float) -> Completion:
            started = time.perf_counter()
            completion = await asyncio.wait_for(self._call(request), left)
            completion.latency_s = time.perf_counter() - started
            return completion

        async with self._semaphore:
            if self._down is not None:  # another call found the endpoint down while this one queued
                raise GenerationError(self._down)
            outcome = await self._policy.arun(attempt)  # the deadline counts from the call's turn, not its queueing
        if outcome.ok:
            outcome.value.extra["attempts"] = outcome.attempts
            return outcome.value
        if outcome.no_answer:
            self._down = (f"{self.endpoint} is not answering ({outcome.problem}, {outcome.attempts} attempt(s) within "
                          f"{self.deadline_s:g} s); start the server or fix base_url.")
            raise GenerationError(self._down)
        raise GenerationError(f"{self.endpoint} failed for model {self.model!r} after {outcome.attempts} attempt(s): "
                              f"{outcome.problem}.")

    async def _call(self, request: Request) -> Completion:
        params = dict(request.params)
        if "seed" in params:
            params["seed"] = int(params["seed"]) + request.call_index
        params = {k: v for k, v in params.items() if v is not None}
        if self.style == "chat":
            response = await self._client.chat.completions.create(
                model=self.model, messages=list(request.prompt.messages), **params)
        else:
            response = await self._client.completions.create(model=self.model, prompt=request.prompt.text, **params)
        answer = checked_completion(response, chat=self.style == "chat")
        return Completion(text=answer.text, prompt_tokens=answer.prompt_tokens,
                          completion_tokens=answer.completion_tokens, finish_reason=answer.finish_reason,
                          cost_usd=self.cost(answer.prompt_tokens, answer.completion_tokens))


__all__ = ["DEFAULT_PRICES", "MalformedAnswer", "OpenAIBackend", "price_of"]
