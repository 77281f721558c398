"""Filters over generated variations; every rejection carries a reason, nothing is dropped silently.

A filter's :meth:`apply` takes the candidates still standing and returns, for each, None (kept) or a
reason ``"<kind>: <detail>"``. The generator runs the filters in order; a candidate rejected by one is
not shown to the next. The kinds: ``empty``, ``too short``, ``too long``, ``truncated``, ``refusal``,
``label gate`` and ``duplicate`` (plus ``extra`` from the generator for answers beyond the ones asked).
"""

from __future__ import annotations

import re
import string
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse


@dataclass
class Candidate:
    """One parsed variation waiting for its verdict."""

    seed_id: str
    seed_text: str
    label: str
    text: str
    sample_index: int
    truncated: bool = False


@dataclass
class FilterContext:
    """What filters compare against: existing texts (``id, text, kind``) and the learner of this round."""

    reference: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "text", "kind"]))
    learner: object | None = None


class QualityFilter:
    """Reject empty, too short, too long and cut-off (token limit) variations.

    Parameters
    ----------
    min_chars, max_chars : accepted length range in characters.
    reject_truncated : reject the last variation of an answer that stopped at its token limit.
    """

    def __init__(self, min_chars: int = 3, max_chars: int = 300, reject_truncated: bool = True):
        if min_chars < 0 or max_chars < min_chars:
            raise ValueError(f"Need 0 <= min_chars <= max_chars, got min_chars={min_chars}, max_chars={max_chars}.")
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.reject_truncated = reject_truncated

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        reasons = []
        for candidate in candidates:
            length = len(candidate.text.strip())
            if length == 0:
                reasons.append("empty: no text")
            elif length < self.min_chars:
                reasons.append(f"too short: {length} < {self.min_chars} characters")
            elif length > self.max_chars:
                reasons.append(f"too long: {length} > {self.max_chars} characters")
            elif self.reject_truncated and candidate.truncated:
                reasons.append("truncated: the answer stopped at its token limit")
            else:
                reasons.append(None)
        return reasons


# Assistant refusals, not people's distress: "I can't take this anymore" is a self-harm title, kept.
REFUSAL_PATTERNS = (
    r"\bI(?:'m| am)? (?:sorry|afraid),? but\b",
    r"\bI (?:can(?:'|no)t|cannot|won't|will not|am unable to|'m unable to|am not able to|'m not able to) "
    r"(?:help|assist|provide|create|generate|write|fulfil+|comply|do that|rewrite|produce|complete)",
    r"\bas an AI\b",
    r"\bI apologi[sz]e\b",
    r"\b(?:against|violates?) (?:my|the) (?:guidelines|policy|policies)\b",
)


class RefusalFilter:
    """Reject assistant refusals ("I can't help with that", "As an AI ...").

    Parameters
    ----------
    patterns : regular expressions (case-insensitive); a match is a refusal.
    """

    def __init__(self, patterns: Sequence[str] = REFUSAL_PATTERNS):
        self.patterns = tuple(patterns)
        self._compiled = [re.compile(p, re.IGNORECASE) for p in self.patterns]

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        reasons = []
        for candidate in candidates:
            hit = next((m for m in (p.search(candidate.text) for p in self._compiled) if m), None)
            reasons.append(None if hit is None else f"refusal: {hit.group(0)!r}")
        return reasons


class LabelGate:
    """Keep a variation only if a classifier does not confidently give it a different label.

    Parameters
    ----------
    classifier : an object with ``predict_proba(texts)`` and ``classes_`` (a second classifier or an
        :class:`alsafe.generate.judge.LLMJudge`); None uses the learner passed to ``generate``.
    threshold : probability at or above which a different predicted label rejects the variation.
    """

    def __init__(self, classifier=None, threshold: float = 0.8):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}.")
        self.classifier = classifier
        self.threshold = threshold

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        judge = self.classifier if self.classifier is not None else context.learner
        if judge is None:
            warnings.warn("LabelGate has no classifier and generate() got no learner, so labels are not checked.",
                          stacklevel=3)
            return [None] * len(candidates)
        if not candidates:
            return []
        who = "learner" if self.classifier is None else type(judge).__name__
        probabilities = np.asarray(judge.predict_proba([c.text for c in candidates]), dtype=float)
        classes = list(judge.classes_)
        best = probabilities.argmax(axis=1)
        reasons = []
        for candidate, row, position in zip(candidates, probabilities, best):
            predicted, confidence = str(classes[position]), float(row[position])
            if predicted != candidate.label and confidence >= self.threshold:
                reasons.append(f"label gate: {who} says {predicted!r} (p={confidence:.2f}), not {candidate.label!r}")
            else:
                reasons.append(None)
        return reasons


_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation + "“”‘’«»…"})


def normalise_text(text: str) -> str:
    """Lower case, punctuation as spaces, whitespace collapsed: what duplicates are compared on."""
    return " ".join(str(text).casefold().translate(_PUNCTUATION).split())


