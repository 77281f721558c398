"""The tables notebooks 02 and 04 record, computed by the package (the notebooks only call these)."""

from __future__ import annotations

import pandas as pd

from alsafe.generate.views import acceptance, summary
from alsafe.paper.balance import split_balance
from alsafe.paper.simulate import PAPER_TEST_TITLES, SKEWED_POOL, STRATIFIED_POOL, split_test


def test_split_balance_counts_each_split_per_class_in_taxonomy_order():
    splits = {"a": pd.DataFrame({"label": ["self-harm", "self-harm", "discard"]}),
              "b": pd.DataFrame({"label": ["medical-advice"]})}
    table = split_balance(splits)
    assert table["class"].tolist()[:2] == ["Self-Harm", "Medical-Advice"] and table["class"].iloc[-1] == "Not-Harmful"
    assert table.set_index("class").loc["Self-Harm"].tolist() == [2, 0]
    assert table["a"].sum() == 3 and table["b"].sum() == 1


def test_generation_summary_and_acceptance():
    previews = pd.DataFrame({"backend": ["replay"] * 3 + ["local"] * 2, "seed_text": ["s"] * 5,
                             "label": ["discard"] * 5, "text": list("abcde"),
                             "status": ["accepted", "rejected", "accepted", "rejected", "rejected"]})
    table = summary(previews, n_variations=5)
    assert table[["backend", "returned", "accepted", "asked"]].values.tolist() == [["replay", 3, 2, 5],
                                                                                  ["local", 2, 0, 5]]
    assert acceptance(table)["accepted_share"].tolist() == [66.7, 0.0]


def test_the_paper_pool_sizes_the_schemas_use_are_what_split_test_makes(paper_dataset):
    assert (paper_dataset["split"] == "test").sum() == PAPER_TEST_TITLES
    assert len(split_test(paper_dataset)[0]) == STRATIFIED_POOL
    assert len(split_test(paper_dataset, pool_mix="skewed")[0]) == SKEWED_POOL
