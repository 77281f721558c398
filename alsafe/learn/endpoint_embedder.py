"""Sentence embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama,
text-embeddings-inference, llama.cpp's server), cached on disk like the local embedder's.

A pool too big for one CPU is embedded by a served model through the same interface as
:class:`alsafe.learn.vectorize.SentenceEmbedder` (``fit``, ``transform``, rows of unit length). By
name, ``"<model>@<base_url>"`` (``"nomic-embed-text@http://localhost:11434/v1"``) wherever a
vectorizer or an ``embedding-lr:`` model is taken. Every answer is checked for the embeddings shape
before a vector is kept; a failed or malformed batch is never cached, and a dead endpoint ends within
the call's deadline in one sentence naming the URL and the cause (never the key).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import numpy as np

from alsafe import config
from alsafe.exceptions import EmbeddingEndpointError
from alsafe.learn.vectorize import VectorCache, check_texts, vectors_through_cache

SCHEMES = ("http://", "https://")


def is_endpoint_name(name) -> bool:
    """Whether ``name`` is ``"<model>@<base_url>"`` (a served embedding model)."""
    model, _, url = str(name).rpartition("@")
    return bool(model) and url.startswith(SCHEMES)


def split_endpoint_name(name: str) -> tuple[str, str]:
    """(model, base_url) of ``"<model>@<base_url>"``."""
    if not is_endpoint_name(name):
        raise ValueError(f"an endpoint embedding model is named '<model>@<base_url>' "
                         f"(e.g. 'nomic-embed-text@http://localhost:11434/v1'), not {name!r}.")
    model, _, url = str(name).rpartition("@")
    return model, url


class MalformedEmbeddings(ValueError):
    """An HTTP 200 whose body is not an OpenAI-shaped embeddings answer for the texts sent."""


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible ``POST <base_url>/embeddings``, L2-normalised and cached.

    Parameters
    ----------
    model : str
        The served model's name (``text-embedding-3-small``, ``nomic-embed-text``, ...).
    base_url : str
        The endpoint's ``/v1`` root (``https://api.openai.com/v1`` for OpenAI).
    api_key_env : str
        Environment variable holding the key (read at call time, never stored or shown); a loopback or
        other non-OpenAI server without one is sent a placeholder.
    batch_size : int
        Texts per request.
    dimensions : int or None
        Asked of models that can shorten their vectors (OpenAI's ``dimensions``); part of the cache key.
    timeout_s, connect_timeout_s : float
        Read and connect timeouts of one attempt.
    deadline_s : float
        Seconds one batch may take in all, retries and waits included.
    max_retries : int
        Retries of a batch after 429, 5xx, a timeout or a dropped connection.
    pool_tokens : bool
        Mean-pool an answer that holds one vector per token instead of one per text (llama-cpp-python's
        server does this for models without a pooling layer, SmolLM2 among them). Off by default: such an
        answer is refused, saying so.
    cache : bool or str or Path
        True stores vectors under ``config.cache_dir()/embeddings/<endpoint key>/``, a path under
        ``<path>/<endpoint key>/``, False keeps nothing.

    Attributes
    ----------
    n_embedded_, n_from_cache_ : int
        Texts sent to the endpoint (cache misses) and texts read from the cache.
    n_requests_ : int
        HTTP requests made, retries included.
    dimension_ : int
        Length of one vector (known after the first answer).
    """

    needs_fit = False

    def __init__(self, model: str, base_url: str, api_key_env: str = "OPENAI_API_KEY", batch_size: int = 64,
                 dimensions: int | None = None, timeout_s: float = 30.0, connect_timeout_s: float = 5.0,
                 deadline_s: float = 50.0, max_retries: int = 3, pool_tokens: bool = False,
                 cache: bool | str | Path = True):
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.dimensions = dimensions
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.deadline_s = deadline_s
        self.max_retries = max_retries
        self.pool_tokens = pool_tokens
        self.cache = cache

    @classmethod
    def from_name(cls, name: str, **params) -> "EndpointEmbedder":
        """An embedder for ``"<model>@<base_url>"``."""
        model, base_url = split_endpoint_name(name)
        return cls(model=model, base_url=base_url, **params)

    def _check_params(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must name the served embedding model, not {self.model!r}.")
        if not isinstance(self.base_url, str) or not self.base_url.startswith(SCHEMES):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {self.base_url!r}.")
        for name in ("batch_size", "max_retries") + (("dimensions",) if self.dimensions is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "max_retries" else 1):
                raise ValueError(f"{name} must be a {'non-negative' if name == 'max_retries' else 'positive'} "
                                 f"integer, not {value!r}.")
        for name in ("timeout_s", "connect_timeout_s", "deadline_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a number of seconds > 0, not {value!r}.")

    def endpoint_key(self) -> str:
        """A folder name for this endpoint's vectors: host, port, path and model (and dimensions)."""
        parsed = urlparse(self.base_url)
        readable = f"{parsed.hostname}-{parsed.port or ''}-{self.model}".replace("/", "--").replace(":", "-")
        identity = f"{self.base_url.rstrip('/')}\n{self.model}\n{self.dimensions}\n{self.pool_tokens}"
        digest = hashlib.sha256(identity.encode()).hexdigest()
        return f"endpoint-{readable}-{digest[:12]}"

    def _vector_cache(self) -> VectorCache | None:
        if self.cache is False or self.cache is None:
            return None
        root = config.cache_dir() / "embeddings" if self.cache is True else Path(self.cache).expanduser()
        return VectorCache(root / self.endpoint_key() / "vectors.sqlite")

    def fit(self, texts=None, y=None) -> "EndpointEmbedder":
        """Nothing to learn; checks the parameters and returns self."""
        self._check_params()
        return self

    def fit_transform(self, texts: Sequence[str], y=None) -> np.ndarray:
        return self.fit(texts).transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``: cached ones read, the rest asked of the endpoint batch by batch (each
        batch cached once its answer checks out).

        Returns
        -------
        numpy.ndarray of shape (n_texts, dimension), float32, rows of unit length
        """
        self._check_params()
        self.n_requests_ = getattr(self, "n_requests_", 0)
        result = vectors_through_cache(self, check_texts(texts), self._vector_cache(), self._batches,
                                       lambda n: -(-n // self.batch_size), desc=f"embedding via {self.base_url}")
        if result is None:
            return np.zeros((0, getattr(self, "dimension_", 0) or 0), dtype=np.float32)
        self.dimension_ = result.shape[1]
        return result

    # -- HTTP ----------------------------------------------------------------------------
    def _client(self):
        import httpx
        import openai

        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if not key and urlparse(self.base_url).hostname == "api.openai.com":
            raise EmbeddingEndpointError(f"Set the environment variable {self.api_key_env} to your OpenAI API key "
                                     "(the key is read from the environment only).")
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.connect_timeout_s, self.timeout_s))
        return openai.OpenAI(api_key=key or "no-key", base_url=self.base_url, timeout=timeout, max_retries=0)

    def _batches(self, texts: list[str]):
        """``(positions, unit-length rows)`` per batch of ``texts``, one request each (retried by :meth:`_ask`)."""
        client = self._client()
        try:
            for start in range(0, len(texts), self.batch_size):
                positions = list(range(start, min(start + self.batch_size, len(texts))))
                yield positions, self._ask(client, [texts[i] for i in positions])
        finally:
            client.close()

    def _ask(self, client, texts: list[str]) -> np.ndarray:
        """Unit-length vectors of one batch, retried within the deadline; one sentence if it cannot be had."""
        import openai

        deadline = time.monotonic() + self.deadline_s
        extra = {"dimensions": self.dimensions} if self.dimensions is not None else {}
        problem, attempts = "no attempt made", 0
        for attempt in range(self.max_retries + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                problem = "timed out"
                break
            attempts = attempt + 1
            self.n_requests_ += 1
            try:
                response = client.with_options(timeout=min(self.timeout_s, left)).embeddings.create(
                    model=self.model, input=texts, encoding_format="float", **extra)
                return _checked_vectors(response, len(texts), self.pool_tokens)
            except MalformedEmbeddings as error:
                problem = str(error)
                break  # a server that answers in the wrong shape will not answer better when asked again
            except openai.APIStatusError as error:
                problem = f"HTTP {error.status_code}"
                if not (error.status_code == 429 or error.status_code >= 500 or error.status_code == 408):
                    break
            except openai.APITimeoutError:
                problem = "timed out"
            except openai.APIConnectionError:
                problem = "connection failed"
            except (openai.APIResponseValidationError, ValueError):
                problem = "malformed JSON in the answer"
            wait = min(0.5 * 2 ** attempt * (1 + 0.25 * random.random()), 8.0)
            if time.monotonic() + wait >= deadline:
                break
            time.sleep(wait)
        raise EmbeddingEndpointError(f"The embeddings endpoint {self.base_url} gave no vectors for model {self.model!r} "
                              f"({problem}, {attempts} attempt(s) within {self.deadline_s:g} s); start the server "
                              "or fix the URL. Nothing was cached for these texts.")


def _numbers(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)


def _checked_vectors(response, expected: int, pool_tokens: bool = False) -> np.ndarray:
    """The answer's vectors in input order, L2-normalised, or :class:`MalformedEmbeddings` saying what is wrong."""
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
