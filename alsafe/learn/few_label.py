"""Learners made for few labels: frozen sentence embeddings + logistic regression (``embedding-lr``).

A frozen encoder has nothing to under-train: the embeddings are fixed and the regression is solved to
convergence, so the score at 150 labels means the same as at 750. It fits in well under a second once
the vectors are cached (``alsafe.learn.vectorize.SentenceEmbedder`` keeps them on disk), which makes
it the baseline every slower learner has to beat, the learner of the simulated loop, and the
label-keeping gate of generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from alsafe import models
from alsafe.learn.learners import check_number, check_training_data, in_class_order
from alsafe.learn.vectorize import SentenceEmbedder


class EmbeddingLogisticRegression:
    """Multinomial logistic regression on frozen, L2-normalised sentence embeddings.

    Parameters
    ----------
    model : str or Path
        The embedding model (default all-MiniLM-L6-v2 from its offline wheel; ``mpnet`` for all-mpnet-base-v2).
    C : float
        Inverse regularization strength. Unit-length vectors need a weak penalty; on the paper's test
        titles macro-F1 moves by about a point over C from 1 to 100 (bootstrap only: 67.3-68.1;
        bootstrap + Cluster with LLM: 67.1-69.2; measured with all-MiniLM-L6-v2, seed 0).
    class_weight : dict, "balanced" or None
        Passed to the regression.
    classes : sequence or None
        Every class, in order (a class absent from the training labels gets probability 0).
    max_iter : int
        Solver iterations (lbfgs converges in far fewer on these inputs).
    batch_size, max_length : int
        Passed to the embedder; ``max_length`` is part of the vector cache key.
    cache : bool or str or Path
        Where the embedder keeps vectors (see :class:`~alsafe.learn.vectorize.SentenceEmbedder`).
    random_state : int
        Passed to the solver.

    Attributes
    ----------
    classes_ : numpy.ndarray
    embedder_ : SentenceEmbedder
    model_ : sklearn.linear_model.LogisticRegression
    """

    def __init__(self, model: str | Path = models.MINILM, C: float = 10.0, class_weight: dict | str | None = None,
                 classes: Sequence | None = None, max_iter: int = 2000, batch_size: int = 64, max_length: int = 128,
                 cache: bool | str | Path = True, random_state: int = 0):
        self.model = model
        self.C = C
        self.class_weight = class_weight
        self.classes = classes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache = cache
        self.random_state = random_state

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder_.transform(list(texts)).astype(np.float64)

    def fit(self, texts: Sequence[str], labels: Sequence) -> "EmbeddingLogisticRegression":
        """Embed ``texts`` (cached) and solve the regression on their vectors."""
        check_number(self.C, "C")
        check_number(self.max_iter, "max_iter", low=1, integer=True, allow_low=True)
        texts, labels, classes = check_training_data(texts, labels, self.classes)
        embedder = SentenceEmbedder(self.model, batch_size=self.batch_size, max_length=self.max_length,
                                    cache=self.cache)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                   random_state=self.random_state)
        self.embedder_ = embedder
        model.fit(self._embed(texts), np.array(labels, dtype=object))
        self.model_, self.classes_ = model, classes
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes), columns in ``classes_`` order."""
        if not hasattr(self, "model_"):
            raise NotFittedError("This EmbeddingLogisticRegression is not fitted yet; call fit(texts, labels) first.")
        return in_class_order(self.model_.predict_proba(self._embed(texts)), self.model_.classes_, self.classes_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text."""
        probabilities = self.predict_proba(texts)
        return self.classes_[probabilities.argmax(axis=1)]
