"""A run at a glance: what was acquired per class (human vs generated), learner metrics per round, cluster coverage.

:class:`LiveDashboard` is the one figure of a labeling session and :class:`LiveTable` a table of it (the
class distribution), both redrawn in place after every round from the store: nothing on screen is kept
from an earlier round.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from alsafe.store import RunStore

# Learner metrics the dashboard can show, best first: held-out scores when the run has gold-labeled dev or
# test items, else how often the learner's prediction for the items it picked matched the label people gave.
METRICS = {"dev_macro_f1": "dev macro-F1 (%)", "test_macro_f1": "test macro-F1 (%)",
           "picked_accuracy": "its guesses on the items it picked, right (%)"}


def class_distribution(store: RunStore) -> pd.DataFrame:
    """Per class: human labels and accepted generated variations in the training set so far."""
    training = store.training_set()
    taxonomy = store.taxonomy
    table = (training.groupby(["label", "origin"]).size().unstack(fill_value=0)
             .reindex(index=taxonomy.names, columns=["human", "llm"], fill_value=0))
    table.index = [taxonomy.display(name) for name in table.index]
    return table.rename(columns={"llm": "generated"}).rename_axis("class").reset_index()


def round_metrics(store: RunStore) -> pd.DataFrame:
    """One row per round with its status, the learner metrics recorded when it was trained, and
    ``picked_accuracy``: the share (percent) of the round's labeled items whose label the learner that
    picked them predicted (no gold labels needed, so every run has it)."""
    rounds = store.rounds()
    metrics = pd.json_normalize(rounds["metrics"].tolist()) if len(rounds) else pd.DataFrame()
    metrics = metrics.drop(columns=[c for c in metrics.columns if c.startswith("acquired_class_counts")] + ["round"],
                           errors="ignore")
    table = pd.concat([rounds[["round", "strategy", "status"]], metrics], axis=1)
    selections = store.selections()
    judged = selections[selections["label"].notna() & selections["predicted_label"].notna()]
    right = (judged["label"] == judged["predicted_label"]).groupby(judged["round"]).mean() * 100
    table["picked_accuracy"] = table["round"].map(right)
    return table


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


def expected_metric(store: RunStore) -> str:
    """The learner metric the loop will record for ``store``: held-out macro-F1 when it has gold-labeled dev
    (else test) items, otherwise ``picked_accuracy`` (see :func:`round_metrics`)."""
    for role in ("dev", "test"):
        items = store.items(role)
        if len(items) and items["gold_label"].notna().all():
            return f"{role}_macro_f1"
    return "picked_accuracy"


def plot_dashboard(store: RunStore, n_clusters: int, metric: str | None = None) -> plt.Figure:
    """Three panels: class distribution (human vs generated), a learner metric per round (``metric``, or the
    first of :data:`METRICS` the rounds hold, or before any the one :func:`expected_metric` says they will),
    cluster coverage; rounds on integer axes."""
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    distribution = class_distribution(store).set_index("class")
    distribution.plot.barh(stacked=True, ax=left, color=["#0072B2", "#E69F00"], legend=False)
    # below the axes, never over a bar (a long bar reaches the corner any inside legend would take)
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    left.set_title("Acquired so far")
    left.set_xlabel("items")
    metrics = round_metrics(store)
    available = [m for m in METRICS if m in metrics.columns and metrics[m].notna().any()]
    chosen = metric or (available[0] if available else expected_metric(store))
    if chosen in available:
        shown = metrics[metrics[chosen].notna()]
        middle.plot(shown["round"], shown[chosen], marker="o")
        middle.set_ylim(0, 100)
    else:
        middle.text(0.5, 0.5, "shown once a round is labeled and trained", ha="center", va="center",
                    transform=middle.transAxes)
    middle.set_title(f"Learner: {METRICS.get(chosen, chosen.replace('_', ' '))}")
    middle.set_xlabel("round")
    coverage = cluster_coverage(store, n_clusters)
    right.bar(coverage["round"], coverage["clusters_covered"], color="#009E73")
    right.axhline(n_clusters, color="grey", linestyle="--", linewidth=1)
    right.set_ylim(0, n_clusters * 1.1)
    right.set_title("Clusters with a labeled item")
    right.set_xlabel("round")
    rounds = metrics["round"].tolist() or [1]
    for axis in (middle, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.set_xlim(min(rounds) - 0.5, max(rounds) + 0.5)
    return figure


class LiveDashboard(widgets.Output):
    """:func:`plot_dashboard` of ``store`` in one output that a session redraws in place after each round.

    Parameters
    ----------
    store : the run store.
    n_clusters : clusters of the run (for the coverage panel).
    session : a :class:`~alsafe.ui.session.LabelingSession` to follow, or None to draw once.
    """

    def __init__(self, store: RunStore, n_clusters: int, session=None):
        super().__init__()
        self.store, self.n_clusters = store, n_clusters
        self.n_draws_ = 0
        self.refresh()
        if session is not None:
            session.on_round(lambda _: self.refresh())

    def refresh(self) -> None:
        """Redraw the figure from the store, replacing the one shown."""
        from IPython.core.formatters import format_display_data

        figure = plot_dashboard(self.store, self.n_clusters)
        data, metadata = format_display_data(figure)
        plt.close(figure)
        # one assignment replaces the old figure: no blank moment, never two figures stacked
        self.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)
        self.n_draws_ += 1


class LiveTable(widgets.HTML):
    """``table(store)`` (by default :func:`class_distribution`) as an HTML table, redrawn after each round.

    Parameters
    ----------
    store : the run store.
    table : a function of the store returning a DataFrame.
    session : a :class:`~alsafe.ui.session.LabelingSession` to follow, or None to draw once.
    """

    def __init__(self, store: RunStore, table=class_distribution, session=None):
        super().__init__()
        self.store, self.table = store, table
        self.frame_: pd.DataFrame | None = None
        self.n_draws_ = 0
        self.refresh()
        if session is not None:
            session.on_round(lambda _: self.refresh())

    def refresh(self) -> None:
        """Read the table from the store again and show it (kept as ``frame_``)."""
        self.frame_ = self.table(self.store)
        self.value = self.frame_.to_html(index=False, border=0)
        self.n_draws_ += 1
