"""A careless user's inputs: each ends in one clear sentence naming the culprit, and leaves nothing behind.

Four families: notebook parameters (checked by ``alsafe reproduce`` before any notebook runs), the
user's files (pool, bootstrap, taxonomy), damaged run stores, and a second loop on a store in use.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alsafe.cli import main
from alsafe.exceptions import AlsafeError, PipelineError, PoolError, StoreError, TaxonomyError
from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.pools import import_table, start_run
from alsafe.reproduce import load_plan
from alsafe.store import RunStore

ROOT = Path(__file__).resolve().parent.parent


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- 1. notebook parameters ------------------------------------------------------------------------

PARAMETER_CASES = [
    ("03_active_learning_loop", {"BUDGET": "abc"}, "BUDGET must be an integer, not 'abc'"),
    ("03_active_learning_loop", {"N_CLUSTERS": 0}, "N_CLUSTERS must be at least 1, not 0"),
    ("03_active_learning_loop", {"ROUND_SIZE": -1}, "ROUND_SIZE must be at least 1, not -1"),
    ("03_active_learning_loop", {"N_CLUSTERS": 20, "ROUND_SIZE": 2000, "BUDGET": 2000},
     "BUDGET (2000) exceeds the 791 titles of the simulated pool"),
    ("03_active_learning_loop", {"STRATEGIES": "cluster"}, "STRATEGIES must be a list, not 'cluster' (write ['cluster']"),
    ("03_active_learning_loop", {"POOL_SIZE": -5}, "POOL_SIZE must be at least 0, not -5"),
    ("03_active_learning_loop", {"STRATEGIES": ["cluster", "kmeans"]},
     "STRATEGIES[1]: strategy 'kmeans' is not known: use one of random, topn, coreset, cluster"),
    ("03_active_learning_loop", {"BUDGET": 30}, "BUDGET (30) must be a multiple of ROUND_SIZE (20)"),
    ("03_active_learning_loop", {"N_CLUSTERS": 25}, "N_CLUSTERS (25) must be at most ROUND_SIZE (20)"),
    ("03_active_learning_loop", {"SEEDS": []}, "SEEDS must not be an empty list"),
    ("03_active_learning_loop", {"SEEDS": [0, 0]}, "SEEDS repeats a value"),
    ("03_active_learning_loop", {"SEEDS": [0, "1"]}, "SEEDS[1] must be an integer, not '1'"),
    ("03_active_learning_loop", {"GENERATION": "yes"}, "GENERATION must be a list, not 'yes'"),
    ("03_active_learning_loop", {"POOL_MIXES": ["uniform"]}, "POOL_MIXES[0] must be one of stratified, skewed"),
    ("03_active_learning_loop", {"ORACLE": "human"}, "ORACLE must be one of simulated, widget, not 'human'"),
    ("03_active_learning_loop", {"ANNOTATOR": " "}, "ANNOTATOR must not be empty"),
    ("03_active_learning_loop", {"N_VARIATIONS": 2.5}, "N_VARIATIONS must be an integer, not 2.5"),
    ("01_data_collection", {"SEED": "abc"}, "SEED must be an integer, not 'abc'"),
    ("01_data_collection", {"SOURCE": "bogus"}, "SOURCE must be one of paper, dump, praw, not 'bogus'"),
    ("01_data_collection", {"MAX_PER_SUBREDDIT": 0}, "MAX_PER_SUBREDDIT must be at least 1, not 0"),
    ("02_bootstrap", {"N_CLUSTERS": 200, "POOL_SIZE": 100}, "N_CLUSTERS (200) exceeds the 100 titles of the pool"),
    ("04_generation", {"BACKENDS": ["gpt"]}, "BACKENDS[0]: backend 'gpt' is not known: use one of local, openai, replay"),
    ("04_generation", {"RELATION": "contrast"}, "RELATION 'contrast' needs CONTRAST_LABEL"),
    ("04_generation", {"BACKENDS": ["openai"]}, "BACKENDS includes 'openai', which needs MODEL"),
    ("04_generation", {"N_SEED_TITLES": 7}, "N_SEED_TITLES must be at most 6, not 7"),
    ("05_transfer_experiments", {"LEARNERS": "tfidf-lr"}, "LEARNERS must be a list, not 'tfidf-lr'"),
    ("05_transfer_experiments", {"SETTINGS": ["with_llm"]}, "SETTINGS[0] must be one of baseline, without-llm, with-llm"),
    ("05_transfer_experiments", {"PROTOCOLS": ["steps-0"]}, "PROTOCOLS[0]: protocol must be 'steps-<N>' or 'epochs-<N>'"),
    ("05_transfer_experiments", {"TEST_SIZE": 5000}, "TEST_SIZE must be at most 2699, not 5000"),
    ("05_transfer_experiments", {"LEARNING_RATE": "fast"}, "LEARNING_RATE must be a number, not 'fast'"),
    ("05_transfer_experiments", {"SETTINGS": ["with-llm"], "APPROACHES": []}, "APPROACHES must not be empty"),
    ("06_error_analysis", {"N_ERRORS": 0}, "N_ERRORS must be at least 1, not 0"),
    ("07_your_own_data", {"TEST_FRACTION": 1.5}, "TEST_FRACTION must be at most 0.99, not 1.5"),
    ("07_your_own_data", {"BACKEND": "openai", "MODEL": ""}, "BACKEND 'openai' needs MODEL"),
]


def _params_file(folder: Path, notebook: str, parameters) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({"notebooks": [{"notebook": f"{notebook}.ipynb", "parameters": parameters}]}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("notebook, parameters, message", PARAMETER_CASES,
                         ids=[f"{n[:2]}-{next(iter(p))}-{i}" for i, (n, p, _) in enumerate(PARAMETER_CASES)])
def test_a_bad_parameter_is_named_before_anything_runs(tmp_path, monkeypatch, notebook, parameters, message):
    monkeypatch.setenv("ALSAFE_HOME", str(tmp_path / "home"))
    path = _params_file(tmp_path, notebook, parameters)
    with pytest.raises(PipelineError) as raised:
        load_plan(path)
    assert message in str(raised.value) and f"{notebook}.ipynb" in str(raised.value) and str(path) in str(raised.value)
    assert not (tmp_path / "home").exists()


def test_every_problem_of_a_params_file_is_reported_at_once(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"notebooks": [
        {"notebook": "03_active_learning_loop.ipynb", "parameters": {"BUDGET": "abc", "N_CLUSTERS": 0}},
        {"notebook": "06_error_analysis.ipynb", "parameters": {"N_ERRORS": -1}}]}), encoding="utf-8")
    with pytest.raises(PipelineError) as raised:
        load_plan(path)
    text = str(raised.value)
    assert "3 problems" in text and "BUDGET must be an integer" in text and "N_CLUSTERS must be at least 1" in text
    assert "06_error_analysis.ipynb: N_ERRORS must be at least 1, not -1" in text


@pytest.mark.parametrize("content, message", [
    ({"notebooks": [{"notebook": "03_active_learning_loop.ipynb", "parameters": [1, 2]}]},
     "entry 1 (03_active_learning_loop.ipynb): `parameters:` must be a mapping of NAME: value, not a list"),
    ({"notebooks": "03"}, "expected a `notebooks:` list"),
    ({"notebooks": [{"parameters": {}}]}, "entry 1 needs a `notebook:` name"),
    ({"notebooks": [{"notebook": "99_missing.ipynb"}]}, "names 99_missing.ipynb, which is not in"),
    ({"notebooks": [{"notebook": "06_error_analysis.ipynb", "parameters": {"N_ERROR": 3}}]},
     "06_error_analysis.ipynb has no parameter(s) N_ERROR"),
])
def test_a_malformed_params_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    with pytest.raises(PipelineError, match="") as raised:
        load_plan(path)
    assert message in str(raised.value)


def test_the_cli_prints_the_problems_and_exits_non_zero(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALSAFE_HOME", str(tmp_path / "home"))
    path = _params_file(tmp_path, "03_active_learning_loop", {"STRATEGIES": "cluster"})
    assert main(["reproduce", "--params", str(path)]) == 1
    err = capsys.readouterr().err
    assert "STRATEGIES must be a list" in err and "Traceback" not in err
    assert not (tmp_path / "home").exists()


def test_every_committed_params_file_passes_its_schemas():
    for path in sorted((ROOT / "params").glob("*.yaml")):
        assert load_plan(path)


# -- 2. the user's files ---------------------------------------------------------------------------

TAXONOMY = "labels:\n  - {name: crisis, description: acute distress}\n  - {name: routine, description: ordinary}\n"


def _write(folder: Path, name: str, content) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        path.mkdir()
    else:
        path.write_text(content, encoding="utf-8")
    return path


FILE_CASES = [
    ("pool.csv", None, {}, "pool.csv is a folder, not a file"),
    ("pool.csv", "", {}, "pool.csv is empty (0 bytes)"),
    ("pool.csv", "id,text\n", {}, "pool.csv has a header but no rows"),
    ("pool.csv", "id,body\n1,x\n", {}, "pool.csv: no column 'text' for the text"),
    ("pool.csv", "id,text\n1,fine\n2,  \n", {}, "pool.csv, row 2, column 'text': empty or whitespace-only text"),
    ("pool.csv", "id,text\n1,a\n1,b\n", {}, "pool.csv, rows 1, 2, column 'id': duplicate id '1'"),
    ("pool.csv", "id,text\n,a\n", {}, "pool.csv, row 1, column 'id': empty id"),
    ("pool.csv", b"id,text\n1,caf\xe9\n", {}, "pool.csv, line 2: bytes that are not UTF-8"),
    ("pool.jsonl", '{"id": "1", "text": 123}\n', {}, "pool.jsonl, row 1, column 'text': 123 is a number, not text"),
    ("pool.jsonl", '{"id": "1", "text": ["x"]}\n', {}, "pool.jsonl, row 1, column 'text': ['x'] is a list, not text"),
    ("pool.jsonl", '{"id": "1", "text": true}\n', {}, "pool.jsonl, row 1, column 'text': True is true/false, not text"),
    ("pool.jsonl", '{"id": "1", "text": null}\n', {}, "pool.jsonl, row 1, column 'text': empty or whitespace-only"),
    ("pool.jsonl", '{"id": 1.5, "text": "a"}\n', {}, "pool.jsonl, row 1, column 'id': 1.5 is a number"),
    ("pool.jsonl", '{"id": "1", "text": "a"}\n{"id": "2", "text": \n', {}, "pool.jsonl, line 2: not valid JSON"),
    ("pool.jsonl", '["1", "a"]\n', {}, "pool.jsonl, line 1: expected a JSON object per line"),
    ("pool.xlsx", "x", {}, "pool.xlsx: unknown format '.xlsx'"),
    ("pool.parquet", "not parquet", {}, "pool.parquet: not a readable Parquet file"),
    ("pool.csv", "id,text,label\n1,a,crisis\n2,b,cats\n", {"label_column": "label"},
     "pool.csv, row 2, column 'label': unknown label 'cats'"),
]


@pytest.mark.parametrize("name, content, options, message", FILE_CASES,
                         ids=[f"{n}-{i}" for i, (n, *_rest) in enumerate(FILE_CASES)])
def test_a_bad_pool_file_is_named_and_creates_no_run(tmp_path, name, content, options, message):
    path = _write(tmp_path, name, content)
    taxonomy = _write(tmp_path, "taxonomy.yaml", TAXONOMY)
    with pytest.raises(PoolError) as raised:
        start_run(tmp_path / "run.sqlite", path, taxonomy, **({"pool_label_column": "label"} if options else {}))
    assert message in str(raised.value), str(raised.value)
    assert not any(p.name.startswith("run.sqlite") for p in tmp_path.iterdir())


TAXONOMY_CASES = [
    (None, "taxonomy.yaml is a folder, not a file"),
    (b"labels:\n  - {name: caf\xe9, description: x}\n", "taxonomy.yaml is not UTF-8 text (byte 0xe9 at offset 22)"),
    ("labels:\n  - {name: crisis, description: a}\n  - {name: Crisis, description: b}\n",
     "label 2 'Crisis' differs from label 1 'crisis' only in case"),
    ("labels:\n  - {name: crisis, descripton: a}\n  - {name: routine, description: b}\n",
     "label 'crisis' has an unknown key `descripton` (known: name, description, display_name, colour)"),
    ("labels:\n  - {name: crisis, description: a}\n", "has 1 label; a classifier needs at least two"),
    ("labels: []\n", "expected a mapping with a non-empty `labels` list"),
    ("- crisis\n- routine\n", "expected a mapping with a non-empty `labels` list"),
    ("labels:\n  - {name: crisis}\n  - {name: routine, description: b}\n", "label 'crisis' has no `description`"),
    ("labels:\n  - {name: crisis, description: a}\n  - {name: crisis, description: b}\n", "repeats the name 'crisis'"),
    ("labels: [ {name: a\n", "not valid YAML"),
    ("name: x\nlabels:\n  - {name: a, description: a}\n  - {name: b, description: b}\nextra: 1\n",
     "unknown key `extra` (known: name, labels)"),
]


@pytest.mark.parametrize("content, message", TAXONOMY_CASES, ids=[str(i) for i in range(len(TAXONOMY_CASES))])
def test_a_bad_taxonomy_is_named_and_creates_no_run(tmp_path, content, message):
    taxonomy = _write(tmp_path, "taxonomy.yaml", content)
    pool = _write(tmp_path, "pool.csv", "id,text\n1,a\n2,b\n")
    with pytest.raises(TaxonomyError) as raised:
        start_run(tmp_path / "run.sqlite", pool, taxonomy)
    assert message in str(raised.value) and "taxonomy.yaml" in str(raised.value), str(raised.value)
    assert not (tmp_path / "run.sqlite").exists()


@pytest.mark.parametrize("bootstrap, message", [
    ("id,text,label\nb1,help me,crisis\nb2,I am scared,crisis\n",
     "boot.csv: every label is 'crisis'; the learner needs examples of at least two classes"),
    (None, "boot.csv is a folder, not a file"),
    ("id,text,label\nb1,x,crisis\nb2,y,urgent\n", "boot.csv, row 2, column 'label': unknown label 'urgent'"),
    ("id,text,label\n1,x,crisis\n2,y,routine\n", "boot.csv: ids 1, 2 are also in"),
])
def test_a_bad_bootstrap_is_named_and_creates_no_run(tmp_path, bootstrap, message):
    taxonomy = _write(tmp_path, "taxonomy.yaml", TAXONOMY)
    pool = _write(tmp_path, "pool.csv", "id,text\n1,a\n2,b\n3,c\n")
    boot = _write(tmp_path, "boot.csv", bootstrap)
    with pytest.raises(AlsafeError) as raised:
        start_run(tmp_path / "run.sqlite", pool, taxonomy, bootstrap=boot)
    assert message in str(raised.value), str(raised.value)
    assert not (tmp_path / "run.sqlite").exists()


def test_files_without_id_columns_get_ids_that_cannot_collide(tmp_path):
    """Documented acceptance: rows are numbered per file, the numbers prefixed by the file's role."""
    taxonomy = _write(tmp_path, "taxonomy.yaml", TAXONOMY)
    pool = _write(tmp_path, "pool.csv", "text\na\nb\n")
    boot = _write(tmp_path, "boot.csv", "text,label\nhelp,crisis\nhi,routine\n")
    with start_run(tmp_path / "run.sqlite", pool, taxonomy, bootstrap=boot, id_column=None) as store:
        assert store.items("pool")["id"].tolist() == ["pool-row-1", "pool-row-2"]
        assert store.items("labeled")["id"].tolist() == ["bootstrap-row-1", "bootstrap-row-2"]


