"""Table 3: class counts per split and their standard deviation, beside the paper's."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from alsafe.paper.balance import table3, table3_notes
from alsafe.metrics import class_count_std, class_counts
from alsafe.paper.reference import paper_results
from alsafe.report import save_table


def test_class_counts_include_absent_classes_and_reject_unknown():
    counts = class_counts(["a", "b", "a"], ["a", "b", "c"])
    assert counts.to_dict() == {"a": 2, "b": 1, "c": 0}
    with pytest.raises(ValueError, match=r"\['z'\]"):
        class_counts(["z"], ["a"])


def test_class_count_std_is_the_sample_std():
    # counts 3, 1, 0 -> mean 4/3, sample variance ((5/3)^2 + (1/3)^2 + (4/3)^2) / 2 = 7/3
    assert class_count_std(list("aaab"), ["a", "b", "c"]) == pytest.approx((7 / 3) ** 0.5)


def test_table3_from_released_files_matches_the_paper(paper_dataset):
    table = table3(paper_dataset).set_index("class")
    std = table.loc["Standard Deviation"]
    assert std["random"] == pytest.approx(57.6) and std["random (paper)"] == pytest.approx(57.6)
    assert std["topn"] == pytest.approx(47.6) and std["topn (paper)"] == pytest.approx(47.6)
    assert std["cluster"] == pytest.approx(41.4) and std["cluster (paper)"] == pytest.approx(41.4)
    assert std["coreset"] == pytest.approx(65.4) and std["coreset (paper)"] == pytest.approx(65.3)
    assert table.loc["Emergency-Situation", ["random", "topn", "coreset", "cluster"]].tolist() == [12, 24, 0, 30]
    assert table.loc["Total", ["bootstrap", "dev", "test"]].tolist() == [150, 150, 2700]
    assert table.loc["Legal-Advice", "coreset"] == 138 and table.loc["Legal-Advice", "coreset (paper)"] == 137
    notes = table3_notes(table.reset_index())
    assert notes[:2] == ["coreset / Legal-Advice: ours 138, paper 137.", "coreset / Standard Deviation: ours 65.4, paper 65.3."]
    assert "601 rows" in notes[-1]
    assert len(notes) == 4  # the two coreset cells, the total, and the explanation: nothing else differs


def test_saved_table_has_metadata(home, paper_dataset):
    path = save_table(table3(paper_dataset), "table3", params={"source": "released"}, started_at=0.0, notes=["n"])
    assert path == home / "results" / "table3.csv"
    assert pd.read_csv(path)["class"].iloc[0] == "Self-Harm"
    meta = json.loads((home / "results" / "table3.meta.json").read_text())
    assert meta["params"] == {"source": "released"} and meta["notes"] == ["n"] and meta["rows"] == 8


def test_paper_results_are_the_shared_copy():
    table = paper_results()
    assert set(table["table"]) == {"table3", "table4", "table5", "table6", "table8"}
    assert paper_results("table6").query("approach == 'cluster' and model == 'roberta-base' and metric == 'f1'")[
        "value"].astype(float).item() == pytest.approx(71.6)


def test_class_balance_figure_has_a_bar_per_class_and_split(paper_dataset):
    import matplotlib

    matplotlib.use("agg")
    from alsafe.paper.figures import plot_class_balance

    figure = plot_class_balance(table3(paper_dataset))
    axis = figure.axes[0]
    assert len(axis.patches) == 6 * 4
    assert [t.get_text() for t in axis.get_legend().get_texts()][-1] == "cluster (std 41.4)"
