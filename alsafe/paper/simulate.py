"""A simulated run of Algorithm 1 on the paper's released titles.

The paper's 11K unlabeled Reddit pool U was not released, so the simulation uses the labeled titles:
``bootstrap`` is the initial L, ``dev`` scores the learner each round, and ``test`` is split once,
stratified with a fixed seed, into a pool (whose gold labels the simulated annotator answers with)
and a held-out evaluation half. Each strategy buys the paper's 5 rounds of 20 labels.

Two pool mixes (``pool_mix``):

* ``stratified``: the pool half as it is, with the test split's class mix (26% not harmful, 3% emergencies).
* ``skewed``: the pool half subsampled to U's own mix. The Random split's 100 human originals are a
  uniform draw from U (section 4.1), so their class counts estimate it: medical 30, not harmful 24,
  self-harm 16, financial 14, legal 14, emergency 2. Each class keeps ``share x N`` titles with the
  largest N the pool half allows (medical, 237 titles, binds: N = 790), i.e. 237 medical, 190 not
  harmful, 126 self-harm, 111 financial, 111 legal and 16 emergencies (:func:`skewed_counts`).
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
from alsafe.names import STRATEGIES
from alsafe.progress import tracked
from alsafe.report import git_commit
from alsafe.store import ItemBatch, RunStore, plain_params
from alsafe.paper.reference import PAPER_TAXONOMY


POOL_MIXES = ("stratified", "skewed")
# What split_test makes of the released test split (tests/paper check these against it): its 2,700 titles, the
# stratified pool half, and that half subsampled to U's estimated mix. The parameter schemas read them from here.
PAPER_TEST_TITLES = 2700
STRATIFIED_POOL = 1350
SKEWED_POOL = 791


def pool_mix_estimate(dataset: pd.DataFrame) -> pd.Series:
    """U's class mix as the Random split's human originals show it (counts per class, taxonomy order)."""
    originals = dataset[(dataset["split"] == "random") & (dataset["origin"] == "human")]
    return class_counts(originals["label"], PAPER_TAXONOMY.names)


def skewed_counts(available: pd.Series, mix: pd.Series, total: int | None = None) -> pd.Series:
    """Titles to keep per class so the pool follows ``mix``: ``round(share x N)`` for the largest N that
    ``available`` allows (or ``total`` if smaller)."""
    shares = mix / mix.sum()
    largest = int(min(available[c] / shares[c] for c in shares.index if shares[c] > 0))
    n = largest if total is None else min(largest, total)
    return (shares * n).round().astype(int).clip(upper=available.reindex(shares.index, fill_value=0))


def split_test(dataset: pd.DataFrame, pool_fraction: float = 0.5, pool_size: int | None = None,
               random_state: int = 0, pool_mix: str = "stratified") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test titles split once, stratified: the simulated pool and the held-out half.

    ``pool_mix`` ``skewed`` subsamples the pool to :func:`pool_mix_estimate` (see the module notes);
    ``pool_size`` caps the pool, keeping its mix. The held-out half is never changed.
    """
    if not 0 < pool_fraction < 1:
        raise ValueError(f"pool_fraction must be between 0 and 1, not {pool_fraction!r}.")
    if pool_mix not in POOL_MIXES:
        raise ValueError(f"pool_mix must be one of {', '.join(POOL_MIXES)}, not {pool_mix!r}.")
    test = dataset[dataset["split"] == "test"]
    pool, held_out = train_test_split(test, train_size=pool_fraction, stratify=test["label"], random_state=random_state)
    if pool_mix == "skewed":
        counts = skewed_counts(pool["label"].value_counts(), pool_mix_estimate(dataset), pool_size)
        pool = pd.concat([rows.sample(counts[label], random_state=random_state)
                          for label, rows in pool.groupby("label") if counts.get(label, 0) > 0])
    elif pool_size is not None and pool_size < len(pool):
        pool, _ = train_test_split(pool, train_size=pool_size, stratify=pool["label"], random_state=random_state)
    return pool.sort_values("id"), held_out.sort_values("id")


def simulation_items(dataset: pd.DataFrame, pool_size: int | None = None, random_state: int = 0,
                     pool_fraction: float = 0.5, pool_mix: str = "stratified") -> list[ItemBatch]:
    """A run store's items from the paper's canonical table: bootstrap -> L, dev -> dev, test -> pool + held-out.

    For :meth:`alsafe.store.RunStore.open_or_create`. ``pool_size`` caps the pool (stratified) for
    quick runs; the held-out half is never capped.
    """
    pool, held_out = split_test(dataset, pool_fraction, pool_size, random_state, pool_mix)
    columns = ["id", "text", "label", "subreddit"]
    return [(dataset.loc[dataset["split"] == "bootstrap", columns], "labeled", "paper bootstrap", "bootstrap"),
            (dataset.loc[dataset["split"] == "dev", columns], "dev", "paper dev", "import"),
            (pool[columns], "pool", "paper test (pool half)", "import"),
            (held_out[columns], "test", "paper test (held-out half)", "import")]


