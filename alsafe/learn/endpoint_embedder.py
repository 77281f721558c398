"""Sentence embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama,
text-embeddings-inference, llama.cpp's server), cached on disk like the local embedder's.

A pool too big for one CPU is embedded by a served model through the same interface as
:class:`alsafe.learn.sentence_embedder.SentenceEmbedder` (``fit``, ``transform``, rows of unit length). By
name, ``"<model>@<base_url>"`` (``"nomic-embed-text@http://localhost:11434/v1"``, parsed by
:mod:`alsafe.names`) wherever a vectorizer or an ``embedding-lr:`` model is taken. Every answer is checked for the embeddings shape
before a vector is kept; a failed or malformed batch is never cached, and a dead endpoint ends within
the call's deadline in one sentence naming the URL and the cause (never the key). The key rule, the
retry rule (``Retry-After``, seeded jitter, one deadline), the client and the checks of an answer are
:mod:`alsafe.openai_client`'s, shared with the chat backend.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import numpy as np

from alsafe import config
from alsafe.exceptions import EmbeddingEndpointError
from alsafe.openai_client import MalformedEmbeddings, RetryPolicy, checked_vectors, make_client, timeouts
from alsafe.learn.checks import check_texts
from alsafe.learn.vector_cache import VectorCache, vectors_through_cache
from alsafe.names import URL_SCHEMES


class EndpointEmbedder:
    """Embeddings from an OpenAI-compatible ``POST <base_url>/embeddings``, L2-normalised and cached.

    Parameters
    ----------
    model : str
        The served model's name (``text-embedding-3-small``, ``nomic-embed-text``, ...).
    base_url : str
        The endpoint's ``/v1`` root (``https://api.openai.com/v1`` for OpenAI).
    api_key_env : str
        Environment variable holding the key (read at call time, never stored or shown). OpenAI's own API
        (host api.openai.com) needs it; any other server without one is sent a placeholder.
    batch_size : int
        Texts per request.
    dimensions : int or None
        Asked of models that can shorten their vectors (OpenAI's ``dimensions``); part of the cache key.
    timeout_s, connect_timeout_s : float
        Read and connect timeouts of one attempt.
    deadline_s : float
        Seconds one batch may take in all, retries and waits included.
    max_retries : int
        Retries of a batch after 408, 429, 5xx, a timeout, a dropped connection or unparseable JSON.
    backoff_s, max_backoff_s : float
        First and longest wait between attempts (doubling, with 0-25 % jitter); a server's ``Retry-After``
        is waited in full unless that would pass the deadline.
    random_state : int, numpy.random.Generator or None
        Seeds the jitter (each ``transform`` starts from it).
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
    retry_waits_ : list of float
        Seconds waited before each retry, in order.
    dimension_ : int
        Length of one vector (known after the first answer).
    """

    needs_fit = False

    def __init__(self, model: str, base_url: str, api_key_env: str = "OPENAI_API_KEY", batch_size: int = 64,
                 dimensions: int | None = None, timeout_s: float = 30.0, connect_timeout_s: float = 5.0,
                 deadline_s: float = 50.0, max_retries: int = 3, pool_tokens: bool = False,
                 cache: bool | str | Path = True, backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 random_state=0):
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
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must name the served embedding model, not {self.model!r}.")
        if not isinstance(self.base_url, str) or not self.base_url.startswith(URL_SCHEMES):
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
        for name in ("backoff_s", "max_backoff_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}.")

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
        self.retry_waits_ = getattr(self, "retry_waits_", [])
        result = vectors_through_cache(self, check_texts(texts), self._vector_cache(), self._batches,
                                       lambda n: -(-n // self.batch_size), desc=f"embedding via {self.base_url}")
        if result is None:
            return np.zeros((0, getattr(self, "dimension_", 0) or 0), dtype=np.float32)
        self.dimension_ = result.shape[1]
        return result

    # -- HTTP ----------------------------------------------------------------------------
    def _client(self):
        return make_client(self.base_url, self.api_key_env, self.timeout_s, self.connect_timeout_s,
                           error=EmbeddingEndpointError)

    def _batches(self, texts: list[str]):
        """``(positions, unit-length rows)`` per batch of ``texts``, one request each (retried by :meth:`_ask`)."""
        client = self._client()
        policy = RetryPolicy(self.max_retries, self.backoff_s, self.max_backoff_s, self.deadline_s,
                             random_state=self.random_state)
        try:
            for start in range(0, len(texts), self.batch_size):
                positions = list(range(start, min(start + self.batch_size, len(texts))))
                yield positions, self._ask(client, policy, [texts[i] for i in positions])
        finally:
            client.close()

    def _ask(self, client, policy: RetryPolicy, texts: list[str]) -> np.ndarray:
        """Unit-length vectors of one batch, retried by ``policy`` within its deadline; one sentence if they
        cannot be had."""
        extra = {"dimensions": self.dimensions} if self.dimensions is not None else {}

        def attempt(left: float) -> np.ndarray:
            self.n_requests_ += 1
            response = client.with_options(timeout=timeouts(min(self.timeout_s, left), self.connect_timeout_s)) \
                .embeddings.create(model=self.model, input=texts, encoding_format="float", **extra)
            return checked_vectors(response, len(texts), self.pool_tokens)

        outcome = policy.run(attempt)
        self.retry_waits_.extend(outcome.waits)
        if outcome.ok:
            return outcome.value
        raise EmbeddingEndpointError(f"The embeddings endpoint {self.base_url} gave no vectors for model {self.model!r} "
                                     f"({outcome.problem}, {outcome.attempts} attempt(s) within {self.deadline_s:g} s); "
                                     "start the server or fix the URL. Nothing was cached for these texts.")


__all__ = ["EndpointEmbedder", "MalformedEmbeddings"]
