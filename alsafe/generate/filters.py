"""Filters over generated variations; every rejection carries a reason, nothing is dropped silently.

A filter's :meth:`apply` takes the candidates still standing and returns, for each, None (kept) or a
reason ``"<kind>: <detail>"``. The generator runs the filters in order; a candidate rejected by one is
not shown to the next. The kinds: ``empty``, ``too short``, ``too long``, ``truncated``, ``refusal``,
``label gate`` and ``duplicate`` (plus ``extra`` from the generator for answers beyond the ones asked).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from alsafe.generate.similarity import (EmbeddingIndex, NgramIndex, binary_matrix, char_ngrams, jaccard, jaccard_row,
                                        normalise_text, unit_rows)
from alsafe.learn.learners import make_learner


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
    labeled: pd.DataFrame | None = None  # the run's current human labels (``text, label``), for a gate of its own


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


# Answers about the prompt or the model, and the prompt's own instructions echoed back.
ABOUT_PROMPT_PATTERNS = (
    r"\b(?:system|my|the) (?:prompt|instructions)\b",
    r"\b(?:I am|I'm|as) an? (?:AI|language model|assistant|chatbot)\b",
    r"\byou rewrite short reddit\b",
    r"\bsafety[- ]classification dataset\b",
)
ECHO_PATTERNS = (
    r"\b(?:ignore|disregard|forget) (?:all |any )?(?:the )?(?:previous|prior|above|earlier) "
    r"(?:instructions|prompts?|rules|messages)\b",
    r"\bwrite \d+ (?:different )?variations?\b",
    r"\bJSON list\b",
    r"</?\s*title\b|&lt;/?title",
    r"\bcategory\s*[\":]",
)


class ContentFilter:
    """Reject what is not one new title: answers about the prompt or the model, echoed instructions,
    multi-line or list answers, and lengths far outside the seed's.

    Parameters
    ----------
    max_ratio : a variation longer than ``max_ratio`` x the seed (plus ``slack`` characters) is rejected.
    min_ratio : one shorter than ``min_ratio`` x the seed (seeds of 20 characters or more) is rejected.
    """

    def __init__(self, max_ratio: float = 4.0, min_ratio: float = 0.15, slack: int = 60):
        self.max_ratio, self.min_ratio, self.slack = max_ratio, min_ratio, slack
        self._about = [re.compile(p, re.IGNORECASE) for p in ABOUT_PROMPT_PATTERNS]
        self._echo = [re.compile(p, re.IGNORECASE) for p in ECHO_PATTERNS]
        self._listed = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s|\s\d{1,2}[.)]\s+\S.*\s\d{1,2}[.)]\s")

    def _reason(self, candidate: Candidate) -> str | None:
        text, seed = candidate.text, candidate.seed_text
        for kind, patterns in (("about the prompt", self._about), ("instruction echo", self._echo)):
            hit = next((m for m in (p.search(text) for p in patterns) if m), None)
            if hit is not None:
                return f"{kind}: {hit.group(0)!r}"
        if "\n" in text.strip() or self._listed.search(text):
            return "not one title: a multi-line or list answer"
        length, seed_length = len(text.strip()), len(seed.strip())
        if length > self.max_ratio * seed_length + self.slack:
            return f"length: {length} characters against the seed's {seed_length}"
        if seed_length >= 20 and length < self.min_ratio * seed_length:
            return f"length: {length} characters against the seed's {seed_length}"
        return None

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        return [self._reason(candidate) for candidate in candidates]


class LabelGate:
    """Keep a variation only if a classifier does not confidently give it a different label.

    Parameters
    ----------
    classifier : an object with ``predict_proba(texts)`` and ``classes_`` (a second classifier or an
        :class:`alsafe.generate.judge.LLMJudge`); None uses the learner passed to ``generate``.
    threshold : probability at or above which a different predicted label rejects the variation.
    fallback : a learner name (:func:`alsafe.learn.learners.make_learner`) trained on the run's current
        human labels when there is neither ``classifier`` nor a learner from ``generate``, so the gate
        is on wherever variations are made; None turns that off.
    """

    def __init__(self, classifier=None, threshold: float = 0.8, fallback: str | None = "embedding-lr"):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}.")
        self.classifier = classifier
        self.threshold = threshold
        self.fallback = fallback

    def _own_learner(self, context: FilterContext):
        """The fallback learner fitted on the run's human labels (None with fewer than two classes)."""
        labeled = context.labeled
        if self.fallback is None or labeled is None or labeled["label"].nunique() < 2:
            return None
        return make_learner(self.fallback).fit(labeled["text"].tolist(), labeled["label"].tolist())

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        judge = self.classifier if self.classifier is not None else context.learner
        if judge is None and candidates:
            judge = self._own_learner(context)
        if judge is None:
            warnings.warn("LabelGate has no classifier and generate() got no learner, so labels are not checked.",
                          stacklevel=3)
            return [None] * len(candidates)
        if not candidates:
            return []
        who = type(judge).__name__ if self.classifier is not None or context.learner is None else "learner"
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


