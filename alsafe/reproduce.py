"""The reproduction pipeline: run the numbered notebooks through papermill with a params file.

A params file (``params/*.yaml``) names the notebooks it runs, in order, and their parameters::

    description: quick default
    notebooks:
      - notebook: 02_bootstrap.ipynb
        parameters: {SEED: 0, LEARNER: tfidf-lr}

Every parameter is checked before anything runs: against the notebook's ``parameters`` cell (an
unknown name is an error, not papermill's warning), then, with the cell's defaults filled in,
against the notebook's schema (:mod:`alsafe.paper.schemas` for 01-06, :mod:`alsafe.parameters` for 07) (types, ranges, cross-constraints); all
problems of a params file are reported at once. Executed copies go to ``outputs/``; a failed
notebook stops the run, names the cell, and keeps its executed copy for inspection.

While a notebook runs, the terminal shows two bars: the plan's (notebooks done, elapsed time, the one
running; no estimate, since notebooks differ a hundredfold in length) and, for a notebook whose package
code reports its loop through :mod:`alsafe.progress`, that loop's (``05_transfer_experiments: runs 12/45``,
with its estimate). Kernels are reached through Unix sockets in a private temporary folder, not loopback TCP.

The paper's record
------------------
A plan is **the paper's** when every notebook it names is one of the paper's six (:data:`PAPER_NOTEBOOKS`,
01-06), as in ``params/paper.yaml``, ``paper-full.yaml``, ``paper-hub.yaml`` and ``smoke.yaml``. After a
paper plan, :func:`record_plan` regenerates the generated README sections from ``results/`` (one renderer,
:func:`alsafe.paper.conclusions.write_readmes`) and, after a whole one (no ``--only``), writes the
per-notebook times to ``results/pipeline.csv``. A plan that runs notebook 07 (your own data,
``params/own-data.yaml`` and copies of it) never touches README.md or ``results/pipeline.csv``; its
times are only printed.
"""

from __future__ import annotations

import ast
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from alsafe import config, parameters, progress as kernel_progress
from alsafe.paper import schemas as paper_schemas
from alsafe.exceptions import PipelineError

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# The notebooks that reproduce the paper; a plan of these alone is the paper's (see the module docstring).
PAPER_NOTEBOOKS = ("01_data_collection.ipynb", "02_bootstrap.ipynb", "03_active_learning_loop.ipynb",
                   "04_generation.ipynb", "05_transfer_experiments.ipynb", "06_error_analysis.ipynb")


@dataclass(frozen=True)
class Step:
    notebook: Path
    parameters: dict


@dataclass
class StepResult:
    notebook: str
    seconds: float
    output: Path
    wrote: list[str] = field(default_factory=list)


def load_plan(params_file: str | Path, notebooks_dir: str | Path | None = None, only: list[str] | None = None) -> list[Step]:
    """Read and check a params file; ``only`` keeps notebooks whose name starts with one of the prefixes."""
    import papermill

    params_file = Path(params_file)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS_DIR
    if not params_file.exists():
        raise PipelineError(f"Params file {params_file} does not exist.")
    try:
        plan = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PipelineError(f"{params_file}: not valid YAML ({error}).") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("notebooks"), list) or not plan["notebooks"]:
        raise PipelineError(f"{params_file}: expected a `notebooks:` list of {{notebook, parameters}} entries.")
    steps, problems = [], []
    for position, entry in enumerate(plan["notebooks"], start=1):
        if not isinstance(entry, dict) or "notebook" not in entry:
            raise PipelineError(f"{params_file}: entry {position} needs a `notebook:` name.")
        notebook = notebooks_dir / entry["notebook"]
        if not notebook.exists():
            raise PipelineError(f"{params_file}: entry {position} names {entry['notebook']}, which is not in {notebooks_dir}.")
        given = entry.get("parameters") or {}
        if not isinstance(given, dict):
            raise PipelineError(f"{params_file}: entry {position} ({entry['notebook']}): `parameters:` must be a "
                                f"mapping of NAME: value, not a {type(given).__name__}.")
        declared = papermill.inspect_notebook(str(notebook))
        moved = check_renamed(notebook.stem, given)
        if moved:
            raise PipelineError(f"{params_file}: {entry['notebook']}: " + "; ".join(moved) + ".")
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise PipelineError(f"{params_file}: {entry['notebook']} has no parameter(s) {', '.join(unknown)}; "
                                f"its parameters cell declares {', '.join(sorted(declared)) or 'none'}.")
        values = _defaults(declared) | given
        problems += [f"{notebook.name}: {problem}" for problem in check_parameters(notebook.stem, values)]
        steps.append(Step(notebook, given))
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise PipelineError(f"{params_file}: {count} with the parameters, nothing was run:\n  - "
                            + "\n  - ".join(problems))
    if only:
        steps = [s for s in steps if any(s.notebook.name.startswith(prefix) for prefix in only)]
        if not steps:
            raise PipelineError(f"--only {' '.join(only)} matches no notebook of {params_file}.")
    return steps


