"""Notebook parameters checked before anything runs: one declared schema per notebook, every problem at once.

A schema maps each parameter of a notebook's ``parameters`` cell to a :class:`Param` (type, range,
allowed values, list items, and the name registry of :mod:`alsafe.names` that parses it) and adds
cross-constraints between parameters. :func:`check` takes the notebook's defaults overlaid with a
params file's values and returns every problem as one sentence naming the parameter;
:func:`alsafe.reproduce.load_plan` refuses a plan with any, before a notebook starts or a file is
written. This module holds the tool's own notebook (07); the paper's notebooks' schemas are
:mod:`alsafe.paper.schemas`. A renamed parameter (:data:`RENAMED`) is refused with its new name.

One name per concept across notebooks: ``BACKEND``/``BACKENDS``, ``MODEL`` and ``BASE_URL`` choose the
generator; ``LEARNER``/``LEARNERS`` the learner; ``ROUND_SIZE`` is the labels bought per round and
``TRAIN_BATCH_SIZE`` the fine-tuning minibatch; ``PROTOCOL``/``PROTOCOLS`` a transformer's training budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from alsafe import names
from alsafe.oracles import ORACLES


@dataclass(frozen=True)
class Param:
    """What one parameter may hold.

    ``kind``: ``int``, ``float``, ``str``, ``bool`` or ``list``; ``items``: the element kind of a list;
    ``low``/``high``: inclusive bounds of a number (of each item of a list of numbers); ``choices``:
    allowed values (of each item of a list); ``nonempty``: a string or list that may not be empty;
    ``pattern``: a regular expression each string (or list item) must match in full; ``parse``: a parser
    of :mod:`alsafe.names` whose ``ValueError`` is the problem of a string (or list item); ``optional``: the
    empty string is allowed (meaning none) where ``parse`` would refuse it.
    """

    kind: type
    items: type | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    nonempty: bool = False
    pattern: str | None = None
    distinct: bool = False
    parse: Callable[[str], object] | None = None
    optional: bool = False


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list"}[kind]


def _is(value, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_scalar(name: str, value, kind: type, spec: Param) -> list[str]:
    if not _is(value, kind):
        return [f"{name} must be {_kind_name(kind)}, not {value!r}."]
    problems = []
    if kind in (int, float):
        if spec.low is not None and value < spec.low:
            problems.append(f"{name} must be at least {spec.low:g}, not {value!r}.")
        if spec.high is not None and value > spec.high:
            problems.append(f"{name} must be at most {spec.high:g}, not {value!r}.")
    if spec.choices is not None and value not in spec.choices:
        problems.append(f"{name} must be one of {', '.join(map(str, spec.choices))}, not {value!r}.")
    if kind is str and spec.pattern and not re.fullmatch(spec.pattern, value):
        problems.append(f"{name} {value!r} does not have the form {spec.pattern}.")
    if kind is str and spec.nonempty and not value.strip():
        problems.append(f"{name} must not be empty.")
    if kind is str and spec.parse is not None and not problems and not (spec.optional and value == ""):
        try:
            spec.parse(value)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    return problems


def check_value(name: str, value, spec: Param) -> list[str]:
    """The problems of one value against its :class:`Param` (empty when it is fine)."""
    if spec.kind is not list:
        return _check_scalar(name, value, spec.kind, spec)
    if not isinstance(value, list):
        hint = f" (write [{value!r}] for one)" if _is(value, spec.items or str) else ""
        return [f"{name} must be a list, not {value!r}{hint}."]
    if spec.nonempty and not value:
        return [f"{name} must not be an empty list."]
    problems = []
    for position, item in enumerate(value):
        problems += _check_scalar(f"{name}[{position}]", item, spec.items or str, spec)
    if spec.distinct and len(set(map(repr, value))) != len(value):
        problems.append(f"{name} repeats a value ({value!r}); list each once.")
    return problems


SEED = Param(int, low=0)
COUNT = Param(int, low=1)
TEXT = Param(str)
NAME = Param(str, nonempty=True)
FRACTION = Param(float, low=0.01, high=0.99)
LEARNER = Param(str, parse=names.parse_learner)
VECTORIZER = Param(str, parse=names.parse_vectorizer)
STRATEGY = Param(str, parse=names.parse_strategy)
STRATEGIES = Param(list, items=str, parse=names.parse_strategy, nonempty=True, distinct=True)
BACKEND = Param(str, parse=names.parse_backend)
PROTOCOL = Param(str, parse=names.parse_protocol)
PROTOCOLS = Param(list, items=str, parse=names.parse_protocol, nonempty=True, distinct=True)
ORACLE = Param(str, choices=ORACLES)

SCHEMAS: dict[str, dict[str, Param]] = {
    "07_your_own_data": {
        "SEED": SEED, "POOL_FILE": NAME, "TAXONOMY_FILE": TEXT, "BOOTSTRAP_FILE": TEXT, "TEXT_COLUMN": NAME,
        "ID_COLUMN": TEXT, "LABEL_COLUMN": NAME, "RUN": NAME, "ORACLE": ORACLE,
        "ANNOTATOR": NAME, "STRATEGY": STRATEGY, "BUDGET": COUNT, "ROUND_SIZE": COUNT,
        "N_CLUSTERS": COUNT, "N_VARIATIONS": Param(int, low=0), "BACKEND": BACKEND,
        "MODEL": TEXT, "BASE_URL": TEXT, "LEARNER": LEARNER, "VECTORIZER": VECTORIZER, "EXPORT_DIR": NAME,
        "CLASSIFIER": LEARNER, "CLASSIFIER_PROTOCOL": PROTOCOL,
        "CLASSIFIER_LEARNING_RATE": Param(float, low=1e-7, high=1.0), "TEST_FRACTION": FRACTION,
    },
}

# Old parameter names, refused with the new one: notebook -> {old: (new, example)}.
RENAMED: dict[str, dict[str, tuple[str, str]]] = {
    "07_your_own_data": {"BATCH_SIZE": ("ROUND_SIZE", "ROUND_SIZE: 8"),
                         "CLASSIFIER_EPOCHS": ("CLASSIFIER_PROTOCOL", "CLASSIFIER_PROTOCOL: epochs-5")},
}


def loop_rules(values: dict, pool: int | None) -> list[str]:
    """The loop's cross-constraints (budget, round size, clusters), with the pool size when it is known."""
    problems = []
    if values["BUDGET"] % values["ROUND_SIZE"]:
        problems.append(f"BUDGET ({values['BUDGET']}) must be a multiple of ROUND_SIZE ({values['ROUND_SIZE']}) so "
                        "every round buys the same number of labels.")
    if values["N_CLUSTERS"] > values["ROUND_SIZE"]:
        problems.append(f"N_CLUSTERS ({values['N_CLUSTERS']}) must be at most ROUND_SIZE ({values['ROUND_SIZE']}): "
                        "each round takes at least one item per cluster.")
    if pool is not None:
        for name in ("BUDGET", "N_CLUSTERS"):
            if values[name] > pool:
                problems.append(f"{name} ({values[name]}) exceeds the {pool} titles of the simulated pool.")
    return problems


