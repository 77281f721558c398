"""Vectors by text hash in one SQLite file, and the read-through that embeds only what is not stored yet.

Shared by the local :class:`~alsafe.learn.sentence_embedder.SentenceEmbedder` and the served
:class:`~alsafe.learn.endpoint_embedder.EndpointEmbedder`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

PROGRESS_MIN_BATCHES = 8  # below this a progress bar is noise


def text_hash(text: str) -> str:
    """The cache key of one text (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Vectors by text hash in one SQLite file; each write is a transaction, so a killed process loses nothing stored.

    Parameters
    ----------
    path : str or Path
        The SQLite file (created with its folder on first write).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=60)
        connection.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        return connection

    def get(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors among ``hashes``."""
        found: dict[str, np.ndarray] = {}
        if not self.path.exists():
            return found
        with closing(self._connect()) as connection:
            for start in range(0, len(hashes), 500):  # stay under SQLite's bound-variable limit
                chunk = list(hashes[start:start + 500])
                rows = connection.execute(f"SELECT hash, vector FROM vectors WHERE hash IN ({','.join('?' * len(chunk))})",
                                          chunk)
                found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (one row per hash) in one transaction."""
        rows = [(key, np.ascontiguousarray(vector, dtype=np.float32).tobytes()) for key, vector in zip(hashes, vectors)]
        with closing(self._connect()) as connection, connection:
            connection.executemany("INSERT OR IGNORE INTO vectors (hash, vector) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as connection:
            return connection.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


def vectors_through_cache(owner, texts: list[str], store: VectorCache | None, batches, n_batches,
                          desc: str = "embedding") -> np.ndarray | None:
    """The vectors of ``texts`` (None when there are none): cached ones read from ``store``; the rest made
    by ``batches(missing_texts)``, an iterator of ``(positions, rows)`` over ``n_batches(n_missing)``
    batches, each batch stored as soon as it is made (a killed process loses only the batch under way).
    Each distinct text once; counts ``n_from_cache_`` and ``n_embedded_`` on ``owner``."""
    owner.n_embedded_ = getattr(owner, "n_embedded_", 0)
    owner.n_from_cache_ = getattr(owner, "n_from_cache_", 0)
    hashes = [text_hash(text) for text in texts]
    unique = dict(zip(hashes, texts))
    vectors = store.get(list(unique)) if store is not None else {}
    owner.n_from_cache_ += len(vectors)
    missing = [key for key in unique if key not in vectors]
    if missing:
        with tqdm(total=len(missing), desc=desc, unit="text", leave=False,
                  disable=n_batches(len(missing)) < PROGRESS_MIN_BATCHES) as progress:
            for positions, rows in batches([unique[key] for key in missing]):
                keys = [missing[i] for i in positions]
                if store is not None:
                    store.put(keys, rows)
                vectors.update(zip(keys, rows))
                owner.n_embedded_ += len(keys)
                progress.update(len(keys))
    if not texts:
        return None
    return np.stack([vectors[key] for key in hashes]).astype(np.float32, copy=False)