class DuplicateFilter:
    """Reject exact and near duplicates of the seed, of each other and of existing texts.

    Near means character n-gram Jaccard similarity at or above ``threshold`` (dependency-free, exact),
    or, with ``embed``, cosine similarity of the embeddings at or above ``threshold``.

    Parameters
    ----------
    threshold : similarity from which a variation counts as a near duplicate.
    ngram : character n-gram length for Jaccard.
    embed : optional ``texts -> array`` embedding function used instead of Jaccard.
    against_reference : also compare with the store's items (pool, labeled, dev, test), accepted
        variations and the prompt's examples.
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

    def prepare(self, context: FilterContext) -> None:
        """Index the reference texts now (slow for a large pool); ``generate`` runs this during the calls."""
        self.index_ = (id(context.reference), self._reference_index(context.reference))

    def apply(self, candidates: Sequence[Candidate], context: FilterContext) -> list[str | None]:
        if not candidates:
            return []
        prepared = getattr(self, "index_", None)
        if prepared is not None and prepared[0] == id(context.reference):
            reference = prepared[1]
        else:
            reference = self._reference_index(context.reference)
        texts = [c.text for c in candidates]
        features = self._features(texts)
        best_reference = reference.search.best(features)
        within = self._pairwise(features)
        seed_texts = list(dict.fromkeys(c.seed_text for c in candidates))
        seed_features = dict(zip(seed_texts, list(self._features(seed_texts))))
        rows = list(features)
        kept: dict[int, str] = {}  # position -> name, of the variations kept so far
        reasons = []
        for i, candidate in enumerate(candidates):
            similarity, where = best_reference[i]
            reason = self._verdict(i, candidate, rows[i], seed_features[candidate.seed_text], reference,
                                   (similarity, reference.names[where] if where >= 0 else ""), within, kept)
            if reason is None:
                kept[i] = f"variation {candidate.sample_index} of seed {candidate.seed_id}"
            reasons.append(reason)
        return reasons

    def _verdict(self, i, candidate, row, seed_row, reference, best_reference, within, kept) -> str | None:
        key = normalise_text(candidate.text)
        if key == normalise_text(candidate.seed_text):
            return "duplicate: exact copy of its seed"
        seed_similarity = self._similarity(row, seed_row)
        if seed_similarity >= self.threshold:
            return f"duplicate: near copy of its seed (similarity {seed_similarity:.2f})"
        if key in reference.exact:
            return f"duplicate: exact copy of {reference.exact[key]}"
        similarity, where = best_reference
        if similarity >= self.threshold:
            return f"duplicate: near copy of {where} (similarity {similarity:.2f})"
        if kept:
            columns, scores = within(i)
            hits = (columns < i) & (scores >= self.threshold)
            hits[hits] = [int(j) in kept for j in columns[hits]]
            if hits.any():
                first = int(np.flatnonzero(hits)[columns[hits].argmin()])  # the earliest kept variation
                score, j = float(scores[first]), int(columns[first])
                kind = "exact" if score >= 1 - 1e-9 else "near"
                return f"duplicate: {kind} copy of {kept[j]} (similarity {score:.2f})"
        return None

    # -- similarity ----------------------------------------------------------------------
    def _features(self, texts: list[str]):
        """n-gram sets (Jaccard) or unit-length embedding rows (cosine)."""
        if self.embed is None:
            return [char_ngrams(t, self.ngram) for t in texts]
        return unit_rows(self.embed(texts)) if texts else np.zeros((0, 1))

    def _similarity(self, a, b) -> float:
        return jaccard(a, b) if self.embed is None else float(np.dot(a, b))

    def _reference_index(self, reference: pd.DataFrame) -> "_Reference":
        if not self.against_reference:
            reference = reference.iloc[:0]
        names = [f"{kind} {ref_id}" for ref_id, kind in zip(reference["id"], reference["kind"])]
        texts = reference["text"].astype(str).tolist()
        exact: dict[str, str] = {}
        for text, name in zip(texts, names):
            exact.setdefault(normalise_text(text), name)
        features = self._features(texts)
        search = (NgramIndex(features, self.threshold) if self.embed is None
                  else EmbeddingIndex(features, self.threshold))
        return _Reference(names, exact, search)

    def _pairwise(self, features) -> Callable[[int], tuple[np.ndarray, np.ndarray]]:
        """A function giving, for candidate i, the other candidates' positions and similarities to it."""
        if self.embed is not None:
            scores = features @ features.T
            everyone = np.arange(len(features))
            return lambda i: (everyone, scores[i])
        vocabulary: dict[str, int] = {}
        matrix = binary_matrix(features, vocabulary, grow=True)
        shared = (matrix @ matrix.T).tocsr()
        sizes = np.array([len(f) for f in features])
        return lambda i: jaccard_row(shared, i, sizes[i], sizes)


@dataclass
class _Reference:
    """Reference texts ready for matching: display names, exact keys, and a similarity index."""

    names: list[str]
    exact: dict[str, str]
    search: NgramIndex | EmbeddingIndex


def default_filters() -> list:
    """Quality, refusal, content, label gate (the learner passed to ``generate``), then duplicates."""
    return [QualityFilter(), RefusalFilter(), ContentFilter(), LabelGate(), DuplicateFilter()]


def reason_kind(reason: str | None) -> str | None:
    """The kind of a rejection reason (the part before the first colon)."""
    return None if not reason else reason.split(":", 1)[0]
