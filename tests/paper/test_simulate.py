"""The simulated pools: the stratified half of the test split and U's mix estimated from the Random split."""

from __future__ import annotations

import pandas as pd
import pytest

from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.paper.simulate import pool_mix_estimate, skewed_counts, split_test


def test_the_random_splits_originals_estimate_the_pools_mix(paper_dataset):
    mix = pool_mix_estimate(paper_dataset)
    assert mix.sum() == 100
    assert mix.to_dict() == {"self-harm": 16, "medical-advice": 30, "legal-advice": 14, "financial-advice": 14,
                             "emergency-situation": 2, "discard": 24}


def test_the_skewed_pool_follows_that_mix_within_the_pool_half(paper_dataset):
    stratified, held_out = split_test(paper_dataset, random_state=0)
    skewed, held_out_again = split_test(paper_dataset, random_state=0, pool_mix="skewed")
    assert held_out_again.equals(held_out)  # evaluation never changes with the pool
    assert set(skewed["id"]) <= set(stratified["id"])
    counts = skewed["label"].value_counts()
    assert counts.to_dict() == {"medical-advice": 237, "discard": 190, "self-harm": 126, "financial-advice": 111,
                                "legal-advice": 111, "emergency-situation": 16}
    assert counts["medical-advice"] == stratified["label"].value_counts()["medical-advice"]  # the binding class
    assert split_test(paper_dataset, random_state=0, pool_mix="skewed")[0].equals(skewed)  # deterministic


def test_skewed_counts_respect_a_cap_and_the_available_titles():
    available = pd.Series({"a": 10, "b": 100})
    mix = pd.Series({"a": 50, "b": 50})
    assert skewed_counts(available, mix).to_dict() == {"a": 10, "b": 10}
    assert skewed_counts(available, mix, total=8).to_dict() == {"a": 4, "b": 4}


def test_an_unknown_pool_mix_is_refused(paper_dataset):
    with pytest.raises(ValueError, match="pool_mix must be one of stratified, skewed, not 'uniform'"):
        split_test(paper_dataset, pool_mix="uniform")
    assert PAPER_TAXONOMY.names[-1] == "discard"
