"""The parameter schemas of the paper's notebooks (01-06), built from the tool's :class:`~alsafe.parameters.Param`
and name registries, with the paper's own facts (its models, its pool sizes, its settings) imported from
where the paper wing defines them. :func:`check` is what :func:`alsafe.reproduce.load_plan` asks."""

from __future__ import annotations

from functools import partial
from typing import Callable

from alsafe import names
from alsafe.parameters import (BACKEND, COUNT, NAME, ORACLE, PROTOCOL, PROTOCOLS, SEED, STRATEGIES, TEXT, VECTORIZER,
                               Param, check_schema, loop_rules)
from alsafe.paper.data import TRAINING_SPLITS
from alsafe.paper.experiments import SETTINGS
from alsafe.paper.reference import PAPER_MODELS, PAPER_TAXONOMY
from alsafe.paper.replay import PAPER_BACKENDS
from alsafe.paper.simulate import PAPER_TEST_TITLES, POOL_MIXES, SKEWED_POOL, STRATIFIED_POOL

PAPER_LEARNER = Param(str, parse=partial(names.parse_learner, hub_names=PAPER_MODELS))
PAPER_LEARNERS = Param(list, items=str, parse=partial(names.parse_learner, hub_names=PAPER_MODELS), nonempty=True,
                       distinct=True)
PAPER_BACKEND_NAMES = Param(list, items=str, parse=partial(names.parse_backend, extra=PAPER_BACKENDS), nonempty=True,
                            distinct=True)
APPROACH = Param(str, choices=TRAINING_SPLITS)  # one of the paper's training splits (a list of them: APPROACHES)

SCHEMAS: dict[str, dict[str, Param]] = {
    "01_data_collection": {
        "SEED": SEED, "SOURCE": Param(str, choices=("paper", "dump", "praw")), "DUMP_FILES": Param(list, items=str),
        "SUBREDDITS": Param(list, items=str), "MAX_PER_SUBREDDIT": COUNT, "POOL_FILE": NAME,
    },
    "02_bootstrap": {
        "SEED": SEED, "N_CLUSTERS": COUNT, "VECTORIZER": VECTORIZER, "LEARNER": PAPER_LEARNER, "PROTOCOL": PROTOCOL,
        "POOL_SIZE": Param(int, low=0),
    },
    "03_active_learning_loop": {
        "SEED": SEED, "ORACLE": ORACLE, "STRATEGIES": STRATEGIES,
        "SEEDS": Param(list, items=int, low=0, nonempty=True, distinct=True),
        "GENERATION": Param(list, items=bool, nonempty=True, distinct=True),
        "BACKEND": BACKEND, "MODEL": TEXT, "BASE_URL": TEXT,
        "BUDGET": COUNT, "ROUND_SIZE": COUNT, "N_CLUSTERS": COUNT, "N_VARIATIONS": Param(int, low=0),
        "LEARNER": PAPER_LEARNER, "VECTORIZER": VECTORIZER, "POOL_SIZE": Param(int, low=0),
        "POOL_MIXES": Param(list, items=str, choices=POOL_MIXES, nonempty=True, distinct=True),
        "RUNS_DIR": NAME, "WIDGET_RUN": NAME, "ANNOTATOR": NAME,
    },
    "04_generation": {
        "SEED": SEED, "BACKENDS": PAPER_BACKEND_NAMES, "APPROACH": APPROACH,
        "N_SEED_TITLES": Param(int, low=1, high=len(PAPER_TAXONOMY.names)), "N_VARIATIONS": COUNT, "MODEL": TEXT,
        "BASE_URL": TEXT, "RELATION": Param(str, choices=("same_label", "contrast")), "CONTRAST_LABEL": TEXT,
        "GATE_LEARNER": Param(str, parse=names.parse_learner, optional=True), "RUN": NAME,
    },
    "05_transfer_experiments": {
        "SEED": SEED, "LEARNERS": PAPER_LEARNERS,
        "SETTINGS": Param(list, items=str, choices=SETTINGS, nonempty=True, distinct=True),
        "APPROACHES": Param(list, items=str, choices=TRAINING_SPLITS, distinct=True),
        "SEEDS": Param(list, items=int, low=0, nonempty=True, distinct=True), "PROTOCOLS": PROTOCOLS,
        "LEARNING_RATE": Param(float, low=1e-7, high=1.0), "TRAIN_BATCH_SIZE": COUNT, "MAX_LENGTH": COUNT,
        "TEST_SIZE": Param(int, low=0, high=PAPER_TEST_TITLES - 1), "N_RESAMPLES": COUNT,
    },
    "06_error_analysis": {"SEED": SEED, "N_ERRORS": COUNT, "N_EXAMPLES": COUNT},
}

# Old parameter names, refused with the new one: notebook -> {old: (new, example)}.
RENAMED: dict[str, dict[str, tuple[str, str]]] = {
    "02_bootstrap": {"EPOCHS": ("PROTOCOL", "PROTOCOL: epochs-3")},
    "03_active_learning_loop": {"GENERATION_BACKEND": ("BACKEND", "BACKEND: local"),
                                "GENERATION_MODEL": ("MODEL", "MODEL: gpt-4o-mini"),
                                "BATCH_SIZE": ("ROUND_SIZE", "ROUND_SIZE: 20")},
    "04_generation": {"SPLIT": ("APPROACH", "APPROACH: cluster"), "N_SEEDS": ("N_SEED_TITLES", "N_SEED_TITLES: 6")},
    "05_transfer_experiments": {"MODELS": ("LEARNERS", "LEARNERS: [tfidf-lr, embedding-lr]"),
                                "BATCH_SIZE": ("TRAIN_BATCH_SIZE", "TRAIN_BATCH_SIZE: 16")},
}


def _simulated_pool(values: dict) -> int:
    smallest = min(SKEWED_POOL if mix == "skewed" else STRATIFIED_POOL for mix in values["POOL_MIXES"])
    return min(values["POOL_SIZE"], smallest) if values["POOL_SIZE"] else smallest


def _rules_02(values: dict) -> list[str]:
    pool = values["POOL_SIZE"] or STRATIFIED_POOL
    if values["N_CLUSTERS"] > pool:
        return [f"N_CLUSTERS ({values['N_CLUSTERS']}) exceeds the {pool} titles of the pool."]
    return []


def _rules_03(values: dict) -> list[str]:
    problems = loop_rules(values, _simulated_pool(values))
    if any(values["GENERATION"]) and values["BACKEND"] == "openai" and not values["MODEL"]:
        problems.append("BACKEND 'openai' needs MODEL (the model the endpoint serves).")
    return problems


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


RULES: dict[str, Callable[[dict], list[str]]] = {
    "02_bootstrap": _rules_02, "03_active_learning_loop": _rules_03, "04_generation": _rules_04,
    "05_transfer_experiments": _rules_05,
}


def check(notebook: str, values: dict) -> list[str]:
    """Every problem of ``values`` (a paper notebook's full parameter set) against its schema, each one sentence."""
    if notebook not in SCHEMAS:
        return []
    return check_schema(SCHEMAS[notebook], RULES.get(notebook), values)
