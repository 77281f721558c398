"""A pretrained transformer fine-tuned with a new classification head: the module that loads torch.

It follows scikit-learn: ``fit(texts, labels)``, ``predict_proba(texts)`` (columns in ``classes_``
order), ``predict(texts)``. The paper fine-tunes with learning rate 2e-5, batch size 16 and max
length 50 (Section 5.1); those are :class:`TransformerClassifier`'s defaults.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from tqdm.auto import tqdm

from alsafe import models
from alsafe.exceptions import LearnerError
from alsafe.learn import finetune
from alsafe.learn.checks import check_number, check_texts, check_training_data
from alsafe.metrics import classification_scores


def _encode(labels: Sequence, classes: np.ndarray) -> torch.Tensor:
    index = {label: position for position, label in enumerate(classes)}
    return torch.tensor([index[label] for label in labels], dtype=torch.long)


class TransformerClassifier:
    """A pretrained transformer fine-tuned with a new classification head, in a plain seeded PyTorch loop.

    Parameters
    ----------
    model : str or Path
        Offline model name or alias (``minilm``, ``minilm-l2``, ``mpnet``, ``smollm2``), local folder,
        ``.gguf`` file or hub name.
    learning_rate, batch_size, max_length : float, int, int
        The paper's 2e-5, 16 and 50 by default.
    epochs : int
        Passes over the training data (ignored when ``max_steps`` is set).
    max_steps : int or None
        Train for exactly this many optimizer steps, however many texts there are (the last pass may
        stop part-way). A budget that does not grow with the data: 150 titles and 750 titles get the
        same compute, so a comparison between them is not a comparison of training lengths.
    weight_decay : float
        AdamW weight decay (not applied to biases and norms).
    warmup_ratio : float
        Share of the steps spent warming up; the learning rate then decays linearly to zero.
    max_grad_norm : float or None
        Gradient clipping norm.
    classes : sequence or None
        Fixed class order of the head (may hold classes absent from a training set); None sorts the labels seen.
    dev_texts, dev_labels : sequence or None
        A dev set: after each epoch its macro-F1 is measured and the best epoch's weights are kept.
    eval_batch_size : int
        Texts per forward pass when predicting.
    random_state : int
        Seeds the head's initialisation, dropout and the shuffling (global torch RNG state is left untouched).
    device : str or None
        Torch device; None picks CUDA when available, else CPU.
    verbose : bool
        Show a progress bar while training.

    Attributes
    ----------
    classes_ : numpy.ndarray
        Class labels, in the order of ``predict_proba``'s columns.
    model_, tokenizer_ : transformers objects
        The fine-tuned model and its tokenizer.
    device_ : torch.device
    history_ : list of dict
        Per epoch: ``epoch``, ``steps`` (optimizer steps so far), ``train_loss``, ``seconds`` (training only)
        and, with a dev set, ``dev_macro_f1`` (percent).
    n_steps_ : int
        Optimizer steps taken.
    best_epoch_ : int
        The epoch whose weights were kept (the last one without a dev set).
    """

    def __init__(self, model: str | Path = models.MINILM, learning_rate: float = 2e-5, batch_size: int = 16,
                 max_length: int = 50, epochs: int = 3, max_steps: int | None = None, weight_decay: float = 0.0,
                 warmup_ratio: float = 0.0,
                 max_grad_norm: float | None = 1.0, classes: Sequence | None = None, dev_texts: Sequence[str] | None = None,
                 dev_labels: Sequence | None = None, eval_batch_size: int = 64, random_state: int = 0,
                 device: str | None = None, verbose: bool = False):
        self.model = model
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_length = max_length
        self.epochs = epochs
        self.max_steps = max_steps
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.classes = classes
        self.dev_texts = dev_texts
        self.dev_labels = dev_labels
        self.eval_batch_size = eval_batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self) -> None:
        check_number(self.learning_rate, "learning_rate")
        for name in ("batch_size", "max_length", "epochs", "eval_batch_size"):
            check_number(getattr(self, name), name, low=1, integer=True, allow_low=True)
        if self.max_steps is not None:
            check_number(self.max_steps, "max_steps", low=1, integer=True, allow_low=True)
        check_number(self.weight_decay, "weight_decay", allow_low=True)
        check_number(self.random_state, "random_state", integer=True, allow_low=True)
        if not isinstance(self.warmup_ratio, (int, float)) or not 0 <= self.warmup_ratio < 1:
            raise LearnerError(f"warmup_ratio must be in [0, 1), not {self.warmup_ratio!r}.")
        if (self.dev_texts is None) != (self.dev_labels is None):
            raise LearnerError("dev_texts and dev_labels must be given together.")

    def fit(self, texts: Sequence[str], labels: Sequence) -> "TransformerClassifier":
        """Load the pretrained model with a new head for the classes and fine-tune it on ``texts``."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer  # slow to import: only when loading

        self._check_params()
        texts, labels, classes = check_training_data(texts, labels, self.classes)
        dev = None
        if self.dev_texts is not None:
            dev_texts, dev_labels, _ = check_training_data(self.dev_texts, self.dev_labels, classes, prefix="dev_")
            dev = (dev_texts, _encode(dev_labels, classes).numpy())
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        tokenizer = models.load_pretrained(AutoTokenizer, self.model)
        if tokenizer.pad_token is None:  # decoder-only models ship without one
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        labels_by_id = {position: str(label) for position, label in enumerate(classes)}
        fork_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else []
        # fork_rng: the seed governs the head's init and dropout without changing the caller's torch RNG state
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(self.random_state)
            model = models.load_pretrained(
                AutoModelForSequenceClassification, self.model, new_head=True, num_labels=len(classes),
                id2label=labels_by_id, label2id={name: position for position, name in labels_by_id.items()},
                pad_token_id=tokenizer.pad_token_id)
            model.config.pad_token_id = tokenizer.pad_token_id
            model.to(device)
            tokens = finetune.pretokenize(tokenizer, texts, self.max_length)
            dev_tokens = (finetune.pretokenize(tokenizer, dev[0], self.max_length), dev[1]) if dev else None
            history, best_epoch = self._train(model, device, tokens, _encode(labels, classes), dev_tokens)
        # fitted attributes only once training is done: an interrupted fit leaves no half-fitted learner
        self.model_, self.tokenizer_, self.device_, self.classes_ = model, tokenizer, device, classes
        self.history_, self.best_epoch_ = history, best_epoch
        return self

    def _train(self, model, device: torch.device, tokens: finetune.TokenizedTexts, targets: torch.Tensor,
               dev) -> tuple[list[dict], int]:
        """Fine-tune ``model`` in place; with a dev set, end on the best epoch's weights. Returns history, best epoch."""
        generator = torch.Generator().manual_seed(self.random_state)
        optimizer = finetune.make_optimizer(model, self.learning_rate, self.weight_decay)
        per_epoch = -(-len(tokens) // self.batch_size)
        steps = self.max_steps if self.max_steps is not None else self.epochs * per_epoch
        epochs = -(-steps // per_epoch)
        scheduler = finetune.linear_schedule(optimizer, steps, int(self.warmup_ratio * steps))
        history, best_score, best_epoch, best_state = [], -1.0, epochs, None
        with tqdm(total=steps, desc="fine-tuning", unit="step", disable=not self.verbose) as bar:
            for epoch in range(1, epochs + 1):
                started = time.perf_counter()
                batches = min(per_epoch, steps - (epoch - 1) * per_epoch)
                loss = finetune.train_epoch(model, tokens, targets, optimizer, scheduler, self.batch_size,
                                            generator, device, self.max_grad_norm, bar, max_batches=batches)
                record = {"epoch": epoch, "steps": (epoch - 1) * per_epoch + batches, "train_loss": loss,
                          "seconds": time.perf_counter() - started}
                if dev is not None:
                    predicted = finetune.predict_logits(model, dev[0], self.eval_batch_size, device).argmax(1).numpy()
                    record["dev_macro_f1"] = classification_scores(
                        dev[1].tolist(), predicted.tolist(), range(model.config.num_labels))["f1"]
                    if record["dev_macro_f1"] > best_score:
                        best_score, best_epoch = record["dev_macro_f1"], epoch
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                history.append(record)
        self.n_steps_ = steps
        if best_state is not None and best_epoch != epochs:
            model.load_state_dict(best_state)
        model.eval()
        return history, best_epoch

    def _check_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(texts, labels) first.")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        tokens = finetune.pretokenize(self.tokenizer_, check_texts(texts), self.max_length)
        logits = finetune.predict_logits(self.model_, tokens, self.eval_batch_size, self.device_)
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text."""
        probabilities = self.predict_proba(texts)  # first: an unfitted learner says so (NotFittedError)
        return self.classes_[probabilities.argmax(axis=1)]

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write model and tokenizer to ``folder`` (replaced whole), loadable by ``transformers.pipeline``."""
        self._check_fitted()
        folder = Path(folder)
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        self.model_.save_pretrained(staging)
        self.tokenizer_.save_pretrained(staging)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, **params) -> "TransformerClassifier":
        """A fitted classifier from a folder written by :meth:`save_pretrained` (``params`` as for the constructor)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        classifier = cls(model=str(folder), **params)
        classifier._check_params()
        classifier.device_ = torch.device(classifier.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        classifier.tokenizer_ = models.load_pretrained(AutoTokenizer, folder)
        classifier.model_ = models.load_pretrained(AutoModelForSequenceClassification, folder).to(classifier.device_).eval()
        id2label = classifier.model_.config.id2label
        classifier.classes_ = np.array([id2label[i] for i in range(len(id2label))], dtype=object)
        classifier.history_, classifier.best_epoch_ = [], None
        return classifier
