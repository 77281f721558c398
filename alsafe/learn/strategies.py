"""Query strategies for pool-based active learning.

Every strategy is a plain function over arrays with one signature::

    select_<name>(n, *, proba=None, embeddings=None, clusters=None,
                  labeled_mask=None, n_clusters=None, uncertainty="entropy",
                  random_state=None) -> Selection

and ignores the arrays it does not need, so the loop can call any of them
through :func:`select` with the same keywords. Already-labeled items
(``labeled_mask`` True) are never selected. All work is vectorized with numpy;
Python loops run over picks, clusters or fixed-size chunks, never over rows.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

__all__ = [
    "Selection", "entropy", "least_confidence", "margin", "UNCERTAINTY", "cluster_pool",
    "select_random", "select_topn", "select_coreset", "select_cluster", "STRATEGIES", "select",
]

# Rows per block in chunked distance computations: bounds temporaries to a few
# tens of MB whatever the pool size.
_CHUNK_ROWS = 4096
# Tolerance on row sums of `proba`; float32 softmax outputs are off by ~1e-7.
_PROBA_SUM_ATOL = 1e-3


@dataclass(frozen=True, eq=False)
class Selection:
    """Items chosen by a query strategy.

    Attributes
    ----------
    indices : ndarray of shape (n,), dtype int64
        Positions into the pool, in selection order.
    scores : ndarray of shape (n,), dtype float64
        Uncertainty of each chosen item; NaN where no ``proba`` was given.
    clusters : ndarray of shape (n,), dtype int64
        Cluster id of each chosen item; -1 where the pool is not clustered.
    """

    indices: np.ndarray
    scores: np.ndarray
    clusters: np.ndarray

    def __len__(self):
        return len(self.indices)


# ---- Uncertainty measures: (n, c) probabilities -> (n,) scores, higher = more uncertain.


def entropy(proba):
    """Prediction entropy, the paper's Eq. 1: ``-sum_i p_i log p_i``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities; each row sums to 1.

    Returns
    -------
    ndarray of shape (n_samples,)
        Entropy in nats; ``0 log 0`` counts as 0. Higher is more uncertain.
    """
    proba = _check_proba(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = proba * np.log(proba)
    terms[proba == 0] = 0.0
    return -terms.sum(axis=1)


def least_confidence(proba):
    """Least confidence: ``1 - max_i p_i``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities; each row sums to 1.

    Returns
    -------
    ndarray of shape (n_samples,)
        Higher is more uncertain.
    """
    proba = _check_proba(proba)
    return 1.0 - proba.max(axis=1)


def margin(proba):
    """Margin uncertainty: ``1 - (p_(1) - p_(2))``.

    ``p_(1)`` and ``p_(2)`` are the largest and second-largest class
    probabilities, so a small margin between the two top classes gives a high
    score. With a single class ``p_(2)`` is 0.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities; each row sums to 1.

    Returns
    -------
    ndarray of shape (n_samples,)
        Values in [0, 1]; higher is more uncertain.
    """
    proba = _check_proba(proba)
    if proba.shape[1] == 1:
        return 1.0 - proba[:, 0]
    top_two = -np.partition(-proba, 1, axis=1)[:, :2]
    return 1.0 - (top_two[:, 0] - top_two[:, 1])


UNCERTAINTY = {"entropy": entropy, "least_confidence": least_confidence, "margin": margin}


# ---- Clustering


def cluster_pool(embeddings, n_clusters, *, random_state=None, max_fit_samples=4096):
    """Cluster a pool with k-means, as Cluster-AL does once before the loop.

    k-means is fitted on at most ``max_fit_samples`` rows drawn at random
    (enough to place ``n_clusters`` centres), then every row is assigned to its
    nearest centre in fixed-size chunks, so large pools cost one pass over the
    embeddings and no extra copy of them.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Item embeddings; converted to float32.
    n_clusters : int
        Number of clusters, at most ``n_samples``.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the subsample and the k-means initialisation.
    max_fit_samples : int, default=4096
        Rows used to fit the centres; raised to ``50 * n_clusters`` when that
        is larger. Pools no larger than this are fitted whole.

    Returns
    -------
    ndarray of shape (n_samples,), dtype int64
        Cluster id of each row, in ``[0, n_clusters)``. Some ids may be unused.
    """
    embeddings, _ = _check_embeddings(embeddings)
    _check_n_clusters(n_clusters, embeddings.shape[0], "rows in embeddings")
    if isinstance(max_fit_samples, bool) or not isinstance(max_fit_samples, Integral) or max_fit_samples <= 0:
        raise ValueError(f"max_fit_samples must be a positive integer, got {max_fit_samples!r}.")
    return _fit_clusters(embeddings, n_clusters, np.random.default_rng(random_state), max_fit_samples)


def _fit_clusters(embeddings, n_clusters, rng, max_fit_samples=4096):
    """:func:`cluster_pool` on validated float32 embeddings."""
    n_rows = embeddings.shape[0]
    fit_size = min(n_rows, max(max_fit_samples, 50 * n_clusters))
    seed = int(rng.integers(np.iinfo(np.int32).max))
    kmeans = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
    sample = None if fit_size == n_rows else np.sort(rng.choice(n_rows, size=fit_size, replace=False))
    # The fit sees a few thousand rows: thread barriers (OpenMP and BLAS) cost
    # more than they save there, and on a busy machine made it ~10x slower.
    with threadpool_limits(limits=1):
        kmeans.fit(embeddings if sample is None else embeddings[sample])
    if sample is None:
        return kmeans.labels_.astype(np.int64)
    return _nearest_centre(embeddings, kmeans.cluster_centers_.astype(np.float32))


def _nearest_centre(embeddings, centres):
    """Index of the nearest centre for every row, computed in chunks."""
    # ||x||^2 is the same for every centre of a row, so it drops out of argmin.
    half_centre_norms = 0.5 * np.einsum("ij,ij->i", centres, centres)
    labels = np.empty(embeddings.shape[0], dtype=np.int64)
    step = max(1, _CHUNK_ROWS**2 // len(centres))
    for start in range(0, embeddings.shape[0], step):
        block = embeddings[start : start + step]
        labels[start : start + len(block)] = np.argmin(half_centre_norms - block @ centres.T, axis=1)
    return labels


# ---- Strategies


def select_random(n, *, proba=None, embeddings=None, clusters=None, labeled_mask=None,
                  n_clusters=None, uncertainty="entropy", random_state=None):
    """Draw ``n`` unlabeled items uniformly without replacement.

    Parameters
    ----------
    n : int
        Number of items to select.
    proba : array-like of shape (n_pool, n_classes), optional
        Only used to report the uncertainty of the chosen items.
    embeddings, n_clusters : ignored
        Accepted so that all strategies share one signature.
    clusters : array-like of shape (n_pool,), optional
        Only used to report the cluster of the chosen items.
    labeled_mask : array-like of bool, shape (n_pool,), optional
        True for items already labeled; they are never selected.
    uncertainty : str or callable, default="entropy"
        Measure used for the reported scores; see :data:`UNCERTAINTY`.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the draw.

    Returns
    -------
    Selection
    """
    pool = _Pool(n, proba, embeddings, clusters, labeled_mask, n_clusters, uncertainty)
    rng = np.random.default_rng(random_state)
    indices = rng.choice(pool.unlabeled, size=n, replace=False)
    return pool.selection(indices)


def select_topn(n, *, proba=None, embeddings=None, clusters=None, labeled_mask=None,
                n_clusters=None, uncertainty="entropy", random_state=None):
    """Select the ``n`` most uncertain unlabeled items (the paper's TopN-AL).

    Ties go to the lower pool index. Parameters are those of
    :func:`select_random`; ``proba`` is required and ``random_state`` unused.

    Returns
    -------
    Selection
        Items in order of decreasing uncertainty.
    """
    pool = _Pool(n, proba, embeddings, clusters, labeled_mask, n_clusters, uncertainty, needs=("proba", "topn"))
    order = _top_k(pool.scores[pool.unlabeled], n)
    return pool.selection(pool.unlabeled[order])


def select_coreset(n, *, proba=None, embeddings=None, clusters=None, labeled_mask=None,
                   n_clusters=None, uncertainty="entropy", random_state=None):
    """Greedy k-center core-set selection (Sener & Savarese, 2018).

    The labeled items are the initial centres; each pick is the unlabeled item
    farthest (squared Euclidean) from its nearest centre, and becomes a centre.
    With nothing labeled, the first pick is drawn at random. Ties go to the
    lower pool index. Parameters are those of :func:`select_random`;
    ``embeddings`` is required, ``proba`` only feeds the reported scores.

    Returns
    -------
    Selection
        Items in pick order.
    """
    pool = _Pool(n, proba, embeddings, clusters, labeled_mask, n_clusters, uncertainty, needs=("embeddings", "coreset"))
    emb, norms = pool.embeddings, pool.norms
    min_dist = np.full(pool.size, -np.inf, dtype=np.float32)
    labeled = np.flatnonzero(pool.labeled_mask)
    if labeled.size:
        min_dist[pool.unlabeled] = _min_sq_dist(emb, norms, pool.unlabeled, labeled)
        pick = int(np.argmax(min_dist))
    else:
        min_dist[:] = np.inf
        pick = int(np.random.default_rng(random_state).choice(pool.unlabeled))

    picks = np.empty(n, dtype=np.int64)
    for k in range(n):
        if k:
            pick = int(np.argmax(min_dist))
        picks[k] = pick
        dist = norms - 2.0 * (emb @ emb[pick]) + norms[pick]
        np.minimum(min_dist, dist, out=min_dist)
        # Round-off can leave a small positive distance from a point to itself.
        min_dist[pick] = -np.inf
    return pool.selection(picks)


def select_cluster(n, *, proba=None, embeddings=None, clusters=None, labeled_mask=None,
                   n_clusters=None, uncertainty="entropy", random_state=None):
    """Cluster-AL (the paper's Algorithm 1): top uncertain items per cluster.

    Each of the ``m`` clusters contributes its ``n // m`` most uncertain
    unlabeled items. The ``n % m`` remaining slots go, one each, to the
    clusters whose next item is most uncertain. Slots a cluster cannot fill
    (too few unlabeled items, or none) go to the most uncertain items left in
    any cluster. Ties go to the lower pool index throughout.

    Parameters are those of :func:`select_random`; ``proba`` is required, and
    so is either ``clusters`` (precomputed ids, e.g. from :func:`cluster_pool`,
    preferred in a loop since the paper clusters the pool once) or
    ``embeddings`` with ``n_clusters`` (clustered here, seeded by
    ``random_state``). With ``clusters`` given, ``m`` is ``n_clusters`` if
    given, else ``clusters.max() + 1``; ids in between may be unused.

    Returns
    -------
    Selection
        Items in order of decreasing uncertainty.
    """
    if clusters is None and (embeddings is None or n_clusters is None):
        missing = "embeddings" if embeddings is None else "n_clusters"
        raise ValueError(f"{missing} is required by cluster when clusters is not given; pass {missing}=...")
    pool = _Pool(n, proba, embeddings, clusters, labeled_mask, n_clusters, uncertainty, needs=("proba", "cluster"))
    if pool.clusters is None:
        _check_n_clusters(n_clusters, pool.unlabeled.size, "unlabeled items")
        rng = np.random.default_rng(random_state)
        pool.clusters, pool.n_clusters = _fit_clusters(pool.embeddings, n_clusters, rng), n_clusters
    n_groups = pool.n_clusters

    cand = pool.unlabeled
    cand_scores = pool.scores[cand]
    cand_clusters = pool.clusters[cand]
    # Unlabeled items grouped by cluster, most uncertain first, then by index.
    order = np.lexsort((cand, -cand_scores, cand_clusters))
    sizes = np.bincount(cand_clusters, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    rank = np.empty(cand.size, dtype=np.int64)
    rank[order] = np.arange(cand.size) - starts[cand_clusters[order]]

    share = n // n_groups
    chosen = rank < share
    # One extra slot each for the clusters whose next item is most uncertain.
    next_items = np.flatnonzero(rank == share)
    extra = next_items[_top_k(cand_scores[next_items], min(n % n_groups, next_items.size))]
    chosen[extra] = True
    # Slots that short clusters could not fill: most uncertain items left.
    rest = np.flatnonzero(~chosen)
    chosen[rest[_top_k(cand_scores[rest], n - int(chosen.sum()))]] = True

    picked = np.flatnonzero(chosen)
    picked = picked[_top_k(cand_scores[picked], picked.size)]
    return pool.selection(cand[picked])


STRATEGIES = {"random": select_random, "topn": select_topn, "coreset": select_coreset, "cluster": select_cluster}


def select(name, n, **kwargs):
    """Run the strategy registered as ``name`` in :data:`STRATEGIES`.

    Parameters
    ----------
    name : {"random", "topn", "coreset", "cluster"}
        Strategy name.
    n : int
        Number of items to select.
    **kwargs
        Keyword arguments of the strategy (see :func:`select_random`).

    Returns
    -------
    Selection
    """
    if name not in STRATEGIES:
        raise ValueError(f"name must be one of {sorted(STRATEGIES)}, got {name!r}.")
    return STRATEGIES[name](n, **kwargs)


# ---- Internals


def _top_k(scores, k):
    """Positions of the ``k`` largest scores, by decreasing score then position.

    Runs in linear time plus ``O(k log k)``: only the ``k`` winners are sorted.
    """
    size = scores.shape[0]
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < size:
        threshold = np.partition(scores, size - k)[size - k]
        above = np.flatnonzero(scores > threshold)
        ties = np.flatnonzero(scores == threshold)[: k - above.size]
        winners = np.concatenate([above, ties])
    else:
        winners = np.arange(size)
    # `winners` is ordered by index within equal scores, so a stable sort
    # breaks ties by index.
    return winners[np.argsort(-scores[winners], kind="stable")]


def _min_sq_dist(emb, norms, rows, centres):
    """Squared distance from each of ``rows`` to its nearest of ``centres``."""
    out = np.full(rows.size, np.inf, dtype=np.float32)
    for start in range(0, rows.size, _CHUNK_ROWS):
        row_idx = rows[start : start + _CHUNK_ROWS]
        block, block_norms = emb[row_idx], norms[row_idx]
        best = out[start : start + _CHUNK_ROWS]
        for c_start in range(0, centres.size, _CHUNK_ROWS):
            c_idx = centres[c_start : c_start + _CHUNK_ROWS]
            dist = block_norms[:, None] - 2.0 * (block @ emb[c_idx].T) + norms[c_idx][None, :]
            np.minimum(best, dist.min(axis=1), out=best)
    return np.maximum(out, 0.0)


def _check_proba(proba):
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] == 0:
        raise ValueError(f"proba must be a 2-D array of shape (n_samples, n_classes), got shape {proba.shape}.")
    if not np.isfinite(proba).all():
        raise ValueError("proba contains NaN or infinite values; pass class probabilities.")
    if (proba < 0).any() or not np.allclose(proba.sum(axis=1), 1.0, rtol=0.0, atol=_PROBA_SUM_ATOL):
        raise ValueError("proba rows must be non-negative and sum to 1; apply softmax to logits first.")
    return proba


def _check_embeddings(embeddings):
    """Return float32 embeddings and their squared row norms."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[1] == 0:
        raise ValueError(
            f"embeddings must be a 2-D array of shape (n_samples, n_features), got shape {embeddings.shape}."
        )
    norms = np.einsum("ij,ij->i", embeddings, embeddings)
    suspect = ~np.isfinite(norms)
    # A non-finite norm is NaN/inf in the row, or overflow of huge finite values.
    if suspect.any() and not np.isfinite(embeddings[suspect]).all():
        raise ValueError("embeddings contains NaN or infinite values.")
    return embeddings, norms


def _check_n_clusters(n_clusters, limit=None, what=""):
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral) or n_clusters <= 0:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}.")
    if limit is not None and n_clusters > limit:
        raise ValueError(f"n_clusters={n_clusters} exceeds the {limit} {what}; pass a smaller n_clusters.")