def test_texts_with_line_breaks_are_counted_and_the_first_shown(tmp_path):
    """A quoted field that spans lines is legal CSV; a forgotten quote swallows rows, so the user is told."""
    pool = _write(tmp_path, "pool.csv", 'id,text\n1,"first line\nsecond line"\n2,plain\n')
    with pytest.warns(UserWarning, match=r"pool.csv: 1 text contains line breaks \(row 1: 'first line\\nsecond line'\)"):
        table = import_table(pool)
    assert table["text"].tolist() == ["first line\nsecond line", "plain"]


def test_a_one_class_taxonomy_object_is_refused_before_a_run_exists(tmp_path):
    from alsafe.taxonomy import Label, Taxonomy

    pool = _write(tmp_path, "pool.csv", "id,text\n1,a\n")
    with pytest.raises(TaxonomyError, match="has 1 label; a classifier needs at least two"):
        start_run(tmp_path / "run.sqlite", pool, Taxonomy(labels=(Label("only", "the one class", "Only", "#000000"),)))
    assert not (tmp_path / "run.sqlite").exists()


# -- 3. damaged run stores -------------------------------------------------------------------------

def _good_store(path: Path) -> Path:
    with RunStore.create(path, PAPER_TAXONOMY, params={"seed": 0}, items=lambda: [
            (pd.DataFrame({"id": [f"p{i}" for i in range(300)], "text": [f"title number {i}" * 5 for i in range(300)]}),
             "pool", "test", "import")]):
        pass
    return path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _overwrite_header(path):
    with path.open("r+b") as handle:
        handle.write(b"NOT A DATABASE!!")


