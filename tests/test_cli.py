"""The ``alsafe`` command: each subcommand's output and files, and errors as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from alsafe.cli import main
from alsafe.store import RunStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "own-data"
INIT = ["--pool", str(EXAMPLE / "pool.csv"), "--text-column", "message", "--id-column", "post_id"]


def test_init_creates_a_run_from_the_example(tmp_path, capsys):
    run = tmp_path / "run.sqlite"
    code = main(["init", "--run", str(run), *INIT, "--taxonomy", str(EXAMPLE / "taxonomy.yaml"),
                 "--bootstrap", str(EXAMPLE / "bootstrap.csv")])
    out = capsys.readouterr().out
    pool = pd.read_csv(EXAMPLE / "pool.csv")
    boot = pd.read_csv(EXAMPLE / "bootstrap.csv")
    assert code == 0
    assert f"Created {run}: {len(pool)} pool items, {len(boot)} bootstrap labels" in out
    with RunStore.open(run) as store:
        assert len(store.items("pool")) == len(pool) and store.labeled()["id"].tolist() == boot["post_id"].tolist()


def test_init_without_a_taxonomy_uses_the_papers_six(tmp_path, capsys):
    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n1,Is this rash serious?\n2,My landlord kept the deposit\n", encoding="utf-8")
    assert main(["init", "--run", str(tmp_path / "run.sqlite"), "--pool", str(pool)]) == 0
    assert "taxonomy self-harm, medical-advice, legal-advice, financial-advice" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--pool", "missing.csv"], "missing.csv does not exist"),
    ([*INIT, "--taxonomy", "nowhere.yaml"], "nowhere.yaml does not exist"),
    (["--pool", str(EXAMPLE / "pool.csv")], "no column 'text' for the text"),
])
def test_init_errors_are_one_line_and_leave_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run.sqlite"
    assert main(["init", "--run", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alsafe: ") and message in err and "Traceback" not in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_an_existing_run(tmp_path, capsys):
    run = tmp_path / "run.sqlite"
    args = ["init", "--run", str(run), *INIT, "--taxonomy", str(EXAMPLE / "taxonomy.yaml")]
    assert main(args) == 0
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_table3_writes_the_table_and_prints_the_papers_std(paper_dir, home, capsys):
    assert main(["table3"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(home / "results" / "table3.csv").set_index("class")
    assert table.loc["Standard Deviation", "cluster"] == pytest.approx(41.4, abs=0.05)
    assert "Standard Deviation" in out and f"Wrote {home / 'results' / 'table3.csv'}" in out


def test_data_names_the_verified_folder(paper_dir, capsys):
    assert main(["data"]) == 0
    assert f"The paper's seven files are verified in {paper_dir}." in capsys.readouterr().out


def test_reproduce_with_a_bad_params_file_exits_non_zero_with_its_name(tmp_path, capsys):
    params = tmp_path / "bad.yaml"
    params.write_text("notebooks: 3\n", encoding="utf-8")
    assert main(["reproduce", "--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("alsafe reproduce: ") and "bad.yaml: expected a `notebooks:` list" in err


def test_the_module_runs_as_a_command():
    result = subprocess.run([sys.executable, "-m", "alsafe", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("data", "table3", "init", "reproduce"))


def _tiny_notebook(path, parameters: str, body: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def record_home(home, tmp_path, monkeypatch):
    """A scratch home with a README holding the results markers, and stand-ins for notebooks 01 and 07."""
    from alsafe import reproduce

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write = ("from alsafe import config\nconfig.results_dir().mkdir(exist_ok=True)\n"
             "(config.results_dir() / 'table3.csv').write_text(TABLE3)")
    _tiny_notebook(notebooks / "01_data_collection.ipynb", "SEED = 0  # seed\nTABLE3 = ''  # what to write", write)
    _tiny_notebook(notebooks / "07_your_own_data.ipynb",
                   "SEED = 0  # seed\nBUDGET = 6  # labels\nROUND_SIZE = 3  # per round\nN_CLUSTERS = 3  # clusters\n"
                   "N_VARIATIONS = 0  # none\nBACKEND = 'local'  # offline\nMODEL = ''  # none",
                   "from alsafe import config\n(config.home() / 'mine.txt').write_text('own data')")
    monkeypatch.setattr(reproduce, "NOTEBOOKS_DIR", notebooks)
    (home / "README.md").write_text("# Project\n\n<!-- results:start -->\nstale\n<!-- results:end -->\n\nTail.\n",
                                    encoding="utf-8")
    table3 = pd.DataFrame({"class": ["Standard Deviation"], **{f"{a}{s}": [v] for a, v in
                           [("random", 1.0), ("topn", 2.0), ("coreset", 3.0), ("cluster", 4.0)]
                           for s in ("", " (paper)")}}).to_csv(index=False)
    paper = tmp_path / "paper.yaml"
    paper.write_text(json.dumps({"notebooks": [{"notebook": "01_data_collection.ipynb",
                                                "parameters": {"TABLE3": table3}}]}), encoding="utf-8")
    own = tmp_path / "own.yaml"
    own.write_text(json.dumps({"notebooks": [{"notebook": "07_your_own_data.ipynb"}]}), encoding="utf-8")
    return home, paper, own


@pytest.mark.notebooks
def test_a_paper_plan_renders_the_readmes_once_from_results(record_home, capsys):
    from alsafe.paper.conclusions import results_section

    home, paper, _ = record_home
    assert main(["reproduce", "--params", str(paper)]) == 0
    out = capsys.readouterr().out
    readme = (home / "README.md").read_text(encoding="utf-8")
    section = results_section(home / "results")
    assert readme == f"# Project\n\n<!-- results:start -->\n{section}<!-- results:end -->\n\nTail.\n"
    assert "Table 3 (class-count std of the released splits) reproduces from the files: random 1.0 (paper 1.0)" in section
    times = pd.read_csv(home / "results" / "pipeline.csv")
    assert times["notebook"].tolist() == ["01_data_collection.ipynb"] and "`make paper` (" in readme
    assert (home / "results" / "README.md").read_text(encoding="utf-8").startswith("# Results\n")
    assert f"Recorded {home / 'README.md'}" in out and f"Recorded {home / 'results' / 'pipeline.csv'}" in out


@pytest.mark.notebooks
def test_an_own_data_plan_leaves_the_papers_record_byte_identical(record_home, capsys):
    home, paper, own = record_home
    assert main(["reproduce", "--params", str(paper)]) == 0
    record = ["README.md", "results/README.md", "results/pipeline.csv", "results/pipeline.meta.json"]
    before = {name: (home / name).read_bytes() for name in record}
    capsys.readouterr()
    assert main(["reproduce", "--params", str(own)]) == 0
    out = capsys.readouterr().out
    assert (home / "mine.txt").read_text() == "own data"  # it ran
    assert {name: (home / name).read_bytes() for name in record} == before
    assert "07_your_own_data.ipynb: " in out and "Not a paper plan: README.md and results/pipeline.csv are left" in out
    assert "Recorded" not in out


@pytest.mark.notebooks
def test_a_partial_paper_plan_renders_the_readmes_but_keeps_the_whole_runs_times(record_home, capsys):
    home, paper, _ = record_home
    assert main(["reproduce", "--params", str(paper)]) == 0
    times = (home / "results" / "pipeline.csv").read_bytes()
    (home / "README.md").write_text("<!-- results:start -->\nstale\n<!-- results:end -->\n", encoding="utf-8")
    assert main(["reproduce", "--params", str(paper), "--only", "01"]) == 0
    assert "stale" not in (home / "README.md").read_text() and (home / "results" / "pipeline.csv").read_bytes() == times
