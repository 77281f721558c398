"""Sentence embeddings of a local transformer, mean-pooled and L2-normalised, cached on disk by text.

torch and transformers load inside the methods that run the model, so importing this module (and
the loop, which names a vectorizer) stays light.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from alsafe import config, models
from alsafe.learn.checks import check_positive_int, check_texts
from alsafe.learn.vector_cache import VectorCache, vectors_through_cache


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
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.max_length, "max_length")

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
