"""Experiments of the paper's section 5: train every model on every setting, approach and seed, predict test once.

Every run is one (model, setting, approach, seed). Its test predictions go into one long table
(``model, setting, approach, seed, id, true, predicted, p_<class>...``) that every table and
figure is computed from, so nothing is trained twice; notebook 05 writes it to
``results/predictions.parquet`` for notebook 06 to reuse without retraining.

Settings (section 5.2):

* ``baseline`` (Table 4): the 150 bootstrap titles.
* ``without-llm`` (Table 5): bootstrap + the 100 human-labeled originals of one approach (250).
* ``with-llm`` (Table 6): bootstrap + originals + their LLM variations (750; coreset 751, see
  :mod:`alsafe.paper.data`).

The dev split is handed to the learner for model selection only; scores are on the test split.
"""

from __future__ import annotations

import gc
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from alsafe import config, names
from alsafe.learn.protocols import protocol_params
from alsafe.learn.learners import make_learner
from alsafe.paper.data import TRAINING_SPLITS, load_paper_dataset
from alsafe.metrics import classification_scores
from alsafe.progress import tracked
from alsafe.paper.reference import PAPER_MODELS, PAPER_TAXONOMY

SETTINGS = ("baseline", "without-llm", "with-llm")
SETTING_TABLES = {"baseline": "table4", "without-llm": "table5", "with-llm": "table6"}
APPROACHES = TRAINING_SPLITS  # random, topn, coreset, cluster
BASELINE_APPROACH = "baseline"
OFFLINE_MODELS = ("all-MiniLM-L6-v2", "all-mpnet-base-v2", "smollm2", "tfidf-lr")
RUN_KEYS = ["model", "setting", "approach", "seed"]

LearnerFactory = Callable[..., object]

# -- training protocols ------------------------------------------------------------------------
# The paper states learning rate, batch size and max length, not how long it trained. A protocol
# names that budget, and every score carries it: a fine-tuned model's label is "<model>~<protocol>" (alsafe.names).
SOLVER_PROTOCOL = "solver"  # learners without fine-tuning are solved to convergence
PAPER_PROTOCOL = "paper: lr 2e-5, batch 16, max length 50; epochs not stated"


def learner_labels(models: Sequence[str], protocols: Sequence[str]) -> list[str]:
    """``<model>~<protocol>`` for every fine-tuned model and protocol; other learners once, by name."""
    for protocol in protocols:
        names.parse_protocol(protocol)
    labels = [f"{m}{names.PROTOCOL_SEPARATOR}{p}" if _fine_tunes(m) else m for m in models for p in protocols]
    return list(dict.fromkeys(labels))


def parse_paper_learner(name: str) -> names.LearnerSpec:
    """A learner name as the tool's registry reads it, the paper's bare hub names (bert-base-cased, ...) accepted."""
    return names.parse_learner(name, hub_names=PAPER_MODELS)


def _fine_tunes(name: str) -> bool:
    """Whether a learner trains under a protocol; a name only a custom ``learner_factory`` knows is taken as one that does."""
    try:
        return parse_paper_learner(name).fine_tunes
    except names.UnknownName:
        return True


def split_label(label: str) -> tuple[str, str | None]:
    """(learner name, protocol) of a run label ``<learner>[~<protocol>]``; protocol None for a label without one."""
    name, separator, protocol = str(label).rpartition(names.PROTOCOL_SEPARATOR)
    return (name, names.parse_protocol(protocol)) if separator else (str(label), None)


def protocol_of(label: str) -> str:
    """The protocol a results row was trained under, in words a table can carry."""
    name, protocol = split_label(label)
    if name in PAPER_MODELS and protocol is None:
        return PAPER_PROTOCOL
    if not _fine_tunes(name):
        return SOLVER_PROTOCOL
    return protocol or "custom"


def default_learner_factory(model_name: str, seed: int, **params) -> object:
    """``alsafe.learn.learners.make_learner(model_name, random_state=seed, classes=<the paper's taxonomy>, **params)``.

    The fixed class order gives every run the same output columns even when a training set lacks a
    class (coreset has no emergencies).
    """
    params.setdefault("classes", PAPER_TAXONOMY.names)
    return make_learner(parse_paper_learner(model_name), random_state=seed, **params)


