"""Unit tests for alsafe.learn.strategies on small hand-made pools with known answers."""

import math

import numpy as np
import pytest

from alsafe.learn.strategies import (
    STRATEGIES,
    Selection,
    cluster_pool,
    entropy,
    least_confidence,
    margin,
    select,
    select_cluster,
    select_coreset,
    select_random,
    select_topn,
)


def binary_proba(gaps):
    """Two-class probabilities ``[0.5 + g, 0.5 - g]``: a smaller gap is more uncertain."""
    gaps = np.asarray(gaps, dtype=float)
    return np.column_stack([0.5 + gaps, 0.5 - gaps])


# ---- uncertainty measures


def test_entropy_values():
    assert entropy([[0.5, 0.5], [1.0, 0.0]]) == pytest.approx([math.log(2), 0.0])
    four = entropy([[0.25, 0.25, 0.25, 0.25], [0.7, 0.2, 0.1, 0.0]])
    expected = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert four == pytest.approx([math.log(4), expected])
    assert not np.isnan(entropy([[0.0, 1.0]])).any()


def test_least_confidence_values():
    assert least_confidence([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]]) == pytest.approx([0.3, 0.5])


def test_margin_values():
    # 1 - (p1 - p2): higher means the two top classes are closer.
    assert margin([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]]) == pytest.approx([0.5, 1.0, 0.0])
    assert margin([[0.1, 0.3, 0.6]]) == pytest.approx([0.7])
    assert margin([[1.0]]) == pytest.approx([0.0])


# ---- topn


def test_topn_picks_most_uncertain_and_skips_labeled():
    proba = binary_proba([0.4, 0.05, 0.3, 0.0, 0.1, 0.45])
    sel = select_topn(3, proba=proba)
    assert sel.indices.tolist() == [3, 1, 4]
    assert sel.scores == pytest.approx(entropy(proba)[[3, 1, 4]])
    assert sel.clusters.tolist() == [-1, -1, -1]

    labeled = np.array([False, False, False, True, False, False])
    assert select_topn(3, proba=proba, labeled_mask=labeled).indices.tolist() == [1, 4, 2]


def test_topn_ties_go_to_lower_index():
    proba = binary_proba([0.3, 0.1, 0.1, 0.3, 0.1, 0.2])
    assert select_topn(2, proba=proba).indices.tolist() == [1, 2]
    assert select_topn(4, proba=proba).indices.tolist() == [1, 2, 4, 5]
    assert select_topn(6, proba=proba).indices.tolist() == [1, 2, 4, 5, 0, 3]
    labeled = np.array([False, True, False, False, False, False])
    assert select_topn(2, proba=proba, labeled_mask=labeled).indices.tolist() == [2, 4]


def test_topn_other_measures():
    proba = np.array([[0.6, 0.3, 0.1], [0.4, 0.35, 0.25], [0.5, 0.45, 0.05]])
    # least confidence: 0.4, 0.6, 0.5; margin: 0.7, 0.95, 0.95 (tie -> lower index).
    assert select_topn(2, proba=proba, uncertainty="least_confidence").indices.tolist() == [1, 2]
    assert select_topn(2, proba=proba, uncertainty="margin").indices.tolist() == [1, 2]
    assert select_topn(1, proba=proba, uncertainty=lambda p: p[:, 2]).indices.tolist() == [1]


# ---- random


def test_random_reproducible_and_unlabeled_only():
    labeled = np.zeros(100, dtype=bool)
    labeled[::2] = True
    first = select_random(10, labeled_mask=labeled, random_state=7)
    again = select_random(10, labeled_mask=labeled, random_state=7)
    other = select_random(10, labeled_mask=labeled, random_state=8)
    assert first.indices.tolist() == again.indices.tolist()
    assert first.indices.tolist() != other.indices.tolist()
    assert len(set(first.indices.tolist())) == 10
    assert not labeled[first.indices].any()
    assert np.isnan(first.scores).all()


