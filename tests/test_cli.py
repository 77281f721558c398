"""The ``alsafe`` command: each subcommand's output and files, and errors as one line with exit code 2."""

from __future__ import annotations

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
