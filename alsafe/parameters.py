"""Notebook parameters checked before anything runs: one declared schema per notebook, every problem at once.

A schema maps each parameter of a notebook's ``parameters`` cell to a :class:`Param` (type, range,
allowed values, list items) and adds cross-constraints between parameters. :func:`check` takes the
notebook's defaults overlaid with a params file's values and returns every problem as one sentence
naming the parameter; :func:`alsafe.reproduce.load_plan` refuses a plan with any, before a notebook
starts or a file is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

STRATIFIED_POOL = 1350  # the pool half of the paper's 2,700 test titles (alsafe.paper.simulate)
SKEWED_POOL = 791  # that half subsampled to U's estimated mix (alsafe.paper.simulate.skewed_counts)
PAPER_TEST_TITLES = 2700


@dataclass(frozen=True)
class Param:
    """What one parameter may hold.

    ``kind``: ``int``, ``float``, ``str``, ``bool`` or ``list``; ``items``: the element kind of a list;
    ``low``/``high``: inclusive bounds of a number (of each item of a list of numbers); ``choices``:
    allowed values (of each item of a list); ``nonempty``: a string or list that may not be empty;
    ``pattern``: a regular expression each string (or list item) must match in full.
    """

    kind: type
    items: type | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    nonempty: bool = False
    pattern: str | None = None
    distinct: bool = False


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
STRATEGY_NAMES = ("random", "topn", "coreset", "cluster")
PROTOCOL = r"(steps|epochs)-[1-9][0-9]*"

SCHEMAS: dict[str, dict[str, Param]] = {
    "01_data_collection": {
        "SEED": SEED, "SOURCE": Param(str, choices=("paper", "dump", "praw")), "DUMP_FILES": Param(list, items=str),
        "SUBREDDITS": Param(list, items=str), "MAX_PER_SUBREDDIT": COUNT, "POOL_FILE": NAME,
    },
    "02_bootstrap": {
        "SEED": SEED, "N_CLUSTERS": COUNT, "VECTORIZER": NAME, "LEARNER": NAME, "EPOCHS": COUNT,
        "POOL_SIZE": Param(int, low=0),
    },
    "03_active_learning_loop": {
        "SEED": SEED, "ORACLE": Param(str, choices=("simulated", "widget")),
        "STRATEGIES": Param(list, items=str, choices=STRATEGY_NAMES, nonempty=True, distinct=True),
        "SEEDS": Param(list, items=int, low=0, nonempty=True, distinct=True),
        "GENERATION": Param(list, items=bool, nonempty=True, distinct=True),
        "GENERATION_BACKEND": Param(str, choices=("local", "openai")), "GENERATION_MODEL": TEXT,
        "BUDGET": COUNT, "BATCH_SIZE": COUNT, "N_CLUSTERS": COUNT, "N_VARIATIONS": Param(int, low=0),
        "LEARNER": NAME, "VECTORIZER": NAME, "POOL_SIZE": Param(int, low=0),
        "POOL_MIXES": Param(list, items=str, choices=("stratified", "skewed"), nonempty=True, distinct=True),
        "RUNS_DIR": NAME, "WIDGET_RUN": NAME, "ANNOTATOR": NAME,
    },
    "04_generation": {
        "SEED": SEED, "BACKENDS": Param(list, items=str, choices=("replay", "local", "openai"), nonempty=True,
                                        distinct=True),
        "SPLIT": Param(str, choices=STRATEGY_NAMES), "N_SEEDS": Param(int, low=1, high=6), "N_VARIATIONS": COUNT,
        "MODEL": TEXT, "BASE_URL": TEXT, "RELATION": Param(str, choices=("same_label", "contrast")),
        "CONTRAST_LABEL": TEXT, "GATE_LEARNER": TEXT, "RUN": NAME,
    },
    "05_transfer_experiments": {
        "SEED": SEED, "MODELS": Param(list, items=str, nonempty=True, distinct=True),
        "SETTINGS": Param(list, items=str, choices=("baseline", "without-llm", "with-llm"), nonempty=True,
                          distinct=True),
        "APPROACHES": Param(list, items=str, choices=STRATEGY_NAMES, distinct=True),
        "SEEDS": Param(list, items=int, low=0, nonempty=True, distinct=True),
        "PROTOCOLS": Param(list, items=str, pattern=PROTOCOL, nonempty=True, distinct=True),
        "LEARNING_RATE": Param(float, low=1e-7, high=1.0), "BATCH_SIZE": COUNT, "MAX_LENGTH": COUNT,
        "TEST_SIZE": Param(int, low=0, high=PAPER_TEST_TITLES - 1), "N_RESAMPLES": COUNT,
    },
    "06_error_analysis": {"SEED": SEED, "N_ERRORS": COUNT, "N_EXAMPLES": COUNT},
    "07_your_own_data": {
        "SEED": SEED, "POOL_FILE": NAME, "TAXONOMY_FILE": TEXT, "BOOTSTRAP_FILE": TEXT, "TEXT_COLUMN": NAME,
        "ID_COLUMN": TEXT, "LABEL_COLUMN": NAME, "RUN": NAME, "ORACLE": Param(str, choices=("simulated", "widget")),
        "ANNOTATOR": NAME, "STRATEGY": Param(str, choices=STRATEGY_NAMES), "BUDGET": COUNT, "BATCH_SIZE": COUNT,
        "N_CLUSTERS": COUNT, "N_VARIATIONS": Param(int, low=0), "BACKEND": Param(str, choices=("local", "openai")),
        "MODEL": TEXT, "BASE_URL": TEXT, "LEARNER": NAME, "VECTORIZER": NAME, "EXPORT_DIR": NAME, "CLASSIFIER": NAME,
        "CLASSIFIER_EPOCHS": COUNT, "CLASSIFIER_LEARNING_RATE": Param(float, low=1e-7, high=1.0),
        "TEST_FRACTION": FRACTION,
    },
}


def _simulated_pool(values: dict) -> int:
    smallest = min(SKEWED_POOL if mix == "skewed" else STRATIFIED_POOL for mix in values["POOL_MIXES"])
    return min(values["POOL_SIZE"], smallest) if values["POOL_SIZE"] else smallest


def _loop_rules(values: dict, pool: int | None) -> list[str]:
    problems = []
    if values["BUDGET"] % values["BATCH_SIZE"]:
        problems.append(f"BUDGET ({values['BUDGET']}) must be a multiple of BATCH_SIZE ({values['BATCH_SIZE']}) so "
                        "every round buys the same number of labels.")
    if values["N_CLUSTERS"] > values["BATCH_SIZE"]:
        problems.append(f"N_CLUSTERS ({values['N_CLUSTERS']}) must be at most BATCH_SIZE ({values['BATCH_SIZE']}): "
                        "each round takes at least one item per cluster.")
    if pool is not None:
        for name in ("BUDGET", "N_CLUSTERS"):
            if values[name] > pool:
                problems.append(f"{name} ({values[name]}) exceeds the {pool} titles of the simulated pool.")
    return problems


def _rules_03(values: dict) -> list[str]:
    return _loop_rules(values, _simulated_pool(values))


def _rules_02(values: dict) -> list[str]:
    pool = values["POOL_SIZE"] or STRATIFIED_POOL
    return [f"N_CLUSTERS ({values['N_CLUSTERS']}) exceeds the {pool} titles of the pool."] if values["N_CLUSTERS"] > pool else []


def _rules_04(values: dict) -> list[str]:
    problems = []
    if values["RELATION"] == "contrast" and not values["CONTRAST_LABEL"]:
        problems.append("RELATION 'contrast' needs CONTRAST_LABEL, the label the variations should flip to.")
    if "openai" in values["BACKENDS"] and not values["MODEL"]:
        problems.append("BACKENDS includes 'openai', which needs MODEL (the model the endpoint serves).")
    return problems


def _rules_05(values: dict) -> list[str]:
    if "baseline" not in values["SETTINGS"] and not values["APPROACHES"]:
        return ["APPROACHES must not be empty when SETTINGS holds without-llm or with-llm."]
    return []


def _rules_07(values: dict) -> list[str]:
    problems = _loop_rules(values, None)
    if values["BACKEND"] == "openai" and values["N_VARIATIONS"] and not values["MODEL"]:
        problems.append("BACKEND 'openai' needs MODEL (the model the endpoint serves).")
    return problems


RULES: dict[str, Callable[[dict], list[str]]] = {
    "02_bootstrap": _rules_02, "03_active_learning_loop": _rules_03, "04_generation": _rules_04,
    "05_transfer_experiments": _rules_05, "07_your_own_data": _rules_07,
}


def check(notebook: str, values: dict) -> list[str]:
    """Every problem of ``values`` (a notebook's full parameter set) against its schema, each one sentence."""
    schema = SCHEMAS.get(notebook)
    if schema is None:
        return []
    problems = []
    for name, spec in schema.items():
        if name in values:
            problems += check_value(name, values[name], spec)
    if not problems and notebook in RULES:
        problems += RULES[notebook](values)
    return problems
