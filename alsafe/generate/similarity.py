"""Near-duplicate search for the duplicate filter: character n-gram Jaccard (exact) or embedding cosine.

Comparing a few hundred variations with every title of a large pool by brute force costs a sparse
product whose size grows with the pool (frequent n-grams such as " th" join almost every pair).
:class:`NgramIndex` uses prefix filtering instead: with n-grams ordered from rarest to most common,
two sets with Jaccard similarity >= t must share one of the first ``|s| - ceil(t |s|) + 1`` n-grams
of each (Bayardo et al., WWW 2007), so only pairs sharing a rare n-gram are verified. The answers are
exactly those of brute force.
"""

from __future__ import annotations

import math
import string
from collections import Counter

import numpy as np
from scipy import sparse

_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation + "“”‘’«»…"})


def normalise_text(text: str) -> str:
    """Lower case, punctuation as spaces, whitespace collapsed: what duplicates are compared on."""
    return " ".join(str(text).casefold().translate(_PUNCTUATION).split())


def char_ngrams(text: str, n: int = 3) -> set[str]:
    padded = f" {normalise_text(text)} "
    return {padded[i:i + n] for i in range(max(len(padded) - n + 1, 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def binary_matrix(sets: list[set[str]], vocabulary: dict[str, int], grow: bool) -> sparse.csr_matrix:
    """Rows of 0/1 over ``vocabulary`` (extended with new n-grams when ``grow``)."""
    rows, columns = [], []
    for row, grams in enumerate(sets):
        if grow:
            found = [vocabulary.setdefault(gram, len(vocabulary)) for gram in grams]
        else:
            found = [c for c in map(vocabulary.get, grams) if c is not None]
        columns.extend(found)
        rows.extend([row] * len(found))
    data = np.ones(len(rows), dtype=np.float64)
    return sparse.csr_matrix((data, (rows, columns)), shape=(len(sets), max(len(vocabulary), 1)))


def jaccard_row(shared: sparse.csr_matrix, row: int, size: int, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns sharing an n-gram with ``row`` and their Jaccard similarities, from intersection counts."""
    columns = shared.indices[shared.indptr[row]:shared.indptr[row + 1]]
    counts = shared.data[shared.indptr[row]:shared.indptr[row + 1]]
    return columns, counts / (size + sizes[columns] - counts)


class NgramIndex:
    """Reference n-gram sets, searchable for Jaccard >= ``threshold``.

    Parameters
    ----------
    sets : the reference texts' n-gram sets.
    threshold : the smallest similarity a search must find.
    """

    def __init__(self, sets: list[set[str]], threshold: float):
        self.threshold = threshold
        self.frequency = Counter(gram for grams in sets for gram in grams)
        self.vocabulary: dict[str, int] = {}
        self.full = binary_matrix(sets, self.vocabulary, grow=True)
        self.sizes = np.array([len(s) for s in sets])
        self.prefixes = binary_matrix([self._prefix(s) for s in sets], self.vocabulary, grow=False)

    def _prefix(self, grams: set[str]) -> list[str]:
        keep = len(grams) - math.ceil(self.threshold * len(grams) - 1e-9) + 1
        # Rarest first; n-grams the reference never uses (frequency 0) come first and match nothing.
        return sorted(grams, key=lambda gram: (self.frequency.get(gram, 0), gram))[:max(keep, 1)]

    def best(self, sets: list[set[str]]) -> list[tuple[float, int]]:
        """For each set, its most similar reference (similarity, position) if at least ``threshold``, else (0, -1)."""
        results = [(0.0, -1)] * len(sets)
        if not sets or self.full.shape[0] == 0:
            return results
        query_prefixes = binary_matrix([self._prefix(s) for s in sets], self.vocabulary, grow=False)
        pairs = (query_prefixes @ self.prefixes.T).tocoo()
        if pairs.nnz == 0:
            return results
        queries, references = pairs.row, pairs.col
        query_full = binary_matrix(sets, self.vocabulary, grow=False)
        shared = np.asarray(query_full[queries].multiply(self.full[references]).sum(axis=1)).ravel()
        sizes = np.array([len(s) for s in sets])
        scores = shared / (sizes[queries] + self.sizes[references] - shared)
        # Best per query; on ties the earliest reference, so answers do not depend on the sparse layout.
        order = np.lexsort((references, -scores, queries))
        first = order[np.r_[True, queries[order][1:] != queries[order][:-1]]]
        for position in first:
            if scores[position] >= self.threshold:
                results[int(queries[position])] = (float(scores[position]), int(references[position]))
        return results


class EmbeddingIndex:
    """Reference embeddings (unit rows), searchable for cosine >= ``threshold`` in bounded memory."""

    def __init__(self, vectors: np.ndarray, threshold: float):
        self.vectors = vectors
        self.threshold = threshold

    def best(self, vectors: np.ndarray) -> list[tuple[float, int]]:
        results = []
        if len(self.vectors) == 0:
            return [(0.0, -1)] * len(vectors)
        for start in range(0, len(vectors), 256):
            scores = vectors[start:start + 256] @ self.vectors.T
            best = scores.argmax(axis=1)
            for row, column in enumerate(best):
                score = float(scores[row, column])
                results.append((score, int(column)) if score >= self.threshold else (0.0, -1))
        return results


def unit_rows(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2:
        return np.zeros((0, 1))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)