@dataclass
class Experiments:
    """What :func:`run_experiments` produced: test predictions, one row per run, and the parameters."""

    predictions: pd.DataFrame
    runs: pd.DataFrame
    params: dict = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)


# -- training data -----------------------------------------------------------------------------

def training_set(dataset: pd.DataFrame, setting: str, approach: str) -> pd.DataFrame:
    """The rows one run trains on: bootstrap, plus the approach's originals, plus their variations."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, not {setting!r}.")
    bootstrap = dataset[dataset["split"] == "bootstrap"]
    if setting == "baseline":
        if approach != BASELINE_APPROACH:
            raise ValueError(f"approach must be {BASELINE_APPROACH!r} for the baseline setting, not {approach!r}.")
        return bootstrap.reset_index(drop=True)
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {APPROACHES}, not {approach!r}.")
    acquired = dataset[dataset["split"] == approach]
    if setting == "without-llm":
        acquired = acquired[acquired["origin"] == "human"]
    return pd.concat([bootstrap, acquired], ignore_index=True)


def stratified_sample(table: pd.DataFrame, n: int | None, random_state: int) -> pd.DataFrame:
    """``n`` rows of ``table`` keeping its label proportions (all rows, in order, when ``n`` is None)."""
    if n is None or n == len(table):
        return table.reset_index(drop=True)
    if not 0 < n < len(table):
        raise ValueError(f"test_size must be between 1 and {len(table)} (the test split's size), not {n}.")
    from sklearn.model_selection import train_test_split

    sample, _ = train_test_split(table, train_size=n, stratify=table["label"], random_state=random_state)
    return sample.sort_values("id").reset_index(drop=True)


def _runs(models: Sequence[str], settings: Sequence[str], approaches: Sequence[str], seeds: Sequence[int]):
    for model in models:
        for setting in settings:
            for approach in ([BASELINE_APPROACH] if setting == "baseline" else approaches):
                for seed in seeds:
                    yield model, setting, approach, seed


def _validate(models, settings, approaches, seeds, epochs) -> None:
    if isinstance(models, str) or not models:
        raise ValueError(f"models must be a non-empty list of model names, not {models!r}.")
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown or not settings:
        raise ValueError(f"settings must be a non-empty list drawn from {SETTINGS}; unknown: {unknown}.")
    unknown = [a for a in approaches if a not in APPROACHES]
    if unknown or (not approaches and set(settings) != {"baseline"}):
        raise ValueError(f"approaches must be drawn from {APPROACHES}; unknown: {unknown}.")
    if not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, (int, np.integer)) for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, not {seeds!r}.")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, not {epochs!r}.")


# -- running -----------------------------------------------------------------------------------

def run_experiments(models: Sequence[str], settings: Sequence[str] = SETTINGS,
                    approaches: Sequence[str] = APPROACHES, seeds: Sequence[int] = (0,), epochs: int = 3,
                    protocols: Sequence[str] | None = None, dataset: pd.DataFrame | None = None, test_size: int | None = None,
                    learner_factory: LearnerFactory | None = None, learner_params: dict | None = None,
                    random_state: int = 0, progress: bool = True) -> Experiments:
    """Fit each model on each (setting, approach) once per seed and predict the test split once.

    Parameters
    ----------
    models : model names for ``learner_factory`` (e.g. :data:`PAPER_MODELS`, :data:`OFFLINE_MODELS`).
    settings : drawn from :data:`SETTINGS`; ``baseline`` has the single approach ``"baseline"``.
    approaches : drawn from :data:`APPROACHES`.
    seeds : one run per seed, passed to the factory as ``seed``.
    epochs : passed to the factory as ``epochs`` when ``protocols`` is None.
    protocols : training budgets (:func:`protocol_params`); each fine-tuned model runs under each, as
        ``<model>~<protocol>`` in the ``model`` column, and learners that do not fine-tune run once.
    dataset : the canonical table (default :func:`alsafe.paper.data.load_paper_dataset`).
    test_size : score on a stratified sample of this many test rows (default all 2,700).
    learner_factory : ``factory(model_name, seed, **params)`` returning an object with ``fit(texts,
        labels)``, ``predict_proba(texts)`` and ``classes_``; default :func:`default_learner_factory`.
        It receives ``epochs``, ``dev_texts``, ``dev_labels`` and ``learner_params``.
    learner_params : extra keyword arguments for every learner (e.g. ``learning_rate``, ``device``).
    random_state : seed of the test sample.
    progress : show a progress bar over runs.
    """
    _validate(models, settings, approaches, seeds, epochs)
    if learner_factory is None:  # the default factory builds registered learners: a misspelt name fails before any run
        for model in models:
            parse_paper_learner(model)
    started = time.time()
    dataset = load_paper_dataset() if dataset is None else dataset
    factory = learner_factory or default_learner_factory
    classes = PAPER_TAXONOMY.names
    test = stratified_sample(dataset[dataset["split"] == "test"], test_size, random_state)
    dev = dataset[dataset["split"] == "dev"]
    test_texts = test["text"].tolist()
    labels = learner_labels(models, protocols) if protocols else list(models)
    plan = list(_runs(labels, settings, approaches, seeds))
    predictions, runs = [], []
    bar = tqdm(plan, desc="Training runs", unit="run", disable=not progress)
    for model, setting, approach, seed in tracked(bar, "runs"):  # to the pipeline's terminal too
        bar.set_postfix_str(f"{model} / {setting} / {approach} / seed {seed}")
        train = training_set(dataset, setting, approach)
        tick = time.perf_counter()
        name, protocol = split_label(model)
        budget = protocol_params(protocol) if protocol else {"epochs": int(epochs)}
        learner = factory(name, int(seed), dev_texts=dev["text"].tolist(), dev_labels=dev["label"].tolist(),
                          **budget, **(learner_params or {}))
        learner.fit(train["text"].tolist(), train["label"].tolist())
        fitted = time.perf_counter()
        proba = _probabilities(learner, test_texts, classes, model)
        predictions.append(_prediction_rows(test, proba, classes, (model, setting, approach, int(seed))))
        runs.append({"model": model, "protocol": protocol_of(model), "setting": setting, "approach": approach,
                     "seed": int(seed), "n_train": len(train), "n_steps": getattr(learner, "n_steps_", None),
                     "fit_s": round(fitted - tick, 3),
                     "predict_s": round(time.perf_counter() - fitted, 3)})
        del learner  # one model in memory at a time
        gc.collect()
    params = {"models": list(models), "settings": list(settings), "approaches": list(approaches),
              "seeds": [int(s) for s in seeds], "protocols": list(protocols) if protocols else None,
              "epochs": None if protocols else int(epochs), "test_size": len(test),
              "learner_params": learner_params or {}, "random_state": random_state,
              "learner_factory": getattr(factory, "__qualname__", repr(factory))}
    frame = pd.concat(predictions, ignore_index=True)
    for column in ("model", "setting", "approach"):
        frame[column] = frame[column].astype("category")
    # One category set for both label columns, so they compare even when a model never predicts a class.
    labels = pd.CategoricalDtype(classes)
    frame["true"], frame["predicted"] = frame["true"].astype(labels), frame["predicted"].astype(labels)
    return Experiments(frame, pd.DataFrame(runs), params, started)


def _probabilities(learner, texts: list[str], classes: list[str], model: str) -> np.ndarray:
    """(n, len(classes)) probabilities in taxonomy order; a class the learner never saw gets 0."""
    learned = [str(c) for c in learner.classes_]
    unknown = sorted(set(learned) - set(classes))
    if unknown:
        raise ValueError(f"model {model!r} learned classes {unknown} that are not in the taxonomy {classes}.")
    raw = np.asarray(learner.predict_proba(texts), dtype=np.float32)
    if raw.shape != (len(texts), len(learned)):
        raise ValueError(f"model {model!r} returned probabilities of shape {raw.shape}, expected "
                         f"({len(texts)}, {len(learned)}).")
    proba = np.zeros((len(texts), len(classes)), dtype=np.float32)
    proba[:, [classes.index(c) for c in learned]] = raw
    return proba


def _prediction_rows(test: pd.DataFrame, proba: np.ndarray, classes: list[str], run: tuple) -> pd.DataFrame:
    model, setting, approach, seed = run
    rows = pd.DataFrame({"model": model, "setting": setting, "approach": approach, "seed": seed,
                         "id": test["id"].to_numpy(), "true": test["label"].to_numpy(),
                         "predicted": np.asarray(classes, dtype=object)[proba.argmax(axis=1)]})
    for index, name in enumerate(classes):
        rows[f"p_{name}"] = proba[:, index]
    return rows


# -- scores ------------------------------------------------------------------------------------

def run_scores(predictions: pd.DataFrame, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Accuracy and macro precision, recall, F1 (percent) of every run: one row per model, setting, approach, seed."""
    classes = list(classes or PAPER_TAXONOMY.names)
    rows = []
    for key, group in predictions.groupby(RUN_KEYS, observed=True, sort=False):
        rows.append(dict(zip(RUN_KEYS, key)) | classification_scores(group["true"].astype(str),
                                                                     group["predicted"].astype(str), classes))
    return pd.DataFrame(rows)


