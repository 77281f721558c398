"""Notebook parameters: one schema per notebook (the paper's in its wing, 07's in the tool's), names parsed by the
registries of :mod:`alsafe.names`, and an old parameter name refused with its new one.

The per-value cases (types, ranges, cross-constraints) are in ``tests/test_bad_inputs.py``; these pin where each
schema lives, that it names exactly its notebook's parameters, and what ``alsafe reproduce`` says before it runs.
"""

from __future__ import annotations

from pathlib import Path

import papermill
import pytest
import yaml

from alsafe import names, parameters, reproduce
from alsafe.cli import main
from alsafe.paper import schemas as paper_schemas
from alsafe.parameters import LEARNER, STRATEGIES, Param, check_value

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SERVED = "embedding-lr:nomic-embed-text@http://localhost:11434/v1"


def _declared(stem: str) -> dict:
    return papermill.inspect_notebook(str(NOTEBOOKS / f"{stem}.ipynb"))


def _problems(stem: str, given: dict) -> list[str]:
    """The schema's problems with ``given`` over the notebook's defaults, as load_plan checks them."""
    return reproduce.check_parameters(stem, reproduce._defaults(_declared(stem)) | given)


def _params_file(folder: Path, notebook: str, given: dict) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({"notebooks": [{"notebook": f"{notebook}.ipynb", "parameters": given}]}),
                    encoding="utf-8")
    return path


# -- where the schemas live -------------------------------------------------------------------------------------


def test_the_paper_schemas_are_in_the_paper_wing_and_the_tools_own_notebook_in_the_tool():
    assert sorted(f"{stem}.ipynb" for stem in paper_schemas.SCHEMAS) == sorted(reproduce.PAPER_NOTEBOOKS)
    assert list(parameters.SCHEMAS) == ["07_your_own_data"]
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(paper_schemas.SCHEMAS | parameters.SCHEMAS)


