"""The TF-IDF path: TF-IDF text vectors for the query strategies, and TF-IDF + logistic regression,
the fast baseline learner. Neither needs torch."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from alsafe.learn.checks import check_number, check_positive_int, check_texts, check_training_data, in_class_order


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
            check_positive_int(self.max_features, "max_features")
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


class TfidfLogisticRegression:
    """TF-IDF n-grams and multinomial logistic regression: the fast baseline.

    The defaults (character 2-5-grams within words, C=30) had the best dev macro-F1 among word/char
    n-grams and C in {1, 3, 10, 30, 100} when trained on the paper's bootstrap + cluster splits.

    Parameters
    ----------
    max_features : int or None
        Vocabulary size kept by TF-IDF.
    analyzer : {"char_wb", "word", "char"}
        Terms are character n-grams within word boundaries, words, or character n-grams.
    ngram_range : tuple of int
        N-gram lengths (in characters or words, as ``analyzer`` says).
    C : float
        Inverse regularisation strength.
    class_weight : dict, "balanced" or None
        As in scikit-learn's ``LogisticRegression``.
    classes : sequence or None
        Fixed class order (absent classes get probability 0); None sorts the labels seen.
    max_iter : int
        Solver iterations.
    random_state : int
        Passed to the solver.

    Attributes
    ----------
    classes_ : numpy.ndarray
    vectorizer_ : TfidfTextVectorizer
    model_ : sklearn.linear_model.LogisticRegression
    """

    def __init__(self, max_features: int | None = 50000, analyzer: str = "char_wb", ngram_range: tuple[int, int] = (2, 5),
                 C: float = 30.0, class_weight: dict | str | None = None, classes: Sequence | None = None,
                 max_iter: int = 2000, random_state: int = 0):
        self.max_features = max_features
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.C = C
        self.class_weight = class_weight
        self.classes = classes
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, texts: Sequence[str], labels: Sequence) -> "TfidfLogisticRegression":
        """Fit TF-IDF on ``texts`` and the regression on their vectors."""
        check_number(self.C, "C")
        check_number(self.max_iter, "max_iter", low=1, integer=True, allow_low=True)
        texts, labels, classes = check_training_data(texts, labels, self.classes)
        self.vectorizer_ = TfidfTextVectorizer(max_features=self.max_features, analyzer=self.analyzer,
                                               ngram_range=self.ngram_range)
        self.model_ = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                         random_state=self.random_state)
        # float64: on float32 input the solver's probabilities miss summing to 1 by ~1e-7
        self.model_.fit(self.vectorizer_.fit_transform(texts).astype(np.float64), np.array(labels, dtype=object))
        self.classes_ = classes
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes), columns in ``classes_`` order."""
        if not hasattr(self, "model_"):
            raise NotFittedError("This TfidfLogisticRegression is not fitted yet; call fit(texts, labels) first.")
        seen = self.model_.predict_proba(self.vectorizer_.transform(texts).astype(np.float64))
        return in_class_order(seen, self.model_.classes_, self.classes_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text."""
        probabilities = self.predict_proba(texts)  # first: an unfitted learner says so (NotFittedError)
        return self.classes_[probabilities.argmax(axis=1)]
