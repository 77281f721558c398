"""Figures from hand-made predictions: what they draw, and that they are written as PNG files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alsafe.paper.error_analysis import error_distribution
from alsafe.paper.figures import confusion_plot, error_distribution_plot, per_class_f1_plot
from alsafe.report import save_figure
from alsafe.paper.tables import per_class_table
from alsafe.paper.reference import PAPER_TAXONOMY

CLASSES = PAPER_TAXONOMY.names
APPROACHES = ["random", "topn", "coreset", "cluster"]


def hand_made_predictions() -> pd.DataFrame:
    """One model, two seeds, 12 items; approach i gets the first i items wrong (cluster: 3)."""
    true = CLASSES * 2
    rows = []
    for wrong, approach in enumerate(APPROACHES):
        for seed in (0, 1):
            for item, label in enumerate(true):
                predicted = CLASSES[(CLASSES.index(label) + 1) % 6] if item < wrong + seed else label
                rows.append({"model": "m", "setting": "with-llm", "approach": approach, "seed": seed,
                             "id": f"test-{item:04d}", "true": label, "predicted": predicted})
    return pd.DataFrame(rows)


def test_error_distribution_figure_has_one_bar_per_class_and_approach(home):
    sample = pd.DataFrame({"approach": ["random", "random", "cluster"], "true": ["self-harm", "discard", "discard"],
                           "predicted": ["discard", "self-harm", "legal-advice"]})
    counts = error_distribution(sample)
    assert counts.columns.tolist() == ["class", "random", "cluster"]
    assert counts.set_index("class").loc["Not-Harmful"].tolist() == [1, 1]
    figure = error_distribution_plot(counts, "m")
    bars = figure.axes[0].patches
    assert len(bars) == 6 * 2 and sorted(b.get_height() for b in bars)[-2:] == [1, 1]
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["Random + LLM", "Cluster-AL + LLM"]
    path = save_figure(figure, "figure3")
    assert path == home / "figures" / "figure3.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_confusion_plot_shows_row_percentages_per_approach():
    figure = confusion_plot(hand_made_predictions(), "m")
    panels = [axis for axis in figure.axes if axis.get_title()]
    assert [axis.get_title() for axis in panels] == ["Random + LLM", "TopN-AL + LLM", "Coreset-AL + LLM",
                                                     "Cluster-AL + LLM"]
    image = panels[0].images[0].get_array()
    # random, seed 1 gets item 0 (self-harm) wrong: 1 of the 4 pooled self-harm items -> 75% on the diagonal
    assert image[0, 0] == pytest.approx(75.0) and image[0, 1] == pytest.approx(25.0)
    assert np.asarray(image).sum(axis=1) == pytest.approx(np.full(6, 100.0))
    with pytest.raises(ValueError, match="no runs of model 'x'"):
        confusion_plot(hand_made_predictions(), "x")


def test_per_class_f1_plot_uses_the_seed_mean():
    per_class = per_class_table(hand_made_predictions())
    # cluster: seed 1 also predicts Emergency-Situation for item 3 -> F1 100 (seed 0) and 80 (seed 1)
    cluster = per_class.query("approach == 'cluster' and `class` == 'Emergency-Situation'")
    assert cluster["n_seeds"].item() == 2 and cluster["f1"].item() == pytest.approx(90.0)
    assert cluster["f1_std"].item() == pytest.approx(np.std([100, 80], ddof=1))
    figure = per_class_f1_plot(per_class, "m")
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    assert len(heights) == 24 and max(heights) == pytest.approx(100.0)
    assert figure.axes[0].get_ylim() == (0, 100)
