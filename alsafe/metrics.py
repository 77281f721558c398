"""Metrics of the paper, as functions anyone can call on their own splits and predictions."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd


def class_counts(labels: Iterable[str], classes: Sequence[str]) -> pd.Series:
    """How many times each of ``classes`` occurs in ``labels`` (absent classes count 0)."""
    counts = pd.Series(list(labels), dtype="object").value_counts()
    unknown = sorted(set(counts.index) - set(classes))
    if unknown:
        raise ValueError(f"labels contain {unknown}, which are not among classes {list(classes)}.")
    return counts.reindex(list(classes), fill_value=0).astype(int)


def class_count_std(labels: Iterable[str], classes: Sequence[str]) -> float:
    """Sample standard deviation (ddof=1) of the per-class counts: the paper's Table 3 balance measure.

    The paper's values (57.6 Random, 47.6 TopN, 41.4 Cluster) are the sample, not population,
    standard deviation of the six counts.
    """
    return float(np.std(class_counts(labels, classes).to_numpy(), ddof=1))


# -- classification scores ---------------------------------------------------------------------

def _encode(labels: Iterable[str], classes: Sequence[str], name: str) -> np.ndarray:
    """Integer codes of ``labels`` in the order of ``classes``; unknown labels are an error naming ``name``."""
    position = {label: index for index, label in enumerate(classes)}
    values = list(labels)
    unknown = sorted({str(label) for label in values if label not in position})
    if unknown:
        raise ValueError(f"{name} contains {unknown}, which are not among classes {list(classes)}.")
    return np.fromiter((position[label] for label in values), dtype=np.int64, count=len(values))


def _codes(y_true, y_pred, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    true, pred = _encode(y_true, classes, "y_true"), _encode(y_pred, classes, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} labels but y_pred has {len(pred)}; pass one prediction per item.")
    if len(true) == 0:
        raise ValueError("y_true is empty; scores need at least one item.")
    return true, pred


def confusion_counts(y_true, y_pred, classes: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix as counts: rows are true classes, columns predicted classes, both in ``classes`` order."""
    true, pred = _codes(y_true, y_pred, classes)
    n = len(classes)
    matrix = np.bincount(true * n + pred, minlength=n * n).reshape(n, n)
    return pd.DataFrame(matrix, index=pd.Index(list(classes), name="true"),
                        columns=pd.Index(list(classes), name="predicted"))


