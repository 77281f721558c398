"""A run at a glance: what was acquired per class (human vs generated), learner metrics per round, cluster coverage."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from alsafe.store import RunStore


def class_distribution(store: RunStore) -> pd.DataFrame:
    """Per class: human labels and accepted generated variations in the training set so far."""
    training = store.training_set()
    taxonomy = store.taxonomy
    table = (training.groupby(["label", "origin"]).size().unstack(fill_value=0)
             .reindex(index=taxonomy.names, columns=["human", "llm"], fill_value=0))
    table.index = [taxonomy.display(name) for name in table.index]
    return table.rename(columns={"llm": "generated"}).rename_axis("class").reset_index()


def round_metrics(store: RunStore) -> pd.DataFrame:
    """One row per round with its status and the learner metrics recorded when it was trained."""
    rounds = store.rounds()
    metrics = pd.json_normalize(rounds["metrics"].tolist()) if len(rounds) else pd.DataFrame()
    metrics = metrics.drop(columns=[c for c in metrics.columns if c.startswith("acquired_class_counts")] + ["round"],
                           errors="ignore")
    return pd.concat([rounds[["round", "strategy", "status"]], metrics], axis=1)


def cluster_coverage(store: RunStore, n_clusters: int) -> pd.DataFrame:
    """After each round, how many of the ``n_clusters`` clusters have at least one labeled item."""
    selections = store.selections()
    labeled = selections[selections["label"].notna() & selections["cluster"].notna()]
    rows, seen = [], set()
    for round in sorted(selections["round"].unique()):
        seen |= set(labeled.loc[labeled["round"] == round, "cluster"].astype(int))
        rows.append({"round": int(round), "clusters_covered": len(seen), "n_clusters": n_clusters,
                     "coverage": len(seen) / n_clusters})
    return pd.DataFrame(rows, columns=["round", "clusters_covered", "n_clusters", "coverage"])


def plot_dashboard(store: RunStore, n_clusters: int, metric: str = "dev_macro_f1") -> plt.Figure:
    """Three panels: class distribution (human vs generated), ``metric`` per round, cluster coverage."""
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    distribution = class_distribution(store).set_index("class")
    distribution.plot.barh(stacked=True, ax=left, color=["#0072B2", "#E69F00"])
    left.set_title("Acquired so far")
    left.set_xlabel("items")
    metrics = round_metrics(store)
    if metric in metrics.columns and metrics[metric].notna().any():
        middle.plot(metrics["round"], metrics[metric], marker="o")
        middle.set_ylim(0, 1)
    else:
        middle.text(0.5, 0.5, f"no {metric} yet", ha="center", va="center", transform=middle.transAxes)
    middle.set_title(f"Learner: {metric.replace('_', ' ')}")
    middle.set_xlabel("round")
    coverage = cluster_coverage(store, n_clusters)
    right.bar(coverage["round"], coverage["clusters_covered"], color="#009E73")
    right.axhline(n_clusters, color="grey", linestyle="--", linewidth=1)
    right.set_ylim(0, n_clusters * 1.1)
    right.set_title("Clusters with a labeled item")
    right.set_xlabel("round")
    return figure
