"""Text vectors for the query strategies: sentence embeddings with an on-disk cache, and TF-IDF.

Both vectorizers share one interface: ``fit(texts)`` (a no-op for embeddings), ``transform(texts)``
and ``fit_transform(texts)``, with rows L2-normalised so that dot products are cosine similarities.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from tqdm.auto import tqdm

from alsafe import config, models

PROGRESS_MIN_BATCHES = 8  # below this a progress bar is noise


def check_texts(texts, parameter: str = "texts") -> list[str]:
    """``texts`` as a list of strings; a single string, None or NaN entry is refused in one sentence."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{parameter} must be a list of strings, not a single string.")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{parameter} must be a list of strings, not {type(texts).__name__}.") from None
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{parameter}[{position}] is {text!r}, not a string; drop or fill missing texts first.")
    return texts


def _check_positive_int(value, parameter: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{parameter} must be a positive integer, not {value!r}.")


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


def model_key(model: str | Path, max_length: int) -> str:
    """A folder name that identifies a model's embeddings: its name, or a local folder's name, path and weights' age."""
    canonical = models.canonical_name(str(model))
    if canonical in (models.MINILM, models.MINILM_L2, models.MPNET, models.SMOLLM2):
        name = canonical
    elif Path(model).expanduser().exists():
        path = Path(model).expanduser().resolve()
        # a folder re-saved with new weights must not reuse the old vectors
        stamps = [str(f.stat().st_mtime_ns) for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))]
        digest = hashlib.sha256("\n".join([str(path), *stamps]).encode()).hexdigest()[:12]
        name = f"{path.name}-{digest}"
    else:
        name = str(model).replace("/", "--")
    return f"{name}-mean-len{max_length}"


