"""The dashboard tells the truth: the learner panel names the metric it plots, the legend hides no bar, and
the class-distribution table is redrawn from the store after each round."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from alsafe.store import RunStore
from alsafe.taxonomy import Taxonomy
from alsafe.ui import dashboard

TAXONOMY = Taxonomy.from_dict({"labels": [{"name": "urgent", "description": "Needs help now."},
                                          {"name": "billing", "description": "About invoices."},
                                          {"name": "other", "description": "Anything else."}]})


def _store(path, dev=False, per_class=4):
    store = RunStore.create(path, TAXONOMY)
    labeled = [(f"L-{name}-{i}", f"{name} text {i}", name) for name in TAXONOMY.names for i in range(per_class)]
    store.add_items(pd.DataFrame(labeled, columns=["id", "text", "label"]), role="labeled")
    store.add_items(pd.DataFrame({"id": [f"p{i}" for i in range(6)], "text": [f"pool {i}" for i in range(6)]}),
                    role="pool")
    if dev:
        store.add_items(pd.DataFrame({"id": ["d0", "d1"], "text": ["dev a", "dev b"], "label": ["urgent", "other"]}),
                        role="dev")
    return store


def test_without_dev_items_the_learner_panel_never_says_dev_macro_f1(tmp_path):
    with _store(tmp_path / "run.sqlite") as store:
        figure = dashboard.plot_dashboard(store, n_clusters=3)
        title = figure.axes[1].get_title()
        plt.close(figure)
        assert title == "Learner: its guesses on the items it picked, right (%)"
        store.start_round(1, "cluster", pd.DataFrame({"item_id": ["p0", "p1"], "predicted_label": ["urgent", "other"]}))
        store.add_label("p0", "urgent", annotator="me", round=1)
        store.add_label("p1", "billing", annotator="me", round=1)
        store.set_round_status(1, "trained", metrics={"n_acquired": 2})
        figure = dashboard.plot_dashboard(store, n_clusters=3)
        assert figure.axes[1].get_title() == "Learner: its guesses on the items it picked, right (%)"
        assert figure.axes[1].lines[0].get_ydata().tolist() == pytest.approx([50.0])
        plt.close(figure)


def test_with_dev_items_the_panel_names_dev_macro_f1_before_any_round(tmp_path):
    with _store(tmp_path / "run.sqlite", dev=True) as store:
        assert dashboard.expected_metric(store) == "dev_macro_f1"
        figure = dashboard.plot_dashboard(store, n_clusters=3)
        assert figure.axes[1].get_title() == "Learner: dev macro-F1 (%)"
        plt.close(figure)


def test_the_legend_covers_no_bar(tmp_path):
    # every class the same count: every bar runs to the right edge, where an inside legend would sit
    with _store(tmp_path / "run.sqlite", per_class=6) as store:
        figure = dashboard.plot_dashboard(store, n_clusters=3)
    figure.canvas.draw()
    left = figure.axes[0]
    legend = left.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["human", "generated"]
    box = legend.get_window_extent()
    bars = [patch.get_window_extent() for patch in left.patches if patch.get_width() > 0]
    assert len(bars) == 3
    assert not any(box.overlaps(bar) for bar in bars)
    assert box.y1 <= left.get_window_extent().y0  # below the axes
    plt.close(figure)


def test_the_class_distribution_table_is_redrawn_after_each_round(tmp_path):
    class Session:
        listeners = []

        def on_round(self, callback):
            self.listeners.append(callback)

    session = Session()
    with _store(tmp_path / "run.sqlite", per_class=1) as store:
        table = dashboard.LiveTable(store, dashboard.class_distribution, session=session)
        assert table.frame_.set_index("class").loc["urgent", "human"] == 1 and "<table" in table.value
        before = table.value
        store.start_round(1, "cluster", pd.DataFrame({"item_id": ["p0", "p1"]}))
        store.add_label("p0", "urgent", annotator="me", round=1)
        store.add_label("p1", "urgent", annotator="me", round=1)
        for listener in session.listeners:
            listener(session)
    assert table.frame_.set_index("class").loc["urgent", "human"] == 3 and table.n_draws_ == 2
    assert table.value != before and table.value == table.frame_.to_html(index=False, border=0)