def _rules_07(values: dict) -> list[str]:
    problems = loop_rules(values, None)
    if values["BACKEND"] == "openai" and values["N_VARIATIONS"] and not values["MODEL"]:
        problems.append("BACKEND 'openai' needs MODEL (the model the endpoint serves).")
    return problems


RULES: dict[str, Callable[[dict], list[str]]] = {"07_your_own_data": _rules_07}


def renamed(notebook: str, given, renames: dict[str, dict[str, tuple[str, str]]] = RENAMED) -> list[str]:
    """One sentence per old parameter name in ``given``, naming the new one."""
    return [f"{old} was renamed {new} (e.g. {example})" for old, (new, example) in renames.get(notebook, {}).items()
            if old in given]


def check_schema(schema: dict[str, Param], rules: Callable[[dict], list[str]] | None, values: dict) -> list[str]:
    """Every problem of ``values`` against ``schema``, then (when those are fine) its cross-constraints."""
    problems = []
    for name, spec in schema.items():
        if name in values:
            problems += check_value(name, values[name], spec)
    if not problems and rules is not None:
        problems += rules(values)
    return problems


def check(notebook: str, values: dict) -> list[str]:
    """Every problem of ``values`` (a notebook's full parameter set) against the tool's schema, each one sentence."""
    if notebook not in SCHEMAS:
        return []
    return check_schema(SCHEMAS[notebook], RULES.get(notebook), values)