def _not_sqlite(path):
    path.write_text("post_id,text\n1,hello\n", encoding="utf-8")


def _corrupt_page(path):
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page: 3 * page] = b"\xff" * page
    path.write_bytes(bytes(data))


def _meta_not_json(path):
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value = '{not json' WHERE key = 'params'")
    connection.commit()
    connection.close()


def _empty(path):
    path.write_bytes(b"")


def _other_database(path):
    path.unlink()
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (x TEXT)")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("damage, message", [
    (_truncate, "is damaged"), (_overwrite_header, "is not a SQLite file"), (_not_sqlite, "is not a SQLite file"),
    (_corrupt_page, "is damaged"), (_meta_not_json, "has a `params` entry that is not JSON"),
    (_empty, "is empty (0 bytes)"), (_other_database, "is a SQLite file but not an alsafe run store"),
], ids=["truncated", "header", "text", "page", "meta", "empty", "other-db"])
def test_a_damaged_store_is_named_and_nothing_is_created_beside_it(tmp_path, damage, message):
    path = _good_store(tmp_path / "run.sqlite")
    damage(path)
    before = _files(tmp_path)
    with pytest.raises(StoreError) as raised:
        with RunStore.open(path) as store:
            store.params  # noqa: B018 (meta is read on open or here)
    assert str(path) in str(raised.value) and message in str(raised.value), str(raised.value)
    assert _files(tmp_path) == before