class SentenceEmbedder:
    """Sentence embeddings by mean pooling a transformer's last layer, L2-normalised (as all-MiniLM/all-mpnet do).

    Parameters
    ----------
    model : str or Path
        Offline model name or alias (``minilm``, ``mpnet``, ``minilm-l2``), local folder, or hub name.
    batch_size : int
        Texts per forward pass.
    max_length : int
        Tokens kept per text (longer texts are truncated); part of the cache key.
    device : str or None
        Torch device; None picks CUDA when available, else CPU.
    cache : bool or str or Path
        True stores vectors under ``config.cache_dir()/embeddings/<model key>/``, a path stores them under
        ``<path>/<model key>/``, False keeps nothing.

    Attributes
    ----------
    n_embedded_ : int
        Texts this instance ran through the model (cache misses; duplicates count once).
    n_from_cache_ : int
        Texts this instance read from the cache.
    dimension_ : int
        Length of one vector (known after the first ``transform``).
    """

    needs_fit = False  # the loop calls fit on the pool only for vectorizers that learn from it

    def __init__(self, model: str | Path = models.MINILM, batch_size: int = 64, max_length: int = 128,
                 device: str | None = None, cache: bool | str | Path = True):
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.cache = cache

    def _check_params(self) -> None:
        _check_positive_int(self.batch_size, "batch_size")
        _check_positive_int(self.max_length, "max_length")

    def _vector_cache(self) -> VectorCache | None:
        if self.cache is False or self.cache is None:
            return None
        root = config.cache_dir() / "embeddings" if self.cache is True else Path(self.cache).expanduser()
        return VectorCache(root / model_key(self.model, self.max_length) / "vectors.sqlite")

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if getattr(self, "model_", None) is not None:
            return
        self.device_ = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer_ = models.load_pretrained(AutoTokenizer, self.model)
        self.model_ = models.load_pretrained(AutoModel, self.model).to(self.device_).eval()

    def fit(self, texts=None, y=None) -> "SentenceEmbedder":
        """Nothing to learn; checks the parameters and returns self."""
        self._check_params()
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``, reading cached vectors and embedding (and caching) only the rest.

        Returns
        -------
        numpy.ndarray of shape (n_texts, dimension), float32, rows of unit length
        """
        self._check_params()
        result = vectors_through_cache(self, check_texts(texts), self._vector_cache(), self._batches,
                                       lambda n: -(-n // self.batch_size))
        if result is None:
            return np.zeros((0, self._dimension()), dtype=np.float32)
        self.dimension_ = result.shape[1]
        return result

    def fit_transform(self, texts: Sequence[str], y=None) -> np.ndarray:
        return self.fit(texts).transform(texts)

    def _dimension(self) -> int:
        if getattr(self, "dimension_", None) is None:
            from transformers import AutoConfig

            self.dimension_ = models.load_pretrained(AutoConfig, self.model).hidden_size
        return self.dimension_

    def _batches(self, texts: list[str]):
        """``(positions, unit-length rows)`` per batch of ``texts``, similar lengths together (less padding)."""
        import torch

        self._load()
        order = np.argsort([-len(text) for text in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                encoded = self.tokenizer_([texts[i] for i in batch], padding=True, truncation=True,
                                          max_length=self.max_length, return_tensors="pt").to(self.device_)
                hidden = self.model_(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                                     **({"token_type_ids": encoded["token_type_ids"]}
                                        if "token_type_ids" in encoded else {})).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                yield batch.tolist(), torch.nn.functional.normalize(pooled.float(), dim=1).cpu().numpy()


class TfidfTextVectorizer:
    """TF-IDF vectors (scikit-learn's ``TfidfVectorizer``), rows L2-normalised.

    Parameters
    ----------
    max_features : int or None
        Keep the most frequent terms only.
    analyzer : {"word", "char_wb", "char"}
        Terms are words, or character n-grams (``char_wb``: within word boundaries).
    ngram_range : tuple of int
        N-gram lengths, in words or characters as ``analyzer`` says.
    min_df : int or float
        Minimum document frequency of a term.
    sublinear_tf : bool
        Use 1 + log(tf).
    dense : bool
        Return a dense float32 ``numpy.ndarray`` instead of a sparse CSR float32 matrix.

    Attributes
    ----------
    vectorizer_ : sklearn.feature_extraction.text.TfidfVectorizer
        The fitted vectorizer.
    dimension_ : int
        Vocabulary size.
    """

    needs_fit = True  # the loop fits it on the pool before transforming

    def __init__(self, max_features: int | None = 20000, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2),
                 min_df: int | float = 1, sublinear_tf: bool = True, dense: bool = False):
        self.max_features = max_features
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.dense = dense

    def fit(self, texts: Sequence[str], y=None) -> "TfidfTextVectorizer":
        """Learn the vocabulary and document frequencies of ``texts``."""
        if self.max_features is not None:
            _check_positive_int(self.max_features, "max_features")
        if self.analyzer not in ("word", "char_wb", "char"):
            raise ValueError(f"analyzer must be 'word', 'char_wb' or 'char', not {self.analyzer!r}.")
        texts = check_texts(texts)
        if not texts:
            raise ValueError("texts is empty; TF-IDF needs at least one text to learn a vocabulary from.")
        self.vectorizer_ = TfidfVectorizer(max_features=self.max_features, analyzer=self.analyzer,
                                           ngram_range=tuple(self.ngram_range),
                                           min_df=self.min_df, sublinear_tf=self.sublinear_tf, dtype=np.float32)
        self.vectorizer_.fit(texts)
        self.dimension_ = len(self.vectorizer_.vocabulary_)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix | np.ndarray:
        """TF-IDF rows of ``texts`` (sparse CSR, or dense when ``dense=True``)."""
        if not hasattr(self, "vectorizer_"):
            raise NotFittedError("This TfidfTextVectorizer is not fitted yet; call fit(texts) first.")
        matrix = self.vectorizer_.transform(check_texts(texts)).astype(np.float32)
        return matrix.toarray() if self.dense else matrix.tocsr()

    def fit_transform(self, texts: Sequence[str], y=None) -> sp.csr_matrix | np.ndarray:
        return self.fit(texts).transform(texts)


def make_vectorizer(name: str, **params):
    """A vectorizer by name: ``"tfidf"``, ``"<model>@<base_url>"`` (a served model behind an OpenAI-compatible
    ``/embeddings`` endpoint, :class:`~alsafe.learn.endpoint_embedder.EndpointEmbedder`), or any model
    :class:`SentenceEmbedder` accepts (``"minilm"``, ``"mpnet"``, ...).

    ``params`` go to the vectorizer's constructor. ``"tfidf"`` returns dense arrays unless ``dense=False`` is
    given, since the query strategies take numpy arrays (a dense pool costs ``4 * n_texts * max_features`` bytes).
    """
    from alsafe.learn.endpoint_embedder import EndpointEmbedder, is_endpoint_name

    if str(name).lower() == "tfidf":
        return TfidfTextVectorizer(**{"dense": True, **params})
    if is_endpoint_name(name):
        return EndpointEmbedder.from_name(name, **params)
    return SentenceEmbedder(model=name, **params)