def test_random_accepts_generator_and_reports_scores():
    proba = binary_proba(np.linspace(0, 0.5, 20))
    sel = select_random(5, proba=proba, random_state=np.random.default_rng(3))
    assert sel.indices.tolist() == select_random(5, proba=proba, random_state=3).indices.tolist()
    assert sel.scores == pytest.approx(entropy(proba)[sel.indices])


# ---- coreset

# Labeled centre at the origin; distances^2 to it: 1, 9, 4, 0.5.
POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [-2.0, 0.0], [0.5, 0.5]])


def test_coreset_picks_farthest_from_labeled():
    labeled = np.array([True, False, False, False, False])
    sel = select_coreset(3, embeddings=POINTS, labeled_mask=labeled)
    # (0,3) is farthest from the origin; then (-2,0) (4 vs 1 vs 0.5); then (1,0).
    assert sel.indices.tolist() == [2, 3, 1]
    assert np.isnan(sel.scores).all()


def test_coreset_without_labeled_starts_from_seeded_item():
    sel = select_coreset(2, embeddings=POINTS, random_state=0)
    again = select_coreset(2, embeddings=POINTS, random_state=0)
    assert sel.indices.tolist() == again.indices.tolist()
    first = sel.indices[0]
    farthest = np.argmax(((POINTS - POINTS[first]) ** 2).sum(axis=1))
    assert sel.indices[1] == farthest
    assert select_coreset(5, embeddings=POINTS, random_state=0).indices.tolist().count(first) == 1


def test_coreset_handles_duplicates():
    emb = np.zeros((6, 3), dtype=np.float32)
    emb[5] = 1.0
    sel = select_coreset(4, embeddings=emb, labeled_mask=np.array([True] + [False] * 5))
    # The distinct point first, then the duplicates of the centre by index.
    assert sel.indices.tolist() == [5, 1, 2, 3]


def brute_force_coreset(emb, labeled, n):
    centres = list(np.flatnonzero(labeled))
    picks = []
    for _ in range(n):
        dist = ((emb[:, None, :] - emb[None, centres, :]) ** 2).sum(axis=2).min(axis=1)
        dist[centres] = -np.inf
        picks.append(int(np.argmax(dist)))
        centres.append(picks[-1])
    return picks


def test_coreset_matches_brute_force_across_chunks(monkeypatch):
    import alsafe.learn.strategies as strategies

    monkeypatch.setattr(strategies, "_CHUNK_ROWS", 3)  # many row and centre blocks
    rng = np.random.default_rng(4)
    emb = rng.normal(size=(40, 5)).astype(np.float32)
    labeled = np.zeros(40, dtype=bool)
    labeled[rng.choice(40, size=11, replace=False)] = True
    sel = select_coreset(6, embeddings=emb, labeled_mask=labeled)
    assert sel.indices.tolist() == brute_force_coreset(emb.astype(np.float64), labeled, 6)


# ---- cluster


def make_blobs(rng, per_blob=10):
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    emb = np.concatenate([c + rng.normal(size=(per_blob, 2)) for c in centres])
    blob = np.repeat(np.arange(3), per_blob)
    proba = rng.dirichlet(np.ones(4), size=len(emb))
    return emb, blob, proba


def test_cluster_picks_most_uncertain_item_of_each_blob():
    emb, blob, proba = make_blobs(np.random.default_rng(0))
    scores = entropy(proba)
    best = {int(np.flatnonzero(blob == b)[np.argmax(scores[blob == b])]) for b in range(3)}
    sel = select_cluster(3, proba=proba, embeddings=emb, n_clusters=3, random_state=0)
    assert set(sel.indices.tolist()) == best
    assert sorted(blob[sel.indices].tolist()) == [0, 1, 2]
    assert len(set(sel.clusters.tolist())) == 3
    assert sel.scores.tolist() == sorted(sel.scores.tolist(), reverse=True)
    # Same answer from precomputed clusters.
    labels = cluster_pool(emb, 3, random_state=0)
    assert select_cluster(3, proba=proba, clusters=labels).indices.tolist() == sel.indices.tolist()