def test_a_damaged_store_through_the_cli_is_one_line(tmp_path, capsys):
    path = _good_store(tmp_path / "run.sqlite")
    _overwrite_header(path)
    pool = _write(tmp_path, "pool.csv", "id,text\n1,a\n")
    assert main(["init", "--run", str(path), "--pool", str(pool)]) == 2
    assert "already exists" in capsys.readouterr().err


# -- 4. one loop per store ----------------------------------------------------------------------------

HOLD = textwrap.dedent("""
    import sys, time
    from alsafe.store import RunStore
    store = RunStore.open(sys.argv[1])
    with store.loop_lock():
        print("holding", flush=True)
        time.sleep(30)
""")


def test_a_second_loop_on_a_store_in_use_is_refused_at_once(tmp_path):
    from alsafe.loop import ActiveLearningLoop

    path = _good_store(tmp_path / "run.sqlite")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with RunStore.open(path) as store:
            with pytest.raises(StoreError, match=rf"{path} is being run by another process \(pid {holder.pid}\)"):
                ActiveLearningLoop(store, budget=20, batch_size=20, n_clusters=20).run()
            assert store.rounds().empty  # refused before any round started
            store.add_label("p0", "discard", annotator="bob")  # annotators still write while the loop runs
            assert store.labeled()["id"].tolist() == ["p0"]
    finally:
        holder.kill()
        holder.wait()
    with RunStore.open(path) as store, store.loop_lock():  # the lock died with its process
        pass