def summarize_scores(scores: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "precision", "recall", "f1")
                     ) -> pd.DataFrame:
    """Mean and sample std over seeds of each metric (``<metric>`` and ``<metric>_std``), with ``n_seeds``."""
    grouped = scores.groupby(["model", "setting", "approach"], observed=True, sort=False)
    summary = grouped.size().rename("n_seeds").to_frame()
    for metric in metrics:
        summary[metric] = grouped[metric].mean()
        summary[f"{metric}_std"] = grouped[metric].std(ddof=1)  # NaN with one seed: no spread to report
    return summary.reset_index()


def best_model(scores: pd.DataFrame, setting: str = "with-llm", metric: str = "f1") -> str:
    """The model with the highest ``metric`` averaged over approaches and seeds of ``setting``."""
    chosen = scores[scores["setting"] == setting]
    if chosen.empty:
        raise ValueError(f"setting {setting!r} was not run; choose one of {sorted(set(scores['setting']))}.")
    means = chosen.groupby("model", observed=True, sort=False)[metric].mean()
    return str(means.idxmax())


# -- files -------------------------------------------------------------------------------------

def load_predictions(folder: Path | None = None) -> pd.DataFrame:
    """The predictions table notebook 05 wrote (``results/predictions.parquet``)."""
    path = (Path(folder) if folder else config.results_dir()) / "predictions.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run notebook 05 (the transfer experiments) first: "
                                "alsafe reproduce --params params/paper.yaml --only 05.")
    return pd.read_parquet(path)