def _scores_from_confusion(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 (fractions) from confusion matrices of shape (..., c, c).

    A class never predicted has precision 0, a class never true has recall 0, and F1 is 0 when both
    are 0 (scikit-learn's ``zero_division=0``).
    """
    hits = np.diagonal(matrix, axis1=-2, axis2=-1).astype(float)
    predicted = matrix.sum(axis=-2).astype(float)
    true = matrix.sum(axis=-1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(true > 0, hits / true, 0.0)
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / total, 0.0)
        accuracy = hits.sum(axis=-1) / matrix.sum(axis=(-2, -1))
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}


def classification_scores(y_true, y_pred, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 in percent, as in the paper's Tables 4-6.

    The macro average is the unweighted mean over all of ``classes``; a class absent from the
    predictions scores precision 0 and F1 0 (scikit-learn's ``average="macro", zero_division=0``
    with ``labels=classes``).
    """
    matrix = confusion_counts(y_true, y_pred, classes).to_numpy()
    scores = _scores_from_confusion(matrix)
    return {
        "accuracy": 100 * float(scores["accuracy"]),
        "precision": 100 * float(scores["precision"].mean()),
        "recall": 100 * float(scores["recall"].mean()),
        "f1": 100 * float(scores["f1"].mean()),
    }


def per_class_scores(y_true, y_pred, classes: Sequence[str]) -> pd.DataFrame:
    """Precision, recall and F1 (percent) and support of each class, one row per class."""
    matrix = confusion_counts(y_true, y_pred, classes).to_numpy()
    scores = _scores_from_confusion(matrix)
    return pd.DataFrame({
        "class": list(classes),
        "precision": 100 * scores["precision"],
        "recall": 100 * scores["recall"],
        "f1": 100 * scores["f1"],
        "support": matrix.sum(axis=1),
    })


# -- errors across classes (the paper's Table 8) -----------------------------------------------

ERROR_GROUPINGS = ("true", "predicted")


def class_error_rates(y_true, y_pred, classes: Sequence[str], reference_counts: Mapping[str, int] | None = None,
                      by: str = "true") -> pd.Series:
    """Errors of each class divided by that class's number of items, in percent.

    Parameters
    ----------
    y_true, y_pred : labels of the evaluated items.
    classes : every class, in display order.
    reference_counts : items per class to divide by; default the class counts of ``y_true`` (the
        test set), which makes each value the class's error rate (100 minus its recall).
    by : ``"true"`` counts an error under its true class; ``"predicted"`` under the predicted one.

    A class with no reference items has no rate (NaN) and is left out of :func:`normalized_error_std`.
    """
    if by not in ERROR_GROUPINGS:
        raise ValueError(f"by must be one of {ERROR_GROUPINGS}, not {by!r}.")
    true, pred = _codes(y_true, y_pred, classes)
    wrong = true != pred
    errors = np.bincount((true if by == "true" else pred)[wrong], minlength=len(classes)).astype(float)
    if reference_counts is None:
        counts = np.bincount(true, minlength=len(classes)).astype(float)
    else:
        missing = [c for c in classes if c not in reference_counts]
        if missing:
            raise ValueError(f"reference_counts lacks {missing}; give a count (possibly 0) for every class.")
        counts = np.array([reference_counts[c] for c in classes], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(counts > 0, 100 * errors / counts, np.nan)
    return pd.Series(rates, index=list(classes), name="error_rate")


def normalized_error_std(y_true, y_pred, classes: Sequence[str], reference_counts: Mapping[str, int] | None = None,
                         by: str = "true", ddof: int = 1) -> float:
    """Standard deviation across classes of the class-normalized errors: the paper's Table 8.

    The paper (section 5.4): "When normalized by the number of samples from each class in the full
    dataset (Table 8), we observe that clustering-based active learning has lowest standard
    deviation of errors across classes"; Table 8's caption: "Standard deviation of errors across
    all classes on the full test set, normalized by the class frequency". Its values (29.71 to
    33.75) are percentages. The reading implemented by default: count the errors of the whole test
    set under their true class, divide by that class's number of test items (the "full" test set,
    not the 100 sampled errors of Figure 3), express in percent, and take the sample standard
    deviation (``ddof=1``, as the paper's Table 3 std is) over the classes. Where the text is
    ambiguous the alternatives are parameters: ``reference_counts`` (e.g. the class counts of all
    released rows for "the full dataset"), ``by="predicted"`` and ``ddof=0``.
    Classes with no reference items (see :func:`class_error_rates`) are left out.
    """
    rates = class_error_rates(y_true, y_pred, classes, reference_counts, by).dropna().to_numpy()
    if len(rates) <= ddof:
        raise ValueError(f"need more than ddof={ddof} classes with reference items to take a standard deviation.")
    return float(np.std(rates, ddof=ddof))


# -- paired bootstrap over test items ----------------------------------------------------------

SCORE_NAMES = ("accuracy", "precision", "recall", "f1")


def paired_bootstrap(y_true, pred_a, pred_b, classes: Sequence[str], metric: str = "f1", n_resamples: int = 1000,
                     confidence: float = 0.95, random_state: int | np.random.Generator = 0) -> dict[str, float]:
    """Percentile bootstrap CI of ``metric(pred_a) - metric(pred_b)`` resampling test items, paired.

    Parameters
    ----------
    y_true : true labels of the n test items.
    pred_a, pred_b : predicted labels, shape (n,) or (n_seeds, n) for several seeds of one
        configuration; with seeds, each resample scores every seed on the same items and averages
        the metric over seeds, so the interval reflects item sampling around the seed mean.
    classes : every class (the macro average runs over all of them).
    metric : one of ``accuracy``, ``precision``, ``recall``, ``f1`` (macro, percent).
    n_resamples : number of bootstrap resamples.
    confidence : two-sided coverage of the interval.
    random_state : seed or Generator; the same seed gives the same interval.

    Returns
    -------
    dict with ``difference`` (on the full test set), ``low``, ``high``, and ``p_not_greater``, the
    share of resamples where the difference is <= 0 (a one-sided bootstrap p-value for a > b).
    """
    if metric not in SCORE_NAMES:
        raise ValueError(f"metric must be one of {SCORE_NAMES}, not {metric!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, not {n_resamples}.")
    true = _encode(y_true, classes, "y_true")
    runs = []
    for name, pred in (("pred_a", pred_a), ("pred_b", pred_b)):
        pred = np.asarray(pred, dtype=object)
        pred = pred[None, :] if pred.ndim == 1 else pred
        if pred.shape[-1] != len(true):
            raise ValueError(f"{name} has {pred.shape[-1]} predictions per run but y_true has {len(true)} items.")
        runs.append(np.stack([_encode(row, classes, name) for row in pred]))
    n, c = len(true), len(classes)
    rng = np.random.default_rng(random_state)
    # Resample weights: how often each item is drawn in each resample (B, n).
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_resamples).astype(float)
    full = np.ones((1, n))

    def metric_of(codes: np.ndarray, w: np.ndarray) -> np.ndarray:
        values = []
        for row in codes:  # one seed at a time: (B, n) @ (n, c*c) -> confusion matrices (B, c, c)
            cells = np.zeros((n, c * c))
            cells[np.arange(n), true * c + row] = 1
            scores = _scores_from_confusion((w @ cells).reshape(-1, c, c))
            value = scores[metric] if metric == "accuracy" else scores[metric].mean(axis=-1)
            values.append(100 * value)
        return np.mean(values, axis=0)

    differences = metric_of(runs[0], weights) - metric_of(runs[1], weights)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(differences, [alpha, 1 - alpha])
    return {
        "difference": float((metric_of(runs[0], full) - metric_of(runs[1], full))[0]),
        "low": float(low),
        "high": float(high),
        "p_not_greater": float(np.mean(differences <= 0)),
    }