def test_a_run_whose_first_round_never_started_does_not_block_a_corrected_rerun(tmp_path):
    from alsafe.pools import open_or_start_run

    taxonomy = _write(tmp_path, "taxonomy.yaml", TAXONOMY)
    pool = _write(tmp_path, "pool.csv", "id,text\n1,a\n2,b\n3,c\n")
    open_or_start_run(tmp_path / "run.sqlite", pool, taxonomy, params={"budget": "abc"}).close()
    with open_or_start_run(tmp_path / "run.sqlite", pool, taxonomy, params={"budget": 2}) as store:
        assert store.params == {"budget": 2} and len(store.items("pool")) == 3
        store.start_round(1, "cluster", pd.DataFrame({"item_id": ["1", "2"], "cluster": [0, 1]}))
    with pytest.raises(StoreError, match=r"was made with other parameters \(budget: 2 there, 4 now"):
        open_or_start_run(tmp_path / "run.sqlite", pool, taxonomy, params={"budget": 4})


def test_a_folder_named_like_a_data_file_is_named(tmp_path, monkeypatch):
    from alsafe.exceptions import DataError
    from alsafe.paper import data

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in data.PAPER_FILES:
        (copy / name).mkdir()
    monkeypatch.setenv("ALSAFE_DATA_DIR", str(copy))
    with pytest.raises(DataError, match=r"bootstrap_labeled.tsv is a folder, not the paper's file"):
        data.paper_data_dir()
    assert _files(copy) == sorted(data.PAPER_FILES)


