"""The measured gate: a benchmark built from the paper's variations, each filter's precision and recall."""

from __future__ import annotations

import pandas as pd
import pytest

from alsafe.paper.gate import INJECTED, evaluate_gate, gate_benchmark
from alsafe.paper.reference import PAPER_TAXONOMY


class Oracle:
    """A learner that knows the truth: certain of the on-label rows' labels (by text)."""

    def __init__(self, truth: dict):
        self.truth = truth
        self.classes_ = PAPER_TAXONOMY.names

    def predict_proba(self, texts):
        return [[1.0 if self.truth.get(t) == c else 0.0 for c in self.classes_] if t in self.truth
                else [1 / len(self.classes_)] * len(self.classes_) for t in texts]


def test_the_benchmark_is_built_from_the_papers_variations(paper_dataset):
    bench = gate_benchmark(paper_dataset, "cluster")
    assert bench["kind"].value_counts().to_dict() == {"on-label": 500, "off-label": 500, "injected": len(INJECTED)}
    on, off = bench[bench["kind"] == "on-label"], bench[bench["kind"] == "off-label"]
    assert on["text"].tolist() == off["text"].tolist() and (on["label"].to_numpy() != off["label"].to_numpy()).all()
    assert on["keep"].all() and not bench.loc[bench["kind"] != "on-label", "keep"].any()


def test_precision_and_recall_are_counted_against_the_truth(paper_dataset):
    bench = gate_benchmark(paper_dataset, "cluster")
    on = bench[bench["kind"] == "on-label"]
    table = evaluate_gate(bench, Oracle(dict(zip(on["text"], on["label"])))).set_index("filter")
    gate = table.loc["label gate"]
    # a perfect label gate rejects every off-label row (texts repeat across seeds: at least 95%) and no on-label one
    assert gate["rejected % on-label"] == 0 and gate["rejected % off-label"] >= 95 and gate["precision"] == 100
    whole = table.loc["whole gate"]
    # the text checks stop 13 of the 16 injected answers; the other 3 are well-formed titles of another class
    # ("Family business" offered as an emergency), which only a label gate that knows them can stop
    assert whole["rejected % injected"] == pytest.approx(100 * 13 / 16) and whole["recall"] == pytest.approx(
        100 * (whole["rejected % off-label"] * 500 + whole["rejected % injected"] * len(INJECTED)) / 100 / (500 + len(INJECTED)))
    assert isinstance(table, pd.DataFrame) and table.attrs["notes"]