# -- leak check --------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalize_title(text: str) -> str:
    """Casefolded, typographic quotes made plain, runs of whitespace collapsed to one space, ends stripped."""
    return re.sub(r"\s+", " ", str(text).translate(_QUOTES)).strip().casefold()


def leak_check(dataset: pd.DataFrame, splits: Sequence[str] = ("bootstrap", "dev") + TRAINING_SPLITS
               ) -> pd.DataFrame:
    """Test titles that also occur (after :func:`normalize_title`) in any of ``splits``.

    Returns one row per (test row, matching row): ``test_id, test_text, test_label, split, id,
    origin, text, label, test_reddit_id, reddit_id, same_post``; empty when nothing leaks. Empty
    titles are ignored. ``same_post`` compares Reddit ids, which identify posts everywhere except
    in ``coreset`` (its released ids cycle through 20 values, see :mod:`alsafe.paper.data`).
    """
    columns = ["test_id", "test_text", "test_label", "split", "id", "origin", "text", "label", "test_reddit_id",
               "reddit_id", "same_post"]
    test = dataset[dataset["split"] == "test"].assign(key=lambda t: t["text"].map(normalize_title))
    others = dataset[dataset["split"].isin(splits)].assign(key=lambda t: t["text"].map(normalize_title))
    test, others = test[test["key"] != ""], others[others["key"] != ""]
    matches = test.merge(others, on="key", suffixes=("_test", ""))
    if matches.empty:
        return pd.DataFrame(columns=columns)
    matches = matches.rename(columns={"id_test": "test_id", "text_test": "test_text", "label_test": "test_label",
                                      "reddit_id_test": "test_reddit_id"})
    matches["same_post"] = matches["test_reddit_id"] == matches["reddit_id"]
    order = {split: i for i, split in enumerate(splits)}
    return (matches.assign(order=matches["split"].map(order)).sort_values(["order", "id", "test_id"])[columns]
            .reset_index(drop=True))
