"""What the clusters of a pool hold: the representativeness argument of the paper, made visible.

Rare classes (emergencies) concentrate in a few clusters of the embedding space, so taking items from
every cluster reaches them even when uncertainty sampling alone would not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alsafe.learn.strategies import cluster_pool
from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.taxonomy import Taxonomy


def cluster_composition(embeddings: np.ndarray, labels, n_clusters: int, random_state: int = 0,
                        taxonomy: Taxonomy = PAPER_TAXONOMY) -> pd.DataFrame:
    """Cluster the pool (as the loop does) and count each class per cluster; one row per cluster.

    Columns: ``cluster``, ``size``, one count column per class (display names) and ``majority``
    (the display name of the cluster's most frequent class). Rows are sorted by size.
    """
    labels = np.asarray(labels)
    if len(labels) != len(embeddings):
        raise ValueError(f"labels has {len(labels)} entries but embeddings has {len(embeddings)} rows.")
    clusters = cluster_pool(np.asarray(embeddings, dtype=np.float32), n_clusters, random_state=random_state)
    table = pd.crosstab(pd.Series(clusters, name="cluster"), pd.Series(labels, name="label"))
    table = table.reindex(index=range(n_clusters), columns=taxonomy.names, fill_value=0)
    table.columns = [taxonomy.display(name) for name in table.columns]
    table.insert(0, "size", table.sum(axis=1))
    table["majority"] = table.drop(columns="size").idxmax(axis=1).where(table["size"] > 0)
    return table.reset_index().sort_values(["size", "cluster"], ascending=[False, True]).reset_index(drop=True)


def class_reach(composition: pd.DataFrame) -> pd.DataFrame:
    """Per class: items, clusters holding any, and the share of the class held by its top 3 clusters."""
    classes = [c for c in composition.columns if c not in ("cluster", "size", "majority")]
    rows = []
    for name in classes:
        counts = composition[name].sort_values(ascending=False)
        total = int(counts.sum())
        rows.append({"class": name, "items": total, "clusters_with_any": int((counts > 0).sum()),
                     "share_in_top3_clusters": float(counts.head(3).sum() / total) if total else float("nan")})
    return pd.DataFrame(rows)
