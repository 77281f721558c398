"""The numbered notebooks: thin and clean as committed, consistent with every params file, and runnable.

The smoke run executes every notebook of ``params/smoke.yaml`` through the pipeline in a scratch
home and asserts on the files they wrote, then runs ``pytest --nbval-lax`` over the executed copies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from alsafe.reproduce import load_plan, record_plan, run_plan

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PARAMS = sorted((ROOT / "params").glob("*.yaml"))


def _code_cells(path):
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_thin_and_clean(path):
    cells = _code_cells(path)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells), "strip outputs"
    sources = ["".join(c["source"]) for c in cells]
    assert not any(re.search(r"^\s*(def|class)\s+\w", s, re.M) for s in sources), "move functions into alsafe/"
    tagged = [s for c, s in zip(cells, sources) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    assignments = [line for line in tagged[0].splitlines() if re.match(r"^[A-Z_][A-Z0-9_]* = ", line)]
    assert any(line.startswith("SEED = ") for line in assignments)
    for line in assignments:
        assert "  # " in line, f"parameter without a comment: {line}"
    import papermill  # every assignment must be a parameter papermill sees (its parser skips some comments)

    assert sorted(papermill.inspect_notebook(str(path))) == sorted(line.split(" = ")[0] for line in assignments)
    assert sum(s.lstrip().startswith(("import ", "from ")) for s in sources) == 1, "one import cell"


def test_nbstripout_verifies_every_notebook():
    result = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", *map(str, NOTEBOOKS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: p.name)
def test_params_file_matches_its_notebooks(params):
    steps = load_plan(params)  # raises on an unknown parameter or notebook
    assert [s.notebook.name for s in steps] == sorted(s.notebook.name for s in steps)
    if params.name != "own-data.yaml":
        assert {s.notebook.name for s in steps} >= {p.name for p in NOTEBOOKS if p.name < "07"}


def _smoke_run(home):
    patch = pytest.MonkeyPatch()
    patch.setenv("ALSAFE_HOME", str(home))
    patch.setenv("MPLBACKEND", "agg")
    try:
        params = ROOT / "params" / "smoke.yaml"
        results = run_plan(load_plan(params), output_dir=home / "outputs", progress=False)
        record_plan(results, params)  # as `alsafe reproduce` does after a paper plan: results/README.md, pipeline.csv
        return results
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, paper_dir):
    home = tmp_path_factory.mktemp("smoke-home")
    return home, _smoke_run(home)


def _timing(column: str) -> bool:
    return column.endswith("_s") or "seconds" in column or "latency" in column


@pytest.mark.notebooks
def test_the_smoke_run_writes_the_same_results_twice(smoke, tmp_path):
    """Two runs of the smoke parameters into fresh folders: every results file agrees apart from timings."""
    home, _ = smoke
    _smoke_run(tmp_path)
    first, second = sorted((home / "results").iterdir()), sorted((tmp_path / "results").iterdir())
    assert [p.name for p in first] == [p.name for p in second] and len(first) > 30
    for one, two in zip(first, second):
        if one.suffix == ".csv":
            a, b = pd.read_csv(one), pd.read_csv(two)
            kept = [c for c in a.columns if not _timing(c)]
            pd.testing.assert_frame_equal(a[kept], b[kept], obj=one.name)
        elif one.suffix == ".json":
            a, b = json.loads(one.read_text()), json.loads(two.read_text())
            for meta in (a, b):
                meta.pop("wall_time_s"), meta.pop("created_at")
            assert a == b, one.name
        elif one.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(two), obj=one.name)
        elif one.name == "README.md":
            strip = lambda text: re.sub(r"training wall time [0-9.]+ s", "", text)  # noqa: E731
            assert strip(one.read_text()) == strip(two.read_text())


@pytest.mark.notebooks
def test_smoke_run_writes_every_table_and_figure(smoke):
    home, results = smoke
    # 07 (your own data) has its own test below, on a pool that test writes.
    assert [r.notebook for r in results] == [p.name for p in NOTEBOOKS if p.name < "07"]
    table3 = pd.read_csv(home / "results" / "table3.csv").set_index("class")
    assert table3.loc["Standard Deviation", "cluster"] == pytest.approx(41.4)
    for table_id in ("table4", "table5", "table6"):
        table = pd.read_csv(home / "results" / f"{table_id}.csv")
        assert {"approach", "model", "f1", "f1 (paper)"} <= set(table.columns)
        assert table["f1"].dropna().between(0, 100).all() and table["f1 (paper)"].notna().any()
        assert table["protocol"].notna().all()
    matched = pd.read_csv(home / "results" / "compute_matched.csv")
    assert set(matched["model"]) == {"minilm-l2~steps-10", "embedding-lr"}  # epochs-1 grows with the data: left out
    gate = pd.read_csv(home / "results" / "gate_benchmark.csv").set_index("filter")
    assert gate.loc["whole gate", "rejected % injected"] >= 80 and gate.loc["whole gate", "precision"] >= 90
    balance = pd.read_csv(home / "results" / "simulation_balance.csv")
    assert set(balance["pool_mix"]) == {"stratified", "skewed"} and "Emergency-Situation" in balance.columns
    table8 = pd.read_csv(home / "results" / "table8.csv")
    assert set(table8["approach"]) == {"random", "topn", "coreset", "cluster"}
    assert len(pd.read_csv(home / "results" / "table7.csv")) > 0
    for figure in ("table3_class_balance", "figure3", "confusion_with-llm", "per_class_f1"):
        assert (home / "figures" / f"{figure}.png").stat().st_size > 10_000
    assert (home / "results" / "README.md").read_text().count("|") > 50


@pytest.mark.notebooks
def test_executed_notebooks_pass_nbval_lax(smoke):
    home, results = smoke
    executed = [str(r.output) for r in results]
    check = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                            "-o", "addopts=", "--rootdir", str(home), *executed],
                           capture_output=True, text=True, cwd=home, env={**__import__("os").environ,
                                                                          "ALSAFE_HOME": str(home),
                                                                          "MPLBACKEND": "agg"}, timeout=600)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]


@pytest.mark.notebooks
def test_your_own_data_notebook_exports_a_dataset_and_a_classifier(tmp_path, monkeypatch):
    """Notebook 07 on a pool the test writes: simulated annotator, offline generator, both exports loadable."""
    import datasets
    import transformers

    classes = {"urgent": ["the building is on fire", "someone collapsed in the hall", "smoke in the lab now",
                          "a man with a knife outside", "gas smell in the kitchen", "flooding in the basement now"],
               "billing": ["refund my last invoice", "charged twice this month", "update my card details",
                           "invoice shows the wrong amount", "cancel my subscription fee", "receipt for my payment"],
               "other": ["what time do you open", "where is the library", "how do I reset my password",
                         "is parking free on sundays", "can I book a room", "where is the cafeteria"]}
    rows = [(f"{label}-{i}", f"{text} please", label) for label, texts in classes.items()
            for i, text in enumerate(texts)]
    pd.DataFrame(rows[::2], columns=["id", "body", "label"]).to_csv(tmp_path / "boot.csv", index=False)
    pd.DataFrame(rows[1::2], columns=["id", "body", "label"]).to_csv(tmp_path / "pool.csv", index=False)
    (tmp_path / "taxonomy.yaml").write_text(
        "labels:\n  - {name: urgent, description: An emergency that needs help now.}\n"
        "  - {name: billing, description: About payments and invoices.}\n"
        "  - {name: other, description: Anything else.}\n", encoding="utf-8")
    params = tmp_path / "own.yaml"
    params.write_text(json.dumps({"notebooks": [{"notebook": "07_your_own_data.ipynb", "parameters": {
        "SEED": 0, "POOL_FILE": str(tmp_path / "pool.csv"), "TAXONOMY_FILE": str(tmp_path / "taxonomy.yaml"),
        "BOOTSTRAP_FILE": str(tmp_path / "boot.csv"), "TEXT_COLUMN": "body", "ID_COLUMN": "id",
        "RUN": str(tmp_path / "run.sqlite"), "ORACLE": "simulated", "BUDGET": 6, "ROUND_SIZE": 3, "N_CLUSTERS": 3,
        "N_VARIATIONS": 2, "BACKEND": "local", "VECTORIZER": "minilm-l2", "EXPORT_DIR": str(tmp_path / "export"),
        "CLASSIFIER": "minilm-l2", "CLASSIFIER_PROTOCOL": "epochs-2", "TEST_FRACTION": 0.3}}]}), encoding="utf-8")
    monkeypatch.setenv("ALSAFE_HOME", str(tmp_path))
    run_plan(load_plan(params), output_dir=tmp_path / "outputs", progress=False)

    loaded = datasets.load_from_disk(str(tmp_path / "export" / "hf"))
    train, test = loaded["train"].to_pandas(), loaded["test"].to_pandas()
    assert not set(train["seed_id"]) & set(test["seed_id"])  # no seed's variations cross the boundary
    assert (train["origin"] == "llm").any() and len(train) + len(test) == len(
        pd.read_parquet(tmp_path / "export" / "dataset.parquet"))
    classify = transformers.pipeline("text-classification", model=str(tmp_path / "export" / "classifier"))
    answers = classify(["the kitchen is on fire", "charged twice for my invoice"])
    assert {a["label"] for a in answers} <= {"urgent", "billing", "other"}
    card = (tmp_path / "export" / "classifier" / "README.md").read_text()
    assert "## Per-class metrics" in card and "| urgent |" in card
