"""A simulated run of Algorithm 1 on the paper's released titles.

The paper's 11K unlabeled Reddit pool was not released, so the simulation uses the labeled titles:
``bootstrap`` is the initial L, ``dev`` scores the learner each round, and ``test`` is split once,
stratified with a fixed seed, into a pool (whose gold labels the simulated annotator answers with)
and a held-out evaluation half. Each strategy buys the paper's 5 rounds of 20 labels.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from alsafe.loop import ActiveLearningLoop
from alsafe.metrics import class_count_std, class_counts
from alsafe.store import ItemBatch, RunStore, plain_params
from alsafe.paper.reference import PAPER_TAXONOMY


def split_test(dataset: pd.DataFrame, pool_fraction: float = 0.5, pool_size: int | None = None,
               random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test titles split once, stratified: the simulated pool (capped at ``pool_size``) and the held-out half."""
    if not 0 < pool_fraction < 1:
        raise ValueError(f"pool_fraction must be between 0 and 1, not {pool_fraction!r}.")
    test = dataset[dataset["split"] == "test"]
    pool, held_out = train_test_split(test, train_size=pool_fraction, stratify=test["label"], random_state=random_state)
    if pool_size is not None and pool_size < len(pool):
        pool, _ = train_test_split(pool, train_size=pool_size, stratify=pool["label"], random_state=random_state)
    return pool.sort_values("id"), held_out.sort_values("id")


def simulation_items(dataset: pd.DataFrame, pool_size: int | None = None, random_state: int = 0,
                     pool_fraction: float = 0.5) -> list[ItemBatch]:
    """A run store's items from the paper's canonical table: bootstrap -> L, dev -> dev, test -> pool + held-out.

    For :meth:`alsafe.store.RunStore.open_or_create`. ``pool_size`` caps the pool (stratified) for
    quick runs; the held-out half is never capped.
    """
    pool, held_out = split_test(dataset, pool_fraction, pool_size, random_state)
    columns = ["id", "text", "label", "subreddit"]
    return [(dataset.loc[dataset["split"] == "bootstrap", columns], "labeled", "paper bootstrap", "bootstrap"),
            (dataset.loc[dataset["split"] == "dev", columns], "dev", "paper dev", "import"),
            (pool[columns], "pool", "paper test (pool half)", "import"),
            (held_out[columns], "test", "paper test (held-out half)", "import")]


def open_simulation_store(path: str | Path, dataset: pd.DataFrame, pool_size: int | None = None,
                          random_state: int = 0, params: dict | None = None) -> RunStore:
    """The run store of one simulated (or paper-data labeling) run, through :meth:`RunStore.open_or_create`."""
    return RunStore.open_or_create(path, PAPER_TAXONOMY, params,
                                   items=lambda: simulation_items(dataset, pool_size, random_state))


def run_simulation(dataset: pd.DataFrame, runs_dir: str | Path, strategies=("random", "topn", "coreset", "cluster"),
                   seeds=(0,), generation=(False,), generator_factory: Callable | None = None,
                   pool_size: int | None = None, progress: bool = True, **loop_params) -> pd.DataFrame:
    """Run every (strategy, seed, generation) combination; returns one row per trained round.

    Each run has its own store under ``runs_dir`` so a killed simulation resumes where it stopped.
    ``generator_factory()`` builds the generator for runs with generation. ``loop_params`` go to
    :class:`~alsafe.loop.ActiveLearningLoop` (budget, batch_size, n_clusters, learner, vectorizer, ...).
    """
    if any(generation) and generator_factory is None:
        raise ValueError("generation=True needs a generator_factory.")
    runs_dir = Path(runs_dir)
    rows = []
    combos = list(itertools.product(strategies, seeds, generation))
    for strategy, seed, generate in tqdm(combos, desc="simulated runs", unit="run", disable=not progress):
        path = runs_dir / f"{strategy}-seed{seed}-{'gen' if generate else 'nogen'}.sqlite"
        params = plain_params(dict(loop_params, strategy=strategy, seed=seed, generation=generate, pool_size=pool_size))
        with open_simulation_store(path, dataset, pool_size, seed, params) as store:
            loop = ActiveLearningLoop(store, strategy=strategy, random_state=seed, progress=False,
                                      generator=generator_factory() if generate else None, **loop_params)
            loop.run()
            for _, round in store.rounds().iterrows():
                metrics = dict(round["metrics"])
                counts = metrics.pop("acquired_class_counts", {})
                rows.append({"strategy": strategy, "seed": seed, "generation": generate, **metrics,
                             **{f"acquired_{label}": counts.get(label, 0) for label in PAPER_TAXONOMY.names}})
    return pd.DataFrame(rows)


def acquired_balance(curves: pd.DataFrame) -> pd.DataFrame:
    """Class counts of what each strategy acquired by its last round, with their std (Table 3's quantity)."""
    last = curves.sort_values("round").groupby(["strategy", "seed", "generation"]).tail(1)
    rows = []
    for _, run in last.iterrows():
        labels = list(itertools.chain.from_iterable([label] * int(run[f"acquired_{label}"])
                                                    for label in PAPER_TAXONOMY.names))
        counts = class_counts(labels, PAPER_TAXONOMY.names)
        rows.append({"strategy": run["strategy"], "seed": run["seed"], "generation": run["generation"],
                     **{PAPER_TAXONOMY.display(k): int(v) for k, v in counts.items()},
                     "std": class_count_std(labels, PAPER_TAXONOMY.names)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.groupby(["strategy", "generation"], as_index=False).mean(numeric_only=True).drop(columns="seed")


def learning_curves(curves: pd.DataFrame, metric: str = "test_macro_f1") -> pd.DataFrame:
    """Mean and std of ``metric`` over seeds against human labels bought, per strategy and generation."""
    if metric not in curves.columns:
        raise ValueError(f"metric {metric!r} is not among the recorded columns {sorted(curves.columns)}.")
    grouped = curves.groupby(["strategy", "generation", "n_acquired"])[metric]
    return grouped.agg(["mean", "std", "count"]).reset_index().rename(columns={"mean": metric,
                                                                              "std": f"{metric}_std"})
