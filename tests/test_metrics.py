"""Metrics on hand-made predictions, with the numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from alsafe.metrics import (class_error_rates, classification_scores, confusion_counts, normalized_error_std,
                            paired_bootstrap, per_class_scores)

CLASSES = ["a", "b", "c"]
# c is never predicted. Confusion (rows true): a -> a a b, b -> b a, c -> a.
TRUE = ["a", "a", "a", "b", "b", "c"]
PRED = ["a", "a", "b", "b", "a", "a"]


def test_macro_scores_by_hand_with_a_class_absent_from_predictions():
    scores = classification_scores(TRUE, PRED, CLASSES)
    # precision a 2/4, b 1/2, c 0 (never predicted); recall a 2/3, b 1/2, c 0; F1 a 4/7, b 1/2, c 0
    assert scores["accuracy"] == pytest.approx(50.0)
    assert scores["precision"] == pytest.approx(100 / 3)
    assert scores["recall"] == pytest.approx(100 * 7 / 18)
    assert scores["f1"] == pytest.approx(100 * 5 / 14)
    p, r, f, _ = precision_recall_fscore_support(TRUE, PRED, labels=CLASSES, average="macro", zero_division=0)
    assert [scores["precision"], scores["recall"], scores["f1"]] == pytest.approx([100 * p, 100 * r, 100 * f])
    assert scores["accuracy"] == pytest.approx(100 * accuracy_score(TRUE, PRED))


def test_per_class_scores_and_confusion():
    table = per_class_scores(TRUE, PRED, CLASSES).set_index("class")
    assert table["f1"].tolist() == pytest.approx([400 / 7, 50.0, 0.0])
    assert table["support"].tolist() == [3, 2, 1]
    matrix = confusion_counts(TRUE, PRED, CLASSES)
    assert matrix.to_numpy().tolist() == [[2, 1, 0], [1, 1, 0], [1, 0, 0]]


def test_unknown_labels_and_length_mismatch_are_named():
    with pytest.raises(ValueError, match=r"y_pred contains \['z'\]"):
        classification_scores(["a"], ["z"], CLASSES)
    with pytest.raises(ValueError, match="y_true has 2 labels but y_pred has 1"):
        classification_scores(["a", "b"], ["a"], CLASSES)


def test_table8_normalization_by_hand_including_an_absent_class():
    classes = CLASSES + ["d"]  # d has no test items: no rate, left out of the std
    rates = class_error_rates(TRUE, PRED, classes)
    assert rates[["a", "b", "c"]].tolist() == pytest.approx([100 / 3, 50.0, 100.0])
    assert np.isnan(rates["d"])
    assert normalized_error_std(TRUE, PRED, classes) == pytest.approx(np.std([100 / 3, 50, 100], ddof=1))
    assert normalized_error_std(TRUE, PRED, classes, ddof=0) == pytest.approx(np.std([100 / 3, 50, 100]))
    # "the full dataset": divide by other counts (here d has 0 items there too)
    full = {"a": 6, "b": 4, "c": 2, "d": 0}
    assert class_error_rates(TRUE, PRED, classes, full).dropna().tolist() == pytest.approx([100 / 6, 25, 50])
    # errors counted under the predicted class: a 2, b 1, c 0 over true counts 3, 2, 1
    assert class_error_rates(TRUE, PRED, CLASSES, by="predicted").tolist() == pytest.approx([200 / 3, 50, 0])
    with pytest.raises(ValueError, match="reference_counts lacks"):
        class_error_rates(TRUE, PRED, CLASSES, {"a": 1})
    with pytest.raises(ValueError, match="by must be one of"):
        class_error_rates(TRUE, PRED, CLASSES, by="both")


def _constructed(n=400, wrong_a=40, wrong_b=120, seed=1):
    """a is wrong on its first 40 items (90% right), b on its last 120 (70% right)."""
    rng = np.random.default_rng(seed)
    true = rng.choice(CLASSES, size=n)
    wrong = {"a": "b", "b": "c", "c": "a"}
    pred_a, pred_b = true.copy(), true.copy()
    pred_a[:wrong_a] = [wrong[t] for t in true[:wrong_a]]
    pred_b[-wrong_b:] = [wrong[t] for t in true[-wrong_b:]]
    return true, pred_a, pred_b


def test_paired_bootstrap_is_deterministic_and_covers_the_true_difference():
    true, pred_a, pred_b = _constructed()
    ci = paired_bootstrap(true, pred_a, pred_b, CLASSES, metric="accuracy", n_resamples=500, random_state=7)
    assert ci["difference"] == pytest.approx(20.0)  # 90% - 70% accuracy, exactly
    assert ci["low"] < 20.0 < ci["high"] and ci["low"] > 0
    assert ci["p_not_greater"] == 0.0
    assert paired_bootstrap(true, pred_a, pred_b, CLASSES, "accuracy", 500, random_state=7) == ci
    assert paired_bootstrap(true, pred_a, pred_b, CLASSES, "accuracy", 500, random_state=8) != ci
    f1 = paired_bootstrap(true, pred_a, pred_b, CLASSES, "f1", 300, random_state=0)
    full = classification_scores(true, pred_a, CLASSES)["f1"] - classification_scores(true, pred_b, CLASSES)["f1"]
    assert f1["difference"] == pytest.approx(full) and f1["low"] < full < f1["high"]


def test_paired_bootstrap_averages_seeds_and_a_null_case_spans_zero():
    true, pred_a, pred_b = _constructed()
    seeds = paired_bootstrap(true, np.stack([pred_a, pred_b]), pred_b, CLASSES, "accuracy", 300, random_state=0)
    assert seeds["difference"] == pytest.approx(10.0)  # mean of 90% and 70% minus 70%
    same = paired_bootstrap(true, pred_b, pred_b[::-1][::-1], CLASSES, "accuracy", 300, random_state=0)
    assert same["difference"] == 0.0 and same["low"] == 0.0 == same["high"] and same["p_not_greater"] == 1.0
    with pytest.raises(ValueError, match="metric must be one of"):
        paired_bootstrap(true, pred_a, pred_b, CLASSES, metric="auc")
    with pytest.raises(ValueError, match="pred_b has 3 predictions"):
        paired_bootstrap(true, pred_a, pred_b[:3], CLASSES)
