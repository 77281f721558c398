"""Agreement between two annotators on the items both labeled: Cohen's kappa.

The paper reports kappa = 81.89 (in percent) between its two annotators; :data:`PAPER_KAPPA_PERCENT`
keeps that number for comparison.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from alsafe.store import RunStore, StoreError

PAPER_KAPPA_PERCENT = 81.89


def cohen_kappa(first: Sequence[str], second: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Cohen's kappa between two equally long label sequences.

    Parameters
    ----------
    first, second : the two annotators' labels, item by item.
    labels : classes to count (default: every label either annotator used). Pairs outside them are ignored,
        as in :func:`sklearn.metrics.cohen_kappa_score`.

    Returns
    -------
    float
        ``(p_o - p_e) / (1 - p_e)``; NaN when chance agreement is already perfect (both gave one same class).
    """
    first, second = list(first), list(second)
    if len(first) != len(second):
        raise ValueError(f"The two label lists differ in length ({len(first)} vs {len(second)}); "
                         "pass one label per shared item from each annotator.")
    classes = list(labels) if labels is not None else sorted(set(first) | set(second))
    index = {name: position for position, name in enumerate(classes)}
    pairs = [(index[a], index[b]) for a, b in zip(first, second) if a in index and b in index]
    if not pairs:
        raise ValueError("No item has labels from both annotators among the given classes; kappa is undefined.")
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, tuple(np.array(pairs).T), 1)
    total = confusion.sum()
    observed = np.trace(confusion) / total
    expected = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / total**2
    if expected == 1.0:
        return float("nan")
    return float((observed - expected) / (1.0 - expected))


def shared_labels(store: RunStore, first: str, second: str) -> pd.DataFrame:
    """Items both annotators labeled, with each one's current label (columns ``item_id``, ``first``, ``second``)."""
    labels = store.labels()
    known = set(labels["annotator"])
    missing = [name for name in (first, second) if name not in known]
    if missing:
        raise StoreError(f"{store.path} has no labels by {', '.join(map(repr, missing))}; "
                         f"annotators with labels are {', '.join(map(repr, sorted(known))) or 'none'}.")
    # The latest active label of each annotator per item is that annotator's answer.
    latest = labels.sort_values("id").groupby(["annotator", "item_id"])["label"].last()
    table = pd.concat([latest[first].rename("first"), latest[second].rename("second")], axis=1, join="inner")
    return table.rename_axis("item_id").reset_index()


def agreement_report(store: RunStore, first: str, second: str) -> dict:
    """Cohen's kappa and raw agreement between annotators ``first`` and ``second`` on their shared items.

    Returns
    -------
    dict
        ``first, second, n_shared, observed_agreement, kappa, kappa_percent, paper_kappa_percent`` and
        ``confusion`` (a table: rows ``first``'s labels, columns ``second``'s, in taxonomy order).
    """
    if first == second:
        raise ValueError(f"Agreement needs two different annotators; both are {first!r}.")
    shared = shared_labels(store, first, second)
    if shared.empty:
        raise StoreError(f"Annotators {first!r} and {second!r} labeled no item in common in {store.path}; "
                         "have both label the same round.")
    names = store.taxonomy.names
    kappa = cohen_kappa(shared["first"], shared["second"], labels=names)
    confusion = pd.crosstab(pd.Categorical(shared["first"], names), pd.Categorical(shared["second"], names),
                            dropna=False, rownames=[first], colnames=[second])
    return {
        "first": first,
        "second": second,
        "n_shared": len(shared),
        "observed_agreement": float((shared["first"] == shared["second"]).mean()),
        "kappa": kappa,
        "kappa_percent": 100.0 * kappa,
        "paper_kappa_percent": PAPER_KAPPA_PERCENT,
        "confusion": confusion,
    }