class _Pool:
    """Validated inputs shared by all strategies, checked before any work."""

    def __init__(self, n, proba, embeddings, clusters, labeled_mask, n_clusters, uncertainty, needs=None):
        if needs is not None and {"proba": proba, "embeddings": embeddings}[needs[0]] is None:
            raise ValueError(f"{needs[0]} is required by {needs[1]}; pass {needs[0]}=...")
        sizes = {}
        if proba is not None:
            proba = _check_proba(proba)
            sizes["proba"] = proba.shape[0]
        if embeddings is not None:
            embeddings, self.norms = _check_embeddings(embeddings)
            sizes["embeddings"] = embeddings.shape[0]
        if clusters is not None:
            clusters = np.asarray(clusters)
            if clusters.ndim != 1 or not np.issubdtype(clusters.dtype, np.integer):
                raise ValueError("clusters must be a 1-D integer array of cluster ids.")
            clusters = clusters.astype(np.int64, copy=False)
            sizes["clusters"] = clusters.shape[0]
        if labeled_mask is not None:
            labeled_mask = np.asarray(labeled_mask)
            if labeled_mask.ndim != 1 or labeled_mask.dtype != bool:
                raise ValueError("labeled_mask must be a 1-D boolean array, True for labeled items.")
            sizes["labeled_mask"] = labeled_mask.shape[0]
        if not sizes:
            raise ValueError("The pool is unknown: pass at least one of proba, embeddings, clusters or labeled_mask.")
        (first, size), *others = sizes.items()
        for name, other in others:
            if other != size:
                raise ValueError(f"{name} has {other} rows but {first} has {size}; pass arrays over the same pool.")
        self.size = size
        self.labeled_mask = np.zeros(size, dtype=bool) if labeled_mask is None else labeled_mask
        self.unlabeled = np.flatnonzero(~self.labeled_mask)

        if isinstance(n, bool) or not isinstance(n, Integral) or n <= 0:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        if n > self.unlabeled.size:
            raise ValueError(f"n={n} exceeds the {self.unlabeled.size} unlabeled items in the pool; pass a smaller n.")

        if clusters is not None:
            # Precomputed clusters may outnumber the unlabeled items late in a
            # loop; exhausted clusters just pass their share on.
            if n_clusters is None:
                n_clusters = int(clusters.max()) + 1 if clusters.size else 1
            _check_n_clusters(n_clusters)
            if clusters.size and (clusters.min() < 0 or clusters.max() >= n_clusters):
                raise ValueError(f"clusters must hold ids in [0, n_clusters={n_clusters}); got ids outside it.")

        if isinstance(uncertainty, str):
            if uncertainty not in UNCERTAINTY:
                raise ValueError(f"uncertainty must be one of {sorted(UNCERTAINTY)} or a callable, got {uncertainty!r}.")
            uncertainty = UNCERTAINTY[uncertainty]
        elif not callable(uncertainty):
            raise ValueError(f"uncertainty must be one of {sorted(UNCERTAINTY)} or a callable, got {uncertainty!r}.")

        self.proba, self.embeddings, self.clusters, self.n_clusters = proba, embeddings, clusters, n_clusters
        self.scores = None if proba is None else np.asarray(uncertainty(proba), dtype=np.float64)
        if self.scores is not None and (self.scores.shape != (size,) or not np.isfinite(self.scores).all()):
            raise ValueError("uncertainty must return one finite score per row of proba.")

    def selection(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        scores = np.full(indices.size, np.nan) if self.scores is None else self.scores[indices]
        clusters = np.full(indices.size, -1, dtype=np.int64) if self.clusters is None else self.clusters[indices]
        return Selection(indices=indices, scores=scores, clusters=clusters)
