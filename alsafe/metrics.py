"""Metrics of the paper, as functions anyone can call on their own splits and predictions."""

from __future__ import annotations

from typing import Iterable, Sequence

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
