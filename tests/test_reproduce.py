"""The papermill pipeline: params checked against notebooks, failures named, outputs recorded."""

from __future__ import annotations

import os
import re

import nbformat
import pytest

from alsafe.reproduce import PipelineError, load_plan, run_plan, summary


def _notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("SEED = 0  # random seed\nNAME = 'x'  # what to write")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_write.ipynb", "from alsafe import config\n"
              "p = config.results_dir() / f'{NAME}.csv'\np.parent.mkdir(parents=True, exist_ok=True)\n"
              "p.write_text(f'seed\\n{SEED}\\n')")
    _notebook(folder / "02_fail.ipynb", "x = 1\nraise ValueError('broken on purpose')")
    _notebook(folder / "03_alsafe_error.ipynb", "from alsafe.pools import read_table\nread_table('missing.csv')")
    _notebook(folder / "04_progress.ipynb", "from alsafe.progress import tracked\n"
              "for step in tracked(range(3), 'steps'):\n    pass")
    return folder


def test_unknown_parameter_is_an_error_naming_it(tmp_path, notebooks):
    params = tmp_path / "p.yaml"
    params.write_text("notebooks:\n  - notebook: 01_write.ipynb\n    parameters: {SEED: 1, EPOCHS: 3}\n")
    with pytest.raises(PipelineError, match=r"01_write.ipynb has no parameter\(s\) EPOCHS; its parameters cell "
                                            r"declares NAME, SEED"):
        load_plan(params, notebooks)
    params.write_text("notebooks:\n  - notebook: 09_missing.ipynb\n")
    with pytest.raises(PipelineError, match="names 09_missing.ipynb, which is not in"):
        load_plan(params, notebooks)


@pytest.mark.notebooks
def test_run_writes_results_and_a_failure_names_the_cell(tmp_path, notebooks, home):
    params = tmp_path / "p.yaml"
    params.write_text("notebooks:\n  - notebook: 01_write.ipynb\n    parameters: {SEED: 7, NAME: t}\n"
                      "  - notebook: 02_fail.ipynb\n")
    steps = load_plan(params, notebooks, only=["01"])
    results = run_plan(steps, output_dir=tmp_path / "out", progress=False)
    assert (home / "results" / "t.csv").read_text() == "seed\n7\n"
    assert results[0].wrote == ["results/t.csv"] and (tmp_path / "out" / "01_write.ipynb").exists()
    assert "01_write.ipynb" in summary(results)
    with pytest.raises(PipelineError, match=r"02_fail.ipynb failed in cell 3 \(ValueError: broken on purpose\); "
                                            r"the executed copy is kept at"):
        run_plan(load_plan(params, notebooks, only=["02"]), output_dir=tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "02_fail.ipynb").exists()


@pytest.mark.notebooks
def test_an_alsafe_error_in_a_notebook_shows_its_sentence_not_a_traceback(tmp_path, notebooks, home):
    params = tmp_path / "p.yaml"
    params.write_text("notebooks:\n  - notebook: 03_alsafe_error.ipynb\n")
    with pytest.raises(PipelineError, match=r"03_alsafe_error.ipynb failed in cell 3 \(PoolError: missing.csv does "
                                            r"not exist.\)"):
        run_plan(load_plan(params, notebooks), output_dir=tmp_path / "out", progress=False)
    executed = nbformat.read(tmp_path / "out" / "03_alsafe_error.ipynb", as_version=4)
    error = next(o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error")
    assert error.traceback == ["PoolError: missing.csv does not exist."]


@pytest.mark.notebooks
def test_a_loop_in_the_kernel_drives_a_terminal_bar_to_its_total(tmp_path, notebooks, home, capfd, monkeypatch):
    from alsafe import progress

    monkeypatch.delenv(progress.VARIABLE, raising=False)
    params = tmp_path / "p.yaml"
    params.write_text("notebooks:\n  - notebook: 04_progress.ipynb\n")
    run_plan(load_plan(params, notebooks), output_dir=tmp_path / "out", progress=True)
    err = capfd.readouterr().err  # the kernel's own stderr included: it shares the terminal
    assert "04_progress: steps 3/3" in err
    outer = [part for part in re.split(r"[\r\n]", err) if part.startswith("notebooks ")]
    assert outer[-1].startswith("notebooks 1/1 [") and not any("<" in part for part in outer)  # no per-notebook ETA
    assert "without encryption" not in err  # the kernel listens on Unix sockets, not loopback TCP
    assert progress.VARIABLE not in os.environ and not list((tmp_path / "out").glob("kernel*"))
