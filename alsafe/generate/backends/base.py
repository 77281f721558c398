"""What every backend shares: the request and completion records, the cache keys, the sync facade.

A backend turns a :class:`Request` (one rendered prompt, one call index) into a :class:`Completion`.
Backends are async context managers: ``async with backend:`` opens whatever the calls need (an HTTP
client, a loaded model) inside the running event loop, and ``await backend.acomplete(request)`` makes
one call. The generator puts the run store's content-addressed cache in front of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Prompt:
    """One rendered prompt in both shapes: chat ``messages`` and a plain completion ``text``.

    ``style`` says which one is sent; the other is kept for display only. ``answer_prefix`` is the
    part of the answer the completion prompt already wrote (it ends with ``1.``); the parser reads
    the answer with it put back.
    """

    style: str
    messages: tuple[dict, ...]
    text: str
    answer_prefix: str = ""
    notes: tuple = ()  # (name, value) pairs recorded with the call in the ledger, e.g. the seed's length cap

    def readable(self) -> str:
        """The prompt as a person reads it (chat messages as ``[role]`` blocks)."""
        if self.style == "chat":
            return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages)
        return self.text

    def sent(self) -> str:
        """The exact prompt the backend receives, as one string (what the cache key and the ledger hold)."""
        if self.style == "chat":
            return json.dumps(list(self.messages), ensure_ascii=False)
        return self.text


@dataclass(frozen=True)
class Request:
    """One call: the prompt, the number of variations it asks for, and where it belongs.

    ``call_index`` is the position of this call among the seed's calls (sample index of the call),
    ``offset`` the sample index of the first variation it asks for; ``seed_text`` and ``seed_id`` let
    the replay backend look the seed up.
    """

    prompt: Prompt
    params: dict
    asked: int
    call_index: int
    offset: int
    seed_text: str
    seed_id: str
    label: str
    target_label: str


@dataclass
class Completion:
    """A backend's answer to one request."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    latency_s: float | None = None
    cost_usd: float | None = None
    cached: bool = False
    extra: dict = field(default_factory=dict)


class Backend:
    """Base class: subclasses set ``name`` and implement :meth:`acomplete`.

    Attributes read by the generator: ``name`` (stored in the ``backend`` column), ``model``,
    ``style`` (``chat`` or ``completion``: which prompt shape is sent), ``max_concurrency``.
    """

    name = "backend"
    model: str = ""
    style: str = "chat"
    max_concurrency: int = 1
    default_filters: tuple | None = None  # None: the generator's default filters; () for outputs served as they are
    variations_per_call: int | None = None  # None: all of a seed's variations in one call

    def resolve(self, seed_text: str, seed_id: str | None = None) -> "Backend":
        """The backend that answers for this seed (itself; replay may hand over to a fallback)."""
        return self

    def sampling_params(self) -> dict:
        """Parameters that change the answer, hence part of the cache key."""
        return {}

    def seed_params(self, seed_text: str, seed_id: str | None = None) -> dict:
        """Parameters for one seed's calls (sampling parameters, plus what else decides the answer)."""
        return self.sampling_params()

    def validate(self) -> None:
        """Raise one sentence about a configuration the user must fix (no network, no model loading)."""

    def check(self) -> None:
        """Raise :class:`BackendUnavailable` with one sentence if the backend cannot answer."""

    async def __aenter__(self) -> "Backend":
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    async def acomplete(self, request: Request) -> Completion:
        raise NotImplementedError

    def complete(self, request: Request) -> Completion:
        """One call, synchronously (opens and closes the backend around it)."""

        async def one() -> Completion:
            async with self:
                return await self.acomplete(request)

        return run_sync(one)


def _digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_hash(backend: str, model: str, prompt: str, params: dict) -> str:
    """Hash of what determines a seed's answers apart from the call index (the store's ``prompt_hash``)."""
    return _digest({"backend": backend, "model": model, "prompt": prompt, "params": params})[:32]


def cache_key(backend: str, model: str, prompt: str, params: dict, call_index: int) -> str:
    """Content address of one call: backend, model, rendered prompt, sampling parameters and call index."""
    return _digest({"backend": backend, "model": model, "prompt": prompt, "params": params,
                    "sample_index": call_index})


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine made by ``factory`` to completion from synchronous code.

    Inside Jupyter an event loop is already running in this thread, where ``asyncio.run`` is
    refused; the coroutine then runs in its own loop on a worker thread while this one waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def describe(value: Any, limit: int = 80) -> str:
    """A short, single-line rendering of a text for error messages."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
