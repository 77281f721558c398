"""embedding-lr: frozen sentence embeddings + logistic regression, by name wherever a learner name is taken."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from alsafe.learn.few_label import EmbeddingLogisticRegression
from alsafe.learn.learners import make_learner
from alsafe.names import parse_learner
from alsafe.metrics import classification_scores
from alsafe.paper.reference import PAPER_TAXONOMY

TEXTS = ["my landlord kept my deposit", "landlord refuses to return security deposit",
         "tenant evicted without notice", "rent increase in the middle of my lease",
         "my boss did not pay overtime", "employer withholding my final paycheck",
         "fired for asking about wages", "manager makes me work off the clock"]
LABELS = ["housing"] * 4 + ["employment"] * 4


def test_fits_predicts_and_keeps_a_fixed_class_order(tmp_path):
    learner = EmbeddingLogisticRegression(classes=["employment", "emergency", "housing"], cache=tmp_path)
    learner.fit(TEXTS, LABELS)
    proba = learner.predict_proba(["the landlord will not fix the heating", "unpaid wages from my employer"])
    assert proba.shape == (2, 3) and np.allclose(proba.sum(axis=1), 1)
    assert (proba[:, 1] == 0).all()  # a class without training texts gets probability 0
    assert learner.predict(["the landlord will not fix the heating", "unpaid wages from my employer"]).tolist() == [
        "housing", "employment"]
    assert learner.embedder_.n_embedded_ == len(TEXTS) + 2  # every text embedded once ...
    again = EmbeddingLogisticRegression(cache=tmp_path).fit(TEXTS, LABELS)
    assert again.embedder_.n_from_cache_ == len(TEXTS) and again.embedder_.n_embedded_ == 0  # ... then cached


def test_is_a_learner_name_and_takes_no_fine_tuning_settings():
    learner = make_learner("embedding-lr", random_state=3, epochs=5, max_steps=40, dev_texts=TEXTS,
                           dev_labels=LABELS, C=2.0)
    assert isinstance(learner, EmbeddingLogisticRegression) and learner.C == 2.0 and learner.random_state == 3
    assert make_learner("embedding-lr:mpnet").model == "all-mpnet-base-v2"
    assert not parse_learner("embedding-lr").fine_tunes and not parse_learner("tfidf-lr").fine_tunes
    assert parse_learner("all-MiniLM-L6-v2").fine_tunes


def test_unfitted_and_bad_parameters_are_named():
    with pytest.raises(NotFittedError, match="EmbeddingLogisticRegression is not fitted yet"):
        EmbeddingLogisticRegression().predict(["x"])
    with pytest.raises(ValueError, match="C must be a number > 0.0, not -1"):
        EmbeddingLogisticRegression(C=-1).fit(TEXTS, LABELS)


@pytest.mark.slow
def test_the_strong_cheap_baseline_on_the_papers_bootstrap(paper_dataset):
    """150 bootstrap titles -> macro-F1 on the 2,700 test titles: the frozen encoder scores in the high 60s."""
    train = paper_dataset[paper_dataset["split"] == "bootstrap"]
    test = paper_dataset[paper_dataset["split"] == "test"]
    learner = make_learner("embedding-lr", classes=PAPER_TAXONOMY.names).fit(train["text"].tolist(),
                                                                             train["label"].tolist())
    f1 = classification_scores(test["label"], learner.predict(test["text"].tolist()), PAPER_TAXONOMY.names)["f1"]
    assert f1 == pytest.approx(68.1, abs=0.5)


# -- setfit ------------------------------------------------------------------------------------

def test_setfit_learns_the_classes_from_pairs_and_keeps_a_fixed_class_order():
    from alsafe.learn.few_label import SetFitClassifier

    learner = SetFitClassifier(model="minilm-l2", num_iterations=4, classes=["employment", "emergency", "housing"])
    learner.fit(TEXTS, LABELS)
    probe = ["the landlord will not fix the heating", "unpaid wages from my employer"]
    proba = learner.predict_proba(probe)
    assert proba.shape == (2, 3) and np.allclose(proba.sum(axis=1), 1)
    assert (proba[:, 1] == 0).all()  # a class without training texts gets probability 0
    assert learner.predict(probe).tolist() == ["housing", "employment"]
    assert learner.n_pairs_ == 2 * 4 * len(TEXTS)
    same = SetFitClassifier(model="minilm-l2", num_iterations=4, classes=["employment", "emergency", "housing"])
    assert np.allclose(same.fit(TEXTS, LABELS).predict_proba(probe), proba, atol=1e-6)  # seeded


def test_setfit_is_a_learner_name_with_its_own_recipe():
    from alsafe.learn.few_label import SetFitClassifier

    learner = make_learner("setfit", random_state=2, epochs=5, dev_texts=TEXTS, dev_labels=LABELS, num_iterations=3)
    assert isinstance(learner, SetFitClassifier) and learner.num_iterations == 3 and learner.random_state == 2
    assert learner.max_steps is None  # a protocol's steps are for fine-tuned heads, not for SetFit's pairs
    assert make_learner("setfit:mpnet").model == "all-mpnet-base-v2"
    assert not parse_learner("setfit").fine_tunes and parse_learner("owner/setfit-like-hub-model").fine_tunes


def test_setfit_unfitted_and_bad_parameters_are_named():
    from alsafe.learn.few_label import SetFitClassifier

    with pytest.raises(NotFittedError, match="SetFitClassifier is not fitted yet"):
        SetFitClassifier().predict(["x"])
    with pytest.raises(ValueError, match="num_iterations must be an integer >= 1, not 0"):
        SetFitClassifier(num_iterations=0).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="setfit could not load '/nonexistent/model'"):
        SetFitClassifier(model="/nonexistent/model").fit(TEXTS, LABELS)