@pytest.mark.parametrize("stem", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_each_schema_names_exactly_its_notebooks_parameters_and_accepts_the_defaults(stem):
    declared = _declared(stem)
    assert set((paper_schemas.SCHEMAS | parameters.SCHEMAS)[stem]) == set(declared)
    assert reproduce.check_parameters(stem, reproduce._defaults(declared)) == []


def test_strategies_are_the_registrys_not_a_copy(monkeypatch):
    assert check_value("STRATEGIES", list(names.STRATEGIES), STRATEGIES) == []
    monkeypatch.setattr(names, "STRATEGIES", names.STRATEGIES + ("margin",))  # a strategy registered tomorrow
    assert _problems("03_active_learning_loop", {"STRATEGIES": ["margin"]}) == []
    assert _problems("07_your_own_data", {"STRATEGY": "margin"}) == []


# -- Param.parse: a registry's sentence, prefixed with the parameter ----------------------------------------------


def test_a_registrys_refusal_is_the_problem_prefixed_with_the_parameter():
    [problem] = check_value("LEARNER", "embeding-lr", LEARNER)
    assert problem.startswith("LEARNER: learner 'embeding-lr' is not known: use one of tfidf-lr, embedding-lr, setfit")
    assert problem.endswith("Did you mean 'embedding-lr'?")
    assert check_value("STRATEGIES", ["cluster", "clusters"], STRATEGIES) == [
        "STRATEGIES[1]: strategy 'clusters' is not known: use one of random, topn, coreset, cluster. "
        "Did you mean 'cluster'?"]
    assert check_value("LEARNER", 3, LEARNER) == ["LEARNER must be a string, not 3."]  # the type first, no parse
    assert check_value("LEARNER", "", LEARNER)[0].startswith("LEARNER: a learner must be a non-empty name")
    assert check_value("GATE_LEARNER", "", Param(str, parse=names.parse_learner, optional=True)) == []


@pytest.mark.parametrize("stem, name, value", [
    ("03_active_learning_loop", "LEARNER", SERVED),
    ("05_transfer_experiments", "LEARNERS", [SERVED, "bert-base-cased", "google-bert/bert-base-cased"]),
    ("07_your_own_data", "LEARNER", SERVED),
    ("07_your_own_data", "CLASSIFIER", "google-bert/bert-base-cased"),
    ("02_bootstrap", "LEARNER", "roberta-base"),  # a paper notebook takes the paper's bare hub names
    ("04_generation", "GATE_LEARNER", ""),
])
def test_names_the_grammar_allows_are_accepted(stem, name, value):
    assert _problems(stem, {name: value}) == []


@pytest.mark.parametrize("stem, given, problem", [
    ("05_transfer_experiments", {"LEARNERS": ["bert-base-casd"]},
     "LEARNERS[0]: learner 'bert-base-casd' is not known"),
    ("07_your_own_data", {"CLASSIFIER": "bert-base-cased"}, "CLASSIFIER: learner 'bert-base-cased' is not known"),
    ("04_generation", {"BACKENDS": ["replay", "locl"]}, "BACKENDS[1]: backend 'locl' is not known: use one of local, "
                                                        "openai, replay. Did you mean 'local'?"),
    ("07_your_own_data", {"BACKEND": "replay"}, "BACKEND: backend 'replay' is not known: use one of local, openai."),
    ("02_bootstrap", {"PROTOCOL": "epochs3"}, "PROTOCOL: protocol must be 'steps-<N>' or 'epochs-<N>'"),
    ("07_your_own_data", {"CLASSIFIER_PROTOCOL": 5}, "CLASSIFIER_PROTOCOL must be a string, not 5."),
    ("04_generation", {"APPROACH": "clusters"}, "APPROACH must be one of random, topn, coreset, cluster"),
    ("04_generation", {"N_SEED_TITLES": 7}, "N_SEED_TITLES must be at most 6, not 7."),
])
def test_names_outside_the_registries_are_refused(stem, given, problem):
    problems = _problems(stem, given)
    assert any(p.startswith(problem) for p in problems), problems
    if stem == "05_transfer_experiments":
        assert problems[0].endswith("Did you mean 'bert-base-cased'?") and "bert-base-cased, " in problems[0]


# -- renamed parameters ------------------------------------------------------------------------------------------


RENAMES = [(stem, old, new, example) for table in (parameters.RENAMED, paper_schemas.RENAMED)
           for stem, moved in table.items() for old, (new, example) in moved.items()]


@pytest.mark.parametrize("stem, old, new, example", RENAMES, ids=[f"{s[:2]}-{o}" for s, o, _, _ in RENAMES])
def test_every_rename_names_a_declared_parameter_and_a_valid_example(stem, old, new, example):
    declared = _declared(stem)
    assert old not in declared and new in declared
    value = yaml.safe_load(example)
    assert list(value) == [new]
    schema = (paper_schemas.SCHEMAS | parameters.SCHEMAS)[stem]
    assert check_value(new, value[new], schema[new]) == []


def test_the_renames_of_this_issue_are_all_in_the_tables():
    assert {(s, o, n) for s, o, n, _ in RENAMES} == {
        ("02_bootstrap", "EPOCHS", "PROTOCOL"),
        ("03_active_learning_loop", "GENERATION_BACKEND", "BACKEND"),
        ("03_active_learning_loop", "GENERATION_MODEL", "MODEL"),
        ("03_active_learning_loop", "BATCH_SIZE", "ROUND_SIZE"),
        ("04_generation", "SPLIT", "APPROACH"),
        ("04_generation", "N_SEEDS", "N_SEED_TITLES"),
        ("05_transfer_experiments", "MODELS", "LEARNERS"),
        ("05_transfer_experiments", "BATCH_SIZE", "TRAIN_BATCH_SIZE"),
        ("07_your_own_data", "BATCH_SIZE", "ROUND_SIZE"),
        ("07_your_own_data", "CLASSIFIER_EPOCHS", "CLASSIFIER_PROTOCOL"),
    }


# -- what `alsafe reproduce` says, before anything runs --------------------------------------------------------------


@pytest.fixture
def nothing_runs(tmp_path, monkeypatch):
    """A scratch home that must stay uncreated, and a run_plan that fails the test if it is reached."""
    home = tmp_path / "home"
    monkeypatch.setenv("ALSAFE_HOME", str(home))

    def run_plan(*args, **kwargs):
        raise AssertionError("run_plan was reached")

    monkeypatch.setattr(reproduce, "run_plan", run_plan)
    yield
    assert not home.exists()


@pytest.mark.parametrize("stem, given, message", [
    ("02_bootstrap", {"EPOCHS": 3}, "02_bootstrap.ipynb: EPOCHS was renamed PROTOCOL (e.g. PROTOCOL: epochs-3)."),
    ("03_active_learning_loop", {"GENERATION_BACKEND": "local", "GENERATION_MODEL": "x"},
     "03_active_learning_loop.ipynb: GENERATION_BACKEND was renamed BACKEND (e.g. BACKEND: local); "
     "GENERATION_MODEL was renamed MODEL (e.g. MODEL: gpt-4o-mini)."),
    ("04_generation", {"SPLIT": "cluster"}, "04_generation.ipynb: SPLIT was renamed APPROACH (e.g. APPROACH: cluster)."),
    ("05_transfer_experiments", {"MODELS": ["tfidf-lr"]}, "05_transfer_experiments.ipynb: MODELS was renamed LEARNERS"),
    ("07_your_own_data", {"BATCH_SIZE": 8}, "07_your_own_data.ipynb: BATCH_SIZE was renamed ROUND_SIZE (e.g. ROUND_SIZE: 8)."),
    ("03_active_learning_loop", {"LEARNER": "embeding-lr"},
     "03_active_learning_loop.ipynb: LEARNER: learner 'embeding-lr' is not known: use one of tfidf-lr, embedding-lr, setfit"),
    ("02_bootstrap", {"VECTORIZER": "all-MiniLM-L6-v3"},
     "02_bootstrap.ipynb: VECTORIZER: vectorizer 'all-MiniLM-L6-v3' is not known"),
    ("07_your_own_data", {"STRATEGY": "topN"},
     "07_your_own_data.ipynb: STRATEGY: strategy 'topN' is not known: use one of random, topn, coreset, cluster. "
     "Did you mean 'topn'?"),
    ("03_active_learning_loop", {"BACKEND": "olama"},
     "03_active_learning_loop.ipynb: BACKEND: backend 'olama' is not known: use one of local, openai."),
])
def test_alsafe_reproduce_refuses_an_old_or_misspelt_name_before_anything_runs(tmp_path, capsys, nothing_runs,
                                                                               stem, given, message):
    path = _params_file(tmp_path, stem, given)
    assert main(["reproduce", "--params", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"alsafe reproduce: {path}: ") and message in err
    if "VECTORIZER" in given:
        assert "Did you mean 'all-MiniLM-L6-v2'?" in err