def open_simulation_store(path: str | Path, dataset: pd.DataFrame, pool_size: int | None = None,
                          random_state: int = 0, params: dict | None = None, pool_mix: str = "stratified",
                          rebuild: bool = False) -> RunStore:
    """The run store of one simulated (or paper-data labeling) run, through :meth:`RunStore.open_or_create`.

    ``rebuild`` (simulations: nothing in them is a person's work) replaces a store made with other
    parameters instead of refusing it.
    """
    return RunStore.open_or_create(path, PAPER_TAXONOMY, params, rebuild=rebuild,
                                   items=lambda: simulation_items(dataset, pool_size, random_state, pool_mix=pool_mix))


def run_simulation(dataset: pd.DataFrame, runs_dir: str | Path, strategies=STRATEGIES,
                   seeds=(0,), generation=(False,), generator_factory: Callable | None = None,
                   pool_size: int | None = None, pool_mixes=("stratified",), progress: bool = True,
                   **loop_params) -> pd.DataFrame:
    """Run every (pool mix, strategy, seed, generation) combination; returns one row per trained round.

    Each run has its own store under ``runs_dir`` so a killed simulation resumes where it stopped; a
    store made with other parameters or by another commit of the code is rebuilt, never continued.
    ``generator_factory()`` builds the generator for runs with generation. ``loop_params`` go to
    :class:`~alsafe.loop.ActiveLearningLoop` (budget, batch_size, n_clusters, learner, vectorizer, ...).
    """
    if any(generation) and generator_factory is None:
        raise ValueError("generation=True needs a generator_factory.")
    runs_dir = Path(runs_dir)
    rows = []
    code = (git_commit() or "unknown").removesuffix("-dirty")
    combos = list(itertools.product(pool_mixes, strategies, seeds, generation))
    bar = tqdm(combos, desc="simulated runs", unit="run", disable=not progress)
    for mix, strategy, seed, generate in tracked(bar, "simulated runs"):  # to the pipeline's terminal too
        path = runs_dir / f"{mix}-{strategy}-seed{seed}-{'gen' if generate else 'nogen'}.sqlite"
        params = plain_params(dict(loop_params, strategy=strategy, seed=seed, generation=generate, pool_size=pool_size,
                                   pool_mix=mix, code=code))
        with open_simulation_store(path, dataset, pool_size, seed, params, pool_mix=mix, rebuild=True) as store:
            loop = ActiveLearningLoop(store, strategy=strategy, random_state=seed, progress=False,
                                      generator=generator_factory() if generate else None, **loop_params)
            loop.run()
            for _, round in store.rounds().iterrows():
                metrics = dict(round["metrics"])
                counts = metrics.pop("acquired_class_counts", {})
                rows.append({"pool_mix": mix, "strategy": strategy, "seed": seed, "generation": generate, **metrics,
                             **{f"acquired_{label}": counts.get(label, 0) for label in PAPER_TAXONOMY.names}})
    return pd.DataFrame(rows)


def acquired_balance(curves: pd.DataFrame) -> pd.DataFrame:
    """Class counts of what each strategy acquired by its last round, with their std (Table 3's quantity)."""
    last = curves.sort_values("round").groupby(["pool_mix", "strategy", "seed", "generation"]).tail(1)
    rows = []
    for _, run in last.iterrows():
        labels = list(itertools.chain.from_iterable([label] * int(run[f"acquired_{label}"])
                                                    for label in PAPER_TAXONOMY.names))
        counts = class_counts(labels, PAPER_TAXONOMY.names)
        rows.append({"pool_mix": run["pool_mix"], "strategy": run["strategy"], "seed": run["seed"],
                     "generation": run["generation"],
                     **{PAPER_TAXONOMY.display(k): int(v) for k, v in counts.items()},
                     "std": class_count_std(labels, PAPER_TAXONOMY.names)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    grouped = table.groupby(["pool_mix", "strategy", "generation"], sort=False)
    summary = grouped.mean(numeric_only=True).drop(columns="seed")
    summary["std_sd"] = grouped["std"].std(ddof=1)  # spread over seeds of the class-count std
    summary["n_seeds"] = grouped.size()
    order = {name: i for i, name in enumerate(POOL_MIXES + STRATEGIES)}
    summary = summary.reset_index()
    return summary.sort_values(["pool_mix", "strategy", "generation"], key=lambda c: c.map(order) if c.name != "generation"
                               else c, kind="stable").reset_index(drop=True)


def learning_curves(curves: pd.DataFrame, metric: str = "test_macro_f1", confidence: float = 0.95) -> pd.DataFrame:
    """Mean, std and a t-interval over seeds of ``metric`` (percent) against human labels bought, per pool
    mix, strategy and generation (``<metric>_low``/``_high``: the mean's ``confidence`` interval)."""
    from scipy import stats

    if metric not in curves.columns:
        raise ValueError(f"metric {metric!r} is not among the recorded columns {sorted(curves.columns)}.")
    grouped = curves.groupby(["pool_mix", "strategy", "generation", "n_acquired"], sort=True)[metric]
    table = grouped.agg(["mean", "std", "count"]).reset_index()
    half = stats.t.ppf(0.5 + confidence / 2, (table["count"] - 1).clip(lower=1)) * table["std"] / table["count"] ** 0.5
    table[f"{metric}_low"], table[f"{metric}_high"] = table["mean"] - half, table["mean"] + half
    return table.rename(columns={"mean": metric, "std": f"{metric}_std", "count": "n_seeds"})
