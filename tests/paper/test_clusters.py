"""Cluster composition of a pool: counts per class and cluster, reach of each class."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import numpy as np
import pytest

from alsafe.paper.clusters import class_reach, cluster_composition
from alsafe.paper.figures import plot_cluster_composition


def test_two_blobs_hold_their_classes():
    rng = np.random.default_rng(0)
    embeddings = np.vstack([rng.normal(0, 0.05, (30, 4)) + 5, rng.normal(0, 0.05, (10, 4)) - 5]).astype(np.float32)
    labels = ["discard"] * 28 + ["self-harm"] * 2 + ["emergency-situation"] * 10
    table = cluster_composition(embeddings, labels, n_clusters=2, random_state=0)
    assert table["size"].tolist() == [30, 10]
    assert table.loc[0, ["Not-Harmful", "Self-Harm"]].tolist() == [28, 2]
    assert table.loc[1, "Emergency-Situation"] == 10 and table["majority"].tolist() == ["Not-Harmful", "Emergency-Situation"]
    reach = class_reach(table).set_index("class")
    assert reach.loc["Emergency-Situation", "clusters_with_any"] == 1
    assert reach.loc["Emergency-Situation", "share_in_top3_clusters"] == pytest.approx(1.0)
    assert np.isnan(reach.loc["Legal-Advice", "share_in_top3_clusters"])
    assert len(plot_cluster_composition(table).axes[0].patches) == 6 * 2
    with pytest.raises(ValueError, match="labels has 3 entries but embeddings has 40 rows"):
        cluster_composition(embeddings, labels[:3], n_clusters=2)
