"""Time alsafe's query strategies against small-text 1.4.1 on the same arrays.

Builds random float32 embeddings and Dirichlet class probabilities with a fixed
seed, times our ``cluster``, ``topn`` and ``coreset`` selections and
small-text's ``EmbeddingKMeans``, ``PredictionEntropy`` and ``GreedyCoreset``,
and prints a markdown table plus the peak RSS of a 1M-item cluster selection.
Each pool size runs in its own subprocess so one size's memory does not
inflate another's. Prints only; never asserts.

Example::

    python benchmarks/bench_strategies.py --sizes 100000 1000000
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

N_LABELED = 10  # small-text's GreedyCoreset needs at least one labeled centre.


def make_pool(size, dim, n_classes, seed):
    """Random embeddings, Dirichlet probabilities, and the last items labeled."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((size, dim), dtype=np.float32)
    proba = rng.dirichlet(np.ones(n_classes), size=size)
    labeled_mask = np.zeros(size, dtype=bool)
    labeled_mask[-N_LABELED:] = True
    return embeddings, proba, labeled_mask


def best_time(func, repeats):
    """Best wall time of ``repeats`` calls, and the last result."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


class FixedOutputs:
    """Stands in for a small-text classifier: returns precomputed probabilities."""

    def __init__(self, proba):
        self.proba = proba

    def predict_proba(self, dataset):
        return self.proba[dataset]


def time_ours(args, size, embeddings, proba, labeled_mask):
    from alsafe.learn.strategies import cluster_pool, select

    repeats = args.repeats if size <= 100_000 else 1
    common = dict(proba=proba, embeddings=embeddings, labeled_mask=labeled_mask, random_state=0)
    rows = {}
    rows["cluster"] = best_time(lambda: select("cluster", args.n, n_clusters=args.clusters, **common), repeats)
    ids = cluster_pool(embeddings, args.clusters, random_state=0)
    rows["cluster (precomputed ids)"] = best_time(
        lambda: select("cluster", args.n, proba=proba, clusters=ids, labeled_mask=labeled_mask), repeats
    )
    rows["topn"] = best_time(lambda: select("topn", args.n, **common), repeats)
    if size <= 100_000 or args.coreset_large:
        rows["coreset"] = best_time(lambda: select("coreset", args.n, **common), repeats)
    return rows


def time_peer(args, embeddings, proba, labeled_mask):
    """small-text's closest strategies, fed the same arrays (no normalisation)."""
    import warnings

    from small_text.query_strategies import EmbeddingKMeans, GreedyCoreset, PredictionEntropy

    # Unlabeled items come first and labeled last, so the peer's internal
    # [unlabeled, labeled] reordering leaves `embeddings` aligned.
    unlabeled, labeled = np.flatnonzero(~labeled_mask), np.flatnonzero(labeled_mask)
    dataset, clf, y = np.arange(len(proba)), FixedOutputs(proba), np.zeros(labeled.size, dtype=int)
    np.random.seed(0)  # EmbeddingKMeans seeds its KMeans from numpy's global state
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GreedyCoreset warns about its default metric
        coreset = GreedyCoreset(distance_metric="euclidean", normalize=False)
    kmeans = EmbeddingKMeans(normalize=False)
    query = dict(clf=clf, dataset=dataset, indices_unlabeled=unlabeled, indices_labeled=labeled, y=y, n=args.n)
    return {
        "cluster": best_time(lambda: kmeans.query(**query, embeddings=embeddings), 1),
        "topn": best_time(lambda: PredictionEntropy().query(**query), 1),
        "coreset": best_time(lambda: coreset.query(**query, embeddings=embeddings), 1),
    }


def worker(args):
    """Time one pool size; print a JSON line of results."""
    size = args.worker
    embeddings, proba, labeled_mask = make_pool(size, args.dim, args.classes, args.seed)
    out = {"size": size, "ours": {}, "peer": {}, "agree": {}}
    ours = time_ours(args, size, embeddings, proba, labeled_mask)
    out["ours"] = {name: seconds for name, (seconds, _) in ours.items()}
    if not args.skip_peer and size <= args.peer_max_size:
        peer = time_peer(args, embeddings, proba, labeled_mask)
        out["peer"] = {name: seconds for name, (seconds, _) in peer.items()}
        # Same answer where the algorithms coincide (topn as a set: the peer leaves it unordered).
        out["agree"]["topn"] = set(ours["topn"][1].indices.tolist()) == set(peer["topn"][1].tolist())
        out["agree"]["coreset"] = ours["coreset"][1].indices.tolist() == peer["coreset"][1].tolist()
    print(json.dumps(out))


def rss_worker(args):
    """Peak RSS of building a pool and running one cluster selection on it."""
    from alsafe.learn.strategies import select

    size = args.rss_worker
    embeddings, proba, labeled_mask = make_pool(size, args.dim, args.classes, args.seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    select("cluster", args.n, proba=proba, embeddings=embeddings, labeled_mask=labeled_mask,
           n_clusters=args.clusters, random_state=0)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"size": size, "data_kib": before, "peak_kib": after, "seconds": seconds}))


def run_child(args, flag, size):
    argv = [sys.executable, os.path.abspath(__file__), flag, str(size), "--dim", str(args.dim),
            "--classes", str(args.classes), "--n", str(args.n), "--clusters", str(args.clusters),
            "--repeats", str(args.repeats), "--seed", str(args.seed), "--peer-max-size", str(args.peer_max_size)]
    argv += ["--skip-peer"] * args.skip_peer + ["--coreset-large"] * args.coreset_large
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--n", type=int, default=20, help="items to select")
    parser.add_argument("--clusters", type=int, default=20, help="k-means clusters for cluster")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (best of) at sizes up to 100k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peer", action="store_true", help="do not run small-text")
    parser.add_argument("--peer-max-size", type=int, default=100_000, help="largest pool given to small-text")
    parser.add_argument("--coreset-large", action="store_true", help="also time coreset above 100k")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rss-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.rss_worker:
        return rss_worker(args)

    print(f"dim={args.dim} classes={args.classes} n={args.n} clusters={args.clusters} "
          f"cores={os.cpu_count()} seed={args.seed}\n")
    print("| strategy | pool size | ours (s) | small-text (s) | ratio (peer/ours) | same picks |")
    print("|---|---:|---:|---:|---:|---|")
    peer_names = {"cluster": "EmbeddingKMeans", "topn": "PredictionEntropy", "coreset": "GreedyCoreset"}
    for size in args.sizes:
        result = run_child(args, "--worker", size)
        for name, ours in result["ours"].items():
            peer = result["peer"].get(name)
            peer_cell = f"{peer:.3f} ({peer_names[name]})" if peer is not None else "-"
            ratio = f"{peer / ours:.1f}x" if peer is not None else "-"
            agree = {True: "yes", False: "no"}.get(result["agree"].get(name), "-")
            print(f"| {name} | {size:,} | {ours:.3f} | {peer_cell} | {ratio} | {agree} |")
    rss = run_child(args, "--rss-worker", max(args.sizes))
    print(f"\nPeak RSS, cluster selection at {rss['size']:,} x {args.dim}: {rss['peak_kib'] / 2**20:.2f} GiB "
          f"(pool arrays alone: {rss['data_kib'] / 2**20:.2f} GiB; selection took {rss['seconds']:.2f} s)")


if __name__ == "__main__":
    main()