def test_cluster_pool_subsample_assigns_every_row():
    emb, blob, _ = make_blobs(np.random.default_rng(1), per_blob=200)
    labels = cluster_pool(emb, 3, random_state=0, max_fit_samples=30)
    # Each blob maps to exactly one cluster, and the clusters are distinct.
    mapping = {b: set(labels[blob == b].tolist()) for b in range(3)}
    assert all(len(ids) == 1 for ids in mapping.values())
    assert len(set.union(*mapping.values())) == 3


def test_cluster_short_cluster_gives_share_to_others():
    proba = binary_proba([0.1, 0.2, 0.3, 0.4, 0.45])
    clusters = np.array([0, 0, 0, 0, 1])
    sel = select_cluster(4, proba=proba, clusters=clusters)
    # Share 2 each; cluster 1 has one item, its spare slot goes to cluster 0's next.
    assert sel.indices.tolist() == [0, 1, 2, 4]
    assert sel.clusters.tolist() == [0, 0, 0, 1]


def test_cluster_labeled_items_shrink_a_cluster():
    proba = binary_proba([0.1, 0.2, 0.3, 0.01, 0.02, 0.4])
    clusters = np.array([0, 0, 0, 1, 1, 1])
    labeled = np.array([False, False, False, True, True, False])
    sel = select_cluster(4, proba=proba, clusters=clusters, labeled_mask=labeled)
    assert sel.indices.tolist() == [0, 1, 2, 5]


def test_cluster_empty_cluster():
    proba = binary_proba([0.1, 0.3, 0.2, 0.25])
    clusters = np.array([0, 0, 2, 2])
    sel = select_cluster(3, proba=proba, clusters=clusters, n_clusters=3)
    # One each from clusters 0 and 2; empty cluster 1's slot goes to the best left (3, gap 0.25).
    assert sel.indices.tolist() == [0, 2, 3]
    assert sel.clusters.tolist() == [0, 2, 2]
    # Inferring m from the ids gives the same answer.
    assert select_cluster(3, proba=proba, clusters=clusters).indices.tolist() == [0, 2, 3]


def test_cluster_remainder_goes_to_best_next_item():
    # Cluster 0 next-best gap 0.3; cluster 1 next-best gap 0.15 -> cluster 1 gets the extra.
    proba = binary_proba([0.05, 0.3, 0.4, 0.1, 0.15, 0.2])
    clusters = np.array([0, 0, 0, 1, 1, 1])
    sel = select_cluster(3, proba=proba, clusters=clusters)
    assert sel.indices.tolist() == [0, 3, 4]
    # n < m: the clusters whose best item is most uncertain.
    three = select_cluster(2, proba=binary_proba([0.3, 0.1, 0.2]), clusters=np.array([0, 1, 2]))
    assert three.indices.tolist() == [1, 2]


def test_cluster_ties_are_deterministic():
    proba = binary_proba([0.1] * 8)
    clusters = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    assert select_cluster(3, proba=proba, clusters=clusters).indices.tolist() == [0, 1, 2]
    assert select_cluster(5, proba=proba, clusters=clusters).indices.tolist() == [0, 1, 2, 3, 4]


# ---- dispatcher


def test_select_dispatches_with_one_signature():
    emb, _, proba = make_blobs(np.random.default_rng(2))
    kwargs = dict(proba=proba, embeddings=emb, n_clusters=3, labeled_mask=np.zeros(len(emb), bool), random_state=0)
    for name, strategy in STRATEGIES.items():
        sel = select(name, 4, **kwargs)
        assert isinstance(sel, Selection)
        assert sel.indices.tolist() == strategy(4, **kwargs).indices.tolist()
        assert len(set(sel.indices.tolist())) == 4 == len(sel.scores) == len(sel.clusters)
    assert select("topn", 4, **kwargs).indices.tolist() == np.argsort(-entropy(proba))[:4].tolist()


