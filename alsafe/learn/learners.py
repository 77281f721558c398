"""The learner factory: a learner from its name, as :mod:`alsafe.names` parses it.

Every learner follows scikit-learn: ``fit(texts, labels)``, ``predict_proba(texts)`` (columns in
``classes_`` order), ``predict(texts)``. The learners themselves live in :mod:`alsafe.learn.tfidf`,
:mod:`alsafe.learn.few_label` and :mod:`alsafe.learn.transformer`.
"""

from __future__ import annotations

from alsafe.learn.few_label import EmbeddingLogisticRegression, SetFitClassifier
from alsafe.learn.tfidf import TfidfLogisticRegression
from alsafe.names import LearnerSpec, parse_learner

# Settings of fine-tuning; a learner that does not fine-tune ignores them, so one model list can mix both kinds.
FINE_TUNING_PARAMS = ("epochs", "max_steps", "dev_texts", "dev_labels", "learning_rate", "batch_size", "max_length",
                      "weight_decay", "warmup_ratio", "device")


def make_learner(name: str | LearnerSpec, **params):
    """A learner by name (the grammar of :mod:`alsafe.names`): ``"tfidf-lr"``, ``"embedding-lr"``
    (``"embedding-lr:mpnet"``, ``"embedding-lr:<model>@<base_url>"``), ``"setfit"`` (``"setfit:mpnet"``), or a
    model to fine-tune with :class:`~alsafe.learn.transformer.TransformerClassifier`; or a parsed :class:`LearnerSpec`.

    ``params`` go to the learner's constructor; :data:`FINE_TUNING_PARAMS` are dropped for the
    learners that do not fine-tune a classification head (no epochs, steps or dev split: the
    regressions are solved to convergence, SetFit follows its own recipe of pairs per text).
    """
    spec = name if isinstance(name, LearnerSpec) else parse_learner(name)
    if not spec.fine_tunes:
        params = {k: v for k, v in params.items() if k not in FINE_TUNING_PARAMS}
    if spec.kind == "tfidf-lr":
        return TfidfLogisticRegression(**params)
    if spec.kind == "embedding-lr":
        return EmbeddingLogisticRegression(model=spec.model.written, **params)
    if spec.kind == "setfit":
        return SetFitClassifier(model=spec.model.name, **params)
    from alsafe.learn.transformer import TransformerClassifier  # here: torch loads only when a transformer is built

    return TransformerClassifier(model=spec.model.name, **params)