# -- names: one registry per kind, old parameter names refused with the new ones --------------------

NAME_CASES = [
    ("03_active_learning_loop", {"LEARNER": "embeding-lr"}, "LEARNER: learner 'embeding-lr' is not known: use one of "
                                                             "tfidf-lr, embedding-lr, setfit"),
    ("03_active_learning_loop", {"VECTORIZER": "all-MiniLM-L6-v3"}, "Did you mean 'all-MiniLM-L6-v2'?"),
    ("03_active_learning_loop", {"STRATEGIES": ["clusters"]}, "Did you mean 'cluster'?"),
    ("03_active_learning_loop", {"BACKEND": "opneai"}, "BACKEND: backend 'opneai' is not known: use one of local, "
                                                        "openai. Did you mean 'openai'?"),
    ("05_transfer_experiments", {"LEARNERS": ["bert-base-casd"]}, "Did you mean 'bert-base-cased'?"),
    ("07_your_own_data", {"LEARNER": "tfidf-rl"}, "Did you mean 'tfidf-lr'?"),
    ("07_your_own_data", {"STRATEGY": "cluter"}, "Did you mean 'cluster'?"),
    ("07_your_own_data", {"CLASSIFIER": "bert-base-cased"}, "CLASSIFIER: learner 'bert-base-cased' is not known"),
    ("02_bootstrap", {"EPOCHS": 3}, "EPOCHS was renamed PROTOCOL (e.g. PROTOCOL: epochs-3)"),
    ("03_active_learning_loop", {"GENERATION_BACKEND": "local"}, "GENERATION_BACKEND was renamed BACKEND"),
    ("03_active_learning_loop", {"BATCH_SIZE": 20}, "BATCH_SIZE was renamed ROUND_SIZE"),
    ("05_transfer_experiments", {"MODELS": ["tfidf-lr"]}, "MODELS was renamed LEARNERS"),
    ("05_transfer_experiments", {"BATCH_SIZE": 16}, "BATCH_SIZE was renamed TRAIN_BATCH_SIZE"),
    ("07_your_own_data", {"CLASSIFIER_EPOCHS": 5}, "CLASSIFIER_EPOCHS was renamed CLASSIFIER_PROTOCOL"),
]


@pytest.mark.parametrize("notebook, parameters, message", NAME_CASES,
                         ids=[f"{n[:2]}-{next(iter(p))}-{i}" for i, (n, p, _) in enumerate(NAME_CASES)])
def test_a_misspelt_name_or_an_old_parameter_is_refused_before_anything_runs(tmp_path, monkeypatch, notebook,
                                                                             parameters, message):
    monkeypatch.setenv("ALSAFE_HOME", str(tmp_path / "home"))
    path = _params_file(tmp_path, notebook, parameters)
    with pytest.raises(PipelineError) as raised:
        load_plan(path)
    assert message in str(raised.value) and f"{notebook}.ipynb" in str(raised.value)
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("notebook, parameters", [
    ("03_active_learning_loop", {"LEARNER": "embedding-lr:nomic-embed-text@http://localhost:11434/v1",
                                 "VECTORIZER": "nomic-embed-text@http://localhost:11434/v1"}),
    ("05_transfer_experiments", {"LEARNERS": ["embedding-lr:nomic-embed-text@http://localhost:11434/v1",
                                              "bert-base-cased", "google-bert/bert-base-cased"]}),
    ("07_your_own_data", {"LEARNER": "embedding-lr:nomic-embed-text@http://localhost:11434/v1"}),
    ("04_generation", {"GATE_LEARNER": ""}),
])
def test_the_names_the_readme_advertises_are_accepted(tmp_path, notebook, parameters):
    assert len(load_plan(_params_file(tmp_path, notebook, parameters))) == 1
