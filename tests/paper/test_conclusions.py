"""The README's results section is what results/*.csv say: regenerated here from the committed files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from alsafe.paper.conclusions import MARKER, results_section, verdict
from alsafe.report import splice_section

ROOT = Path(__file__).resolve().parents[2]


def _section(readme: str) -> str:
    start, end = f"<!-- {MARKER}:start -->\n", f"<!-- {MARKER}:end -->"
    return readme.split(start, 1)[1].split(end, 1)[0]


def test_the_readme_section_equals_what_the_committed_results_regenerate():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _section(readme) == results_section(ROOT / "results"), (
        "README.md's results section differs from results/*.csv: run `make paper` (or splice "
        "alsafe.paper.conclusions.results_section() into it) after changing results.")


def test_the_committed_results_hold_every_table_the_section_reads():
    for name in ("table3", "table4", "table5", "table6", "compute_matched", "cluster_ci", "simulation_balance",
                 "simulation_learning_curves", "pipeline", "gate_benchmark"):
        assert (ROOT / "results" / f"{name}.csv").exists(), name
    section = results_section(ROOT / "results")
    table4 = pd.read_csv(ROOT / "results" / "table4.csv")
    ours = table4.loc[table4["n_seeds"].notna(), "model"].unique()
    assert "embedding-lr" in ours and any("~steps-" in m for m in ours)  # a fine-tuned model under a protocol
    assert "skewed" in section and all(f"| {model} |" in section for model in ours)


@pytest.mark.parametrize("low, high, word", [(0.1, 2.0, "gain"), (-2.0, -0.1, "loss"), (-0.5, 1.0, "no difference shown"),
                                             (0.0, 1.0, "no difference shown")])
def test_a_difference_is_a_gain_only_when_its_interval_is_above_zero(low, high, word):
    assert verdict(low, high) == word


def test_splice_replaces_only_what_stands_between_the_markers(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# Title\n\nbefore\n<!-- {MARKER}:start -->\nold\n<!-- {MARKER}:end -->\nafter\n", encoding="utf-8")
    splice_section("new 1\nnew 2\n", MARKER, path)
    assert path.read_text(encoding="utf-8") == (f"# Title\n\nbefore\n<!-- {MARKER}:start -->\nnew 1\nnew 2\n"
                                                f"<!-- {MARKER}:end -->\nafter\n")
    path.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs exactly one <!-- results:start -->"):
        splice_section("x", MARKER, path)