def check_parameters(notebook: str, values: dict) -> list[str]:
    """The problems of a notebook's parameters against its schema: the paper's (alsafe.paper.schemas) or the tool's."""
    return (paper_schemas.check if notebook in paper_schemas.SCHEMAS else parameters.check)(notebook, values)


def check_renamed(notebook: str, given: dict) -> list[str]:
    """One sentence per old parameter name in ``given``, naming its new name."""
    return parameters.renamed(notebook, given, parameters.RENAMED | paper_schemas.RENAMED)


def _defaults(declared: dict) -> dict:
    """The literal defaults of a notebook's parameters cell (as papermill reports them)."""
    values = {}
    for name, info in declared.items():
        try:
            values[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            continue  # a default that is not a literal: the schema checks only what is given
    return values


def _snapshot(folders: list[Path]) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()}


def _kernel_config(folder: str):
    """papermill's kernel over IPC: Unix sockets in ``folder`` (0700, this user's only) instead of loopback TCP,
    about which ipykernel 7 warns that it is unencrypted. Windows has no IPC transport and keeps TCP."""
    from traitlets.config import Config

    if os.name == "nt":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(folder, "kernel")}})


def run_plan(steps: list[Step], output_dir: str | Path | None = None, progress: bool = True) -> list[StepResult]:
    """Execute each step with papermill; stops at the first failure with a :class:`PipelineError`."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output_dir = Path(output_dir) if output_dir else config.outputs_dir()
    output_dir.mkdir(parents=True, exist_ok=True)
    watched = [config.results_dir(), config.figures_dir()]
    results = []
    os.environ.setdefault("MPLBACKEND", "agg")  # the kernels inherit it: figures render headless
    # No estimate on this bar: its average notebook says nothing of 05's 35 minutes; the inner bar estimates.
    bar = tqdm(steps, desc="notebooks", unit="notebook", disable=not progress, position=0,
               bar_format="{desc} {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    for step in bar:
        bar.set_postfix_str(step.notebook.name)
        output = output_dir / step.notebook.name
        before = _snapshot(watched)
        started = time.time()
        previous = os.environ.get(kernel_progress.VARIABLE)
        try:
            with tempfile.TemporaryDirectory(prefix="alsafe-kernel-") as scratch:
                progress_file = os.path.join(scratch, "progress.json")
                os.environ[kernel_progress.VARIABLE] = progress_file  # the kernel inherits it
                with kernel_progress.Watcher(progress_file, step.notebook.stem, parent=bar, disable=not progress):
                    papermill.execute_notebook(str(step.notebook), str(output), parameters=step.parameters,
                                               cwd=str(step.notebook.parent), progress_bar=False,
                                               kernel_name="python3", config=_kernel_config(scratch))
        except PapermillExecutionError as error:
            bar.close()
            raise PipelineError(f"{step.notebook.name} failed in cell {error.cell_index + 1} ({error.ename}: "
                                f"{error.evalue}); the executed copy is kept at {output}.") from None
        finally:
            if previous is None:
                os.environ.pop(kernel_progress.VARIABLE, None)
            else:
                os.environ[kernel_progress.VARIABLE] = previous
        after = _snapshot(watched)
        wrote = sorted(os.path.relpath(p, config.home()) for p, t in after.items() if before.get(p) != t)
        results.append(StepResult(step.notebook.name, time.time() - started, output, wrote))
    bar.close()
    return results


def is_paper_plan(notebooks: list[str]) -> bool:
    """Whether a plan naming ``notebooks`` (file names) is the paper's: only notebooks of :data:`PAPER_NOTEBOOKS`."""
    return bool(notebooks) and all(name in PAPER_NOTEBOOKS for name in notebooks)


def record_plan(results: list[StepResult], params_file: str | Path, whole: bool = True) -> list[Path]:
    """The paper's record after a paper plan: ``results/pipeline.csv`` (whole plans only) and the README
    sections rendered from ``results/``; nothing after any other plan. Returns the files written."""
    if not is_paper_plan([r.notebook for r in results]):
        return []
    import pandas as pd

    from alsafe import report
    from alsafe.paper.conclusions import write_readmes

    written = []
    if whole:
        times = pd.DataFrame({"notebook": [r.notebook for r in results],
                              "seconds": [round(r.seconds, 1) for r in results]})
        written.append(report.save_table(times, "pipeline", params={"params_file": str(params_file)}))
    return written + write_readmes()


def summary(results: list[StepResult]) -> str:
    """A short human-readable account of what each notebook took and wrote."""
    lines = []
    for result in results:
        lines.append(f"{result.notebook}: {result.seconds:.1f} s -> {result.output}")
        lines.extend(f"    wrote {path}" for path in result.wrote)
    lines.append(f"total: {sum(r.seconds for r in results):.1f} s for {len(results)} notebook(s)")
    return "\n".join(lines)
