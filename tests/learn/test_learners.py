"""Learners: a fine-tuning round trip on the 2-layer MiniLM, seeding, saving, TF-IDF + LR on the paper's data, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score

from alsafe.exceptions import LearnerError
from alsafe.learn.learners import make_learner
from alsafe.learn.tfidf import TfidfLogisticRegression
from alsafe.learn.transformer import TransformerClassifier
from alsafe.models import ModelLoadError

TEXTS = ["my landlord kept my deposit", "landlord refuses to return security deposit",
         "tenant evicted without notice", "rent increase in the middle of my lease",
         "my boss did not pay overtime", "employer withholding my final paycheck",
         "fired for asking about wages", "manager makes me work off the clock",
         "chest pain and can't breathe", "my friend overdosed call ambulance",
         "severe bleeding after a fall", "someone is unconscious and not breathing"]
LABELS = ["housing"] * 4 + ["employment"] * 4 + ["emergency"] * 4
# a high learning rate: 18 steps on 12 titles are enough for the tiny model to separate three topics
TOY = dict(learning_rate=1e-3, batch_size=4, epochs=6)


@pytest.fixture(scope="module")
def fitted():
    rng_before = torch.random.get_rng_state()
    classifier = TransformerClassifier("minilm-l2", dev_texts=TEXTS[::2], dev_labels=LABELS[::2], **TOY)
    classifier.fit(TEXTS, LABELS)
    return classifier, rng_before


def test_round_trip_learns_a_separable_toy_set(fitted):
    classifier, _ = fitted
    probabilities = classifier.predict_proba(TEXTS)
    assert probabilities.shape == (12, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    assert list(classifier.classes_) == ["emergency", "employment", "housing"]
    assert (classifier.predict(TEXTS) == np.array(LABELS)).mean() >= 0.9
    assert classifier.history_[-1]["train_loss"] < classifier.history_[0]["train_loss"] - 0.3


def test_dev_set_keeps_the_best_epoch_and_global_rng_is_untouched(fitted):
    classifier, rng_before = fitted
    scores = [record["dev_macro_f1"] for record in classifier.history_]
    assert len(scores) == 6
    assert classifier.best_epoch_ == 1 + int(np.argmax(scores))
    kept = f1_score(LABELS[::2], classifier.predict(TEXTS[::2]), average="macro")
    assert 100 * kept == pytest.approx(max(scores))  # dev_macro_f1 is in percent, as every score
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_save_pretrained_loads_in_a_transformers_pipeline(fitted, tmp_path):
    from transformers import pipeline

    classifier, _ = fitted
    folder = classifier.save_pretrained(tmp_path / "classifier")
    predictions = pipeline("text-classification", model=str(folder), device="cpu")(TEXTS)
    assert [p["label"] for p in predictions] == list(classifier.predict(TEXTS))
    reloaded = TransformerClassifier.from_pretrained(folder)
    assert list(reloaded.classes_) == list(classifier.classes_)
    np.testing.assert_allclose(reloaded.predict_proba(TEXTS), classifier.predict_proba(TEXTS), atol=1e-6)


def test_same_seed_gives_identical_probabilities_and_classes_fix_the_order():
    params = dict(model="minilm-l2", epochs=1, batch_size=4, classes=["housing", "emergency", "other"])
    texts, labels = TEXTS[:3] + TEXTS[8:11], LABELS[:3] + LABELS[8:11]
    first = TransformerClassifier(**params).fit(texts, labels).predict_proba(texts)
    second = TransformerClassifier(**params).fit(texts, labels)
    np.testing.assert_array_equal(second.predict_proba(texts), first)
    assert list(second.classes_) == ["housing", "emergency", "other"] and first.shape == (6, 3)
    other_seed = TransformerClassifier(**params, random_state=1).fit(texts, labels).predict_proba(texts)
    assert not np.allclose(other_seed, first)


@pytest.mark.parametrize("texts, labels, message", [
    ([], [], "texts is empty"),
    (["a", "b"], ["x", "x"], "labels hold a single class .'x'.; a classifier needs"),
    (["a", "b", "c"], ["x", "y"], "texts and labels must have the same length, not 3 texts and 2 labels"),
    (["a", "b"], ["x", None], r"labels\[1\] is missing"),
])
def test_unusable_training_data_is_refused_before_loading(texts, labels, message):
    for learner in (TransformerClassifier("no/such-model"), TfidfLogisticRegression()):
        with pytest.raises(LearnerError, match=message):
            learner.fit(texts, labels)


def test_unusable_parameters_models_and_unfitted_use_are_refused():
    with pytest.raises(ModelLoadError, match="model '/no/such/folder' could not be loaded: no such file or folder"):
        TransformerClassifier("/no/such/folder").fit(TEXTS, LABELS)
    with pytest.raises(LearnerError, match="learning_rate must be a number > 0"):
        TransformerClassifier(learning_rate=0).fit(TEXTS, LABELS)
    with pytest.raises(LearnerError, match="epochs must be an integer >= 1"):
        TransformerClassifier(epochs=0.5).fit(TEXTS, LABELS)
    with pytest.raises(LearnerError, match="dev_texts and dev_labels must be given together"):
        TransformerClassifier(dev_texts=TEXTS).fit(TEXTS, LABELS)
    with pytest.raises(LearnerError, match=r"labels hold \['housing'\], which classes does not list"):
        TransformerClassifier(classes=["employment", "emergency"]).fit(TEXTS, LABELS)
    with pytest.raises(TypeError, match="texts must be a list of strings, not a single string"):
        TransformerClassifier().fit("one title", ["x"])
    for learner in (TransformerClassifier(), TfidfLogisticRegression()):
        for method in (learner.predict_proba, learner.predict):
            with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
                method(TEXTS)


def test_tfidf_logistic_regression_with_a_fixed_class_order():
    classes = ["housing", "other", "emergency", "employment"]
    model = TfidfLogisticRegression(classes=classes).fit(TEXTS, LABELS)
    probabilities = model.predict_proba(TEXTS)
    assert list(model.classes_) == classes and probabilities.shape == (12, 4)
    assert not probabilities[:, 1].any()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert (model.predict(TEXTS) == np.array(LABELS)).all()


def test_make_learner():
    assert isinstance(make_learner("tfidf-lr", C=3.0), TfidfLogisticRegression)
    learner = make_learner("minilm-l2", epochs=2)
    assert isinstance(learner, TransformerClassifier) and learner.model == "all-MiniLM-L6-v2-L2" and learner.epochs == 2
    assert learner.learning_rate == 2e-5 and learner.batch_size == 16 and learner.max_length == 50  # the paper's


def test_tfidf_logistic_regression_on_the_paper_data(paper_dataset):
    train = paper_dataset[paper_dataset["split"].isin(["bootstrap", "cluster"])]
    test = paper_dataset[paper_dataset["split"] == "test"]
    assert (len(train), len(test)) == (750, 2700)
    model = TfidfLogisticRegression().fit(train["text"], train["label"])
    score = f1_score(test["label"], model.predict(test["text"]), average="macro")
    assert score == pytest.approx(0.495, abs=0.02)  # measured 0.495 (the issue expects about 0.50)


@pytest.mark.slow
def test_smollm2_classifier_gives_probabilities():
    classifier = TransformerClassifier("smollm2", epochs=1, batch_size=4).fit(TEXTS[:2] + TEXTS[8:10],
                                                                             LABELS[:2] + LABELS[8:10])
    assert classifier.model_.config.model_type == "llama"
    assert classifier.model_.config.pad_token_id == classifier.tokenizer_.pad_token_id is not None
    probabilities = classifier.predict_proba(["my landlord kept my deposit", "call an ambulance"])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_a_step_budget_gives_every_training_set_the_same_optimizer_steps():
    small = TransformerClassifier("minilm-l2", max_steps=7, learning_rate=1e-3, batch_size=4).fit(TEXTS[:8], LABELS[:8])
    large = TransformerClassifier("minilm-l2", max_steps=7, learning_rate=1e-3, batch_size=4).fit(TEXTS, LABELS)
    assert small.n_steps_ == large.n_steps_ == 7
    # 8 titles: 2 steps a pass, so 4 passes (the last one part-way); 12 titles: 3 a pass, 3 passes
    assert [h["steps"] for h in small.history_] == [2, 4, 6, 7]
    assert [h["steps"] for h in large.history_] == [3, 6, 7]
    fixed = TransformerClassifier("minilm-l2", epochs=2, learning_rate=1e-3, batch_size=4).fit(TEXTS, LABELS)
    assert fixed.n_steps_ == 6  # the epoch recipe's steps grow with the data


def test_fine_tuning_settings_are_dropped_for_learners_that_do_not_fine_tune():
    learner = make_learner("tfidf-lr", epochs=3, max_steps=10, dev_texts=TEXTS, dev_labels=LABELS, C=5.0)
    assert isinstance(learner, TfidfLogisticRegression) and learner.C == 5.0
    with pytest.raises(LearnerError, match="max_steps must be an integer >= 1, not 0"):
        TransformerClassifier("minilm-l2", max_steps=0).fit(TEXTS, LABELS)