# ---- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: select_topn(0, proba=binary_proba([0.1])), "n must be a positive integer"),
        (lambda: select_topn(-1, proba=binary_proba([0.1])), "n must be"),
        (lambda: select_topn(2.0, proba=binary_proba([0.1, 0.2])), "n must be"),
        (lambda: select_topn(3, proba=binary_proba([0.1, 0.2])), "n=3 exceeds the 2 unlabeled"),
        (
            lambda: select_topn(2, proba=binary_proba([0.1, 0.2]), labeled_mask=np.array([True, False])),
            "n=2 exceeds the 1 unlabeled",
        ),
        (lambda: select_topn(1, proba=[[np.nan, 1.0]]), "proba contains NaN"),
        (lambda: select_topn(1, proba=[0.5, 0.5]), "proba must be a 2-D array"),
        (lambda: select_topn(1, proba=[[0.5, 0.6]]), "proba rows must be non-negative and sum to 1"),
        (lambda: select_topn(1, proba=[[1.5, -0.5]]), "proba rows must be non-negative"),
        (lambda: entropy([[0.2, 0.2]]), "proba rows"),
        (lambda: select_topn(1), "proba is required by topn"),
        (lambda: select_topn(1, labeled_mask=np.zeros(3, bool)), "proba is required"),
        (lambda: select_coreset(1, proba=binary_proba([0.1])), "embeddings is required by coreset"),
        (lambda: select_cluster(1, proba=binary_proba([0.1])), "embeddings is required by cluster when clusters"),
        (lambda: select_cluster(1, proba=binary_proba([0.1, 0.2]), embeddings=np.eye(2)), "n_clusters is required"),
        (lambda: select_cluster(1, embeddings=np.eye(2), n_clusters=1), "proba is required by cluster"),
        (
            lambda: select_cluster(1, proba=binary_proba([0.1, 0.2]), embeddings=np.eye(2), n_clusters=0),
            "n_clusters must be a positive integer",
        ),
        (
            lambda: select_cluster(1, proba=binary_proba([0.1, 0.2]), embeddings=np.eye(2), n_clusters=3),
            "n_clusters=3 exceeds the 2 unlabeled items",
        ),
        (lambda: cluster_pool(np.eye(2), 3), "n_clusters=3 exceeds the 2 rows"),
        (
            lambda: select_cluster(1, proba=binary_proba([0.1, 0.2]), clusters=np.array([0, 2]), n_clusters=2),
            r"clusters must hold ids in \[0, n_clusters=2\)",
        ),
        (lambda: select_cluster(1, proba=binary_proba([0.1, 0.2]), clusters=np.array([0.0, 1.0])), "clusters must be"),
        (lambda: select_topn(1, proba=binary_proba([0.1, 0.2]), embeddings=np.eye(3)), "embeddings has 3 rows but proba has 2"),
        (lambda: select_topn(1, proba=binary_proba([0.1]), labeled_mask=np.array([0])), "labeled_mask must be a 1-D boolean"),
        (lambda: select_coreset(1, embeddings=[[np.inf, 0.0]]), "embeddings contains NaN"),
        (lambda: select_coreset(1, embeddings=[1.0, 2.0]), "embeddings must be a 2-D array"),
        (lambda: select_random(1), "pass at least one of proba, embeddings"),
        (lambda: select_topn(1, proba=binary_proba([0.1]), uncertainty="bald"), "uncertainty must be one of"),
        (lambda: select("bald", 1, proba=binary_proba([0.1])), "name must be one of"),
    ],
)
def test_errors_name_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        select("topn", 1, proba=binary_proba([0.1]), n_cluster=2)