def char_ngrams(text: str, n: int = 3) -> set[str]:
    padded = f" {normalise_text(text)} "
    return {padded[i:i + n] for i in range(max(len(padded) - n + 1, 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class DuplicateFilter:
    """Reject exact and near duplicates of the seed, of each other and of existing texts.

    Near means character n-gram Jaccard similarity at or above ``threshold`` (dependency-free), or,
    with ``embed``, cosine similarity of its embeddings at or above ``threshold``.

    Parameters
    ----------
    threshold : similarity from which a variation counts as a near duplicate.
    ngram : character n-gram length for Jaccard.
    embed : optional ``texts -> array`` embedding function used instead of Jaccard.
    against_reference : also compare with the store's items (pool, labeled, dev, test) and accepted
        variations.
    """

    def __init__(self, threshold: float = 0.75, ngram: int = 3, embed: Callable | None = None,
                 against_reference: bool = True):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}.")
        if ngram < 1:
            raise ValueError(f"ngram must be at least 1, not {ngram}.")
        self.threshold = threshold
        self.ngram = ngram
        self.embed = embed
        self.against_reference = against_reference

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        if not candidates:
            return []
        reference = context.reference if self.against_reference else context.reference.iloc[:0]
        exact = {}
        for ref_id, text, kind in zip(reference["id"], reference["text"], reference["kind"]):
            exact.setdefault(normalise_text(text), f"{kind} {ref_id}")
        best_ref = self._reference_similarity([c.text for c in candidates], reference)
        kept: list[tuple[str, object]] = []  # (description, features) of variations accepted so far
        features = self._features([c.text for c in candidates] + [c.seed_text for c in candidates])
        n = len(candidates)
        reasons = []
        for i, candidate in enumerate(candidates):
            key = normalise_text(candidate.text)
            seed_similarity = self._similarity(features[i], features[n + i])
            if key == normalise_text(candidate.seed_text):
                reasons.append("duplicate: exact copy of its seed")
                continue
            if seed_similarity >= self.threshold:
                reasons.append(f"duplicate: near copy of its seed (similarity {seed_similarity:.2f})")
                continue
            if key in exact:
                reasons.append(f"duplicate: exact copy of {exact[key]}")
                continue
            similarity, where = best_ref[i]
            if similarity >= self.threshold:
                reasons.append(f"duplicate: near copy of {where} (similarity {similarity:.2f})")
                continue
            match = next(((name, s) for name, f in kept
                          if (s := self._similarity(features[i], f)) >= self.threshold), None)
            if match is not None:
                reasons.append(f"duplicate: {'exact' if match[1] >= 1 - 1e-9 else 'near'} copy of {match[0]} "
                               f"(similarity {match[1]:.2f})")
                continue
            kept.append((f"variation {candidate.sample_index} of seed {candidate.seed_id}", features[i]))
            reasons.append(None)
        return reasons

    # -- similarity ----------------------------------------------------------------------
    def _features(self, texts: list[str]) -> list:
        if self.embed is None:
            return [char_ngrams(t, self.ngram) for t in texts]
        vectors = np.asarray(self.embed(texts), dtype=float)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return list(vectors / np.where(norms == 0, 1, norms))

    def _similarity(self, a, b) -> float:
        return jaccard(a, b) if self.embed is None else float(np.dot(a, b))

    def _reference_similarity(self, texts: list[str], reference: pd.DataFrame) -> list[tuple[float, str]]:
        """For each text, the highest similarity to any reference text and which one it was."""
        if reference.empty:
            return [(0.0, "")] * len(texts)
        names = [f"{kind} {ref_id}" for ref_id, kind in zip(reference["id"], reference["kind"])]
        ref_texts = reference["text"].astype(str).tolist()
        if self.embed is not None:
            query = np.asarray(self._features(texts))
            refs = np.asarray(self._features(ref_texts))
            scores = query @ refs.T
            best = scores.argmax(axis=1)
            return [(float(scores[i, j]), names[j]) for i, j in enumerate(best)]
        vocabulary: dict[str, int] = {}
        ref_matrix = _binary_matrix([char_ngrams(t, self.ngram) for t in ref_texts], vocabulary, grow=True)
        query_matrix = _binary_matrix([char_ngrams(t, self.ngram) for t in texts], vocabulary, grow=False)
        query_sizes = np.array([len(char_ngrams(t, self.ngram)) for t in texts])
        ref_sizes = np.asarray(ref_matrix.sum(axis=1)).ravel()
        results = []
        for start in range(0, len(texts), 256):  # bounded memory for large pools
            shared = (query_matrix[start:start + 256] @ ref_matrix.T).tocsr()
            for row in range(shared.shape[0]):
                columns = shared.indices[shared.indptr[row]:shared.indptr[row + 1]]
                if len(columns) == 0:
                    results.append((0.0, ""))
                    continue
                counts = shared.data[shared.indptr[row]:shared.indptr[row + 1]]
                scores = counts / (query_sizes[start + row] + ref_sizes[columns] - counts)
                best = int(scores.argmax())
                results.append((float(scores[best]), names[columns[best]]))
        return results


def _binary_matrix(sets: list[set[str]], vocabulary: dict[str, int], grow: bool) -> sparse.csr_matrix:
    rows, columns = [], []
    for row, grams in enumerate(sets):
        for gram in grams:
            column = vocabulary.get(gram)
            if column is None and grow:
                column = vocabulary[gram] = len(vocabulary)
            if column is not None:
                rows.append(row)
                columns.append(column)
    data = np.ones(len(rows), dtype=np.float64)
    return sparse.csr_matrix((data, (rows, columns)), shape=(len(sets), max(len(vocabulary), 1)))


def default_filters() -> list:
    """Quality, refusal, label gate (the learner passed to ``generate``), then duplicates."""
    return [QualityFilter(), RefusalFilter(), LabelGate(), DuplicateFilter()]


def reason_kind(reason: str | None) -> str | None:
    """The kind of a rejection reason (the part before the first colon)."""
    return None if not reason else reason.split(":", 1)[0]
