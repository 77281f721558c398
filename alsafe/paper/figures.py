"""Every figure of the paper wing: Table 3 as bars, the pool's clusters, the simulated learning curves,
Figure 3's error distribution, confusion matrices, per-class F1. Each function returns a matplotlib figure;
:func:`alsafe.report.save_figure` writes it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alsafe.metrics import confusion_counts
from alsafe.paper.experiments import APPROACHES
from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.paper.simulate import learning_curves
from alsafe.taxonomy import Taxonomy

APPROACH_NAMES = {"random": "Random + LLM", "topn": "TopN-AL + LLM", "coreset": "Coreset-AL + LLM",
                  "cluster": "Cluster-AL + LLM", "baseline": "Baseline"}
# Okabe-Ito colours for the four approaches, cluster (the paper's method) in the strongest one.
APPROACH_COLOURS = {"random": "#999999", "topn": "#56B4E9", "coreset": "#E69F00", "cluster": "#D55E00"}


def _pyplot():
    import matplotlib.pyplot as plt  # on first use: importing alsafe.paper.figures stays cheap

    return plt


def _grouped_bars(axis, table: pd.DataFrame, approaches: list[str], errors: pd.DataFrame | None = None) -> None:
    """Bars of ``table`` (rows: classes, columns: approaches) grouped by class, one colour per approach."""
    width = 0.8 / len(approaches)
    positions = np.arange(len(table))
    for index, approach in enumerate(approaches):
        axis.bar(positions + (index - (len(approaches) - 1) / 2) * width, table[approach], width,
                 yerr=None if errors is None else errors[approach], capsize=2,
                 label=APPROACH_NAMES.get(approach, approach), color=APPROACH_COLOURS.get(approach))
    axis.set_xticks(positions, table.index, rotation=20, ha="right")
    axis.legend(frameon=False, fontsize=8)
    axis.spines[["top", "right"]].set_visible(False)


def error_distribution_plot(counts: pd.DataFrame, model: str):
    """Figure 3: true classes of the sampled errors, one bar per approach (``counts`` from ``error_distribution``)."""
    plt = _pyplot()
    table = counts.set_index("class")
    figure, axis = plt.subplots(figsize=(8, 3.8))
    _grouped_bars(axis, table, [a for a in APPROACHES if a in table.columns])
    axis.set_ylabel("errors in the sample")
    axis.set_title(f"Error distribution across {int(table.sum().max())} sampled errors ({model})", fontsize=10)
    return figure


def confusion_plot(predictions: pd.DataFrame, model: str, setting: str = "with-llm"):
    """One row-normalized confusion matrix (percent of each true class, all seeds pooled) per approach."""
    plt = _pyplot()
    chosen = predictions[(predictions["model"] == model) & (predictions["setting"] == setting)]
    if chosen.empty:
        raise ValueError(f"predictions hold no runs of model {model!r} in setting {setting!r}.")
    approaches = [a for a in ("baseline",) + APPROACHES if a in set(chosen["approach"])]
    classes = PAPER_TAXONOMY.names
    names = [PAPER_TAXONOMY.display(c) for c in classes]
    figure, axes = plt.subplots(1, len(approaches), figsize=(3.6 * len(approaches) + 1, 4), squeeze=False,
                                sharey=True, layout="constrained")
    for axis, approach in zip(axes[0], approaches):
        run = chosen[chosen["approach"] == approach]
        counts = confusion_counts(run["true"].astype(str), run["predicted"].astype(str), classes).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            share = 100 * counts / counts.sum(axis=1, keepdims=True)
        image = axis.imshow(share, vmin=0, vmax=100, cmap="Blues")
        for (row, column), value in np.ndenumerate(share):
            if not np.isnan(value):
                axis.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=7,
                          color="white" if value > 60 else "black")
        axis.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        axis.set_yticks(range(len(names)), names, fontsize=7)
        axis.set_xlabel("predicted")
        axis.set_title(APPROACH_NAMES.get(approach, approach), fontsize=9)
    axes[0][0].set_ylabel("true")
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.7, label="% of true class")
    figure.suptitle(f"Confusion matrices, {model}, {setting} (all seeds pooled)", fontsize=10)
    return figure


def per_class_f1_plot(per_class: pd.DataFrame, model: str, setting: str = "with-llm"):
    """Per-class F1 (mean over seeds, std as error bars) of ``model`` in ``setting``, one bar per approach."""
    plt = _pyplot()
    chosen = per_class[(per_class["model"] == model) & (per_class["setting"] == setting)]
    if chosen.empty:
        raise ValueError(f"per_class holds no rows of model {model!r} in setting {setting!r}.")
    order = [PAPER_TAXONOMY.display(c) for c in PAPER_TAXONOMY.names]
    approaches = [a for a in APPROACHES if a in set(chosen["approach"])]
    means = chosen.pivot(index="class", columns="approach", values="f1").reindex(order)
    spread = chosen.pivot(index="class", columns="approach", values="f1_std").reindex(order).fillna(0)
    figure, axis = plt.subplots(figsize=(8, 3.8))
    _grouped_bars(axis, means, approaches, spread)
    axis.set_ylabel("F1 (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"Per-class F1, {model}, {setting} (error bars: std over seeds)", fontsize=10)
    return figure


def plot_class_balance(table: pd.DataFrame, splits=APPROACHES):
    """Grouped bars of the class counts per training split (Table 3 as a picture), std in the legend."""
    plt = _pyplot()

    counts = table[~table["class"].isin(["Standard Deviation", "Total"])].set_index("class")
    std = table.set_index("class").loc["Standard Deviation"]
    figure, axis = plt.subplots(figsize=(10, 4.5), constrained_layout=True)
    width = 0.8 / len(splits)
    positions = range(len(counts))
    for offset, split in enumerate(splits):
        axis.bar([p + offset * width for p in positions], counts[split].astype(float), width,
                 label=f"{split} (std {std[split]:.1f})")
    axis.set_xticks([p + width * (len(splits) - 1) / 2 for p in positions], counts.index, rotation=15)
    axis.set_ylabel("titles in the split")
    axis.set_title("Class counts of the released training splits (paper's Table 3)")
    axis.legend(frameon=False)
    return figure


def plot_cluster_composition(composition: pd.DataFrame, taxonomy: Taxonomy = PAPER_TAXONOMY):
    """Stacked bars: the class mix of every cluster, largest cluster first."""
    plt = _pyplot()

    classes = [c for c in composition.columns if c not in ("cluster", "size", "majority")]
    colours = taxonomy.colours()
    figure, axis = plt.subplots(figsize=(12, 4.5), constrained_layout=True)
    bottom = np.zeros(len(composition))
    positions = np.arange(len(composition))
    for name in classes:
        axis.bar(positions, composition[name], bottom=bottom, label=name, color=colours.get(name))
        bottom += composition[name].to_numpy()
    axis.set_xticks(positions, composition["cluster"].astype(str))
    axis.set_xlabel("cluster (largest first)")
    axis.set_ylabel("pool items")
    axis.set_title("Class mix of each cluster of the pool")
    axis.legend(frameon=False, ncol=3)
    return figure


def plot_learning_curves(curves: pd.DataFrame, metric: str = "test_macro_f1"):
    """Mean ``metric`` (95% interval over seeds as a band) against human labels bought: one panel per pool
    mix and generation, one line per strategy."""
    plt = _pyplot()

    summary = learning_curves(curves, metric)
    panels = list(summary[["pool_mix", "generation"]].drop_duplicates().itertuples(index=False, name=None))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True, squeeze=False,
                                constrained_layout=True)
    for axis, (mix, generation) in zip(axes[0], panels):
        chosen = summary[(summary["pool_mix"] == mix) & (summary["generation"] == generation)]
        for strategy, rows in chosen.groupby("strategy", sort=False):
            colour = APPROACH_COLOURS.get(strategy)
            axis.plot(rows["n_acquired"], rows[metric], marker="o", label=strategy, color=colour)
            axis.fill_between(rows["n_acquired"], rows[f"{metric}_low"], rows[f"{metric}_high"], alpha=0.15,
                              color=colour)
        axis.set_title(f"{mix} pool, {'with LLM generation' if generation else 'without generation'}", fontsize=10)
        axis.set_xlabel("human labels bought")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric.replace("_", " ") + " (%)")
    axes[0][-1].legend(frameon=False)
    return figure
