"""The one writer of ``results/`` and ``figures/``: tables to ``<id>.csv`` with a ``<id>.meta.json`` (commit,
parameters, wall time, notes), figures to ``<id>.png``. Analysis code returns objects; notebooks' record
cells hand those same objects here."""

from __future__ import annotations

import json
import platform
import subprocess
import time
import warnings
from pathlib import Path

import pandas as pd

from alsafe import config
from alsafe.files import write_atomically


# What a run writes, not what makes it: changes here do not make a result unreproducible.
OUTPUT_PATHS = ("results", "figures", "README.md")


def git_commit() -> str | None:
    """The checkout's commit, with ``-dirty`` when tracked files other than the outputs (results/, figures/,
    README.md) have uncommitted changes; None outside git."""
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){path}" for path in OUTPUT_PATHS)], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def save_table(table: pd.DataFrame, table_id: str, params: dict | None = None, started_at: float | None = None,
               notes: list[str] | None = None, folder: Path | None = None) -> Path:
    """Write ``table`` to ``<folder>/<table_id>.csv`` and ``<table_id>.meta.json`` beside it.

    The metadata records the git commit, the parameters, the wall time since ``started_at``
    and the notes: ``notes`` plus those the table carries in ``table.attrs["notes"]`` (for example
    why a number differs from the paper's).
    """
    notes = list(table.attrs.get("notes", [])) + list(notes or [])
    commit = git_commit()
    dirty = commit is not None and commit.endswith("-dirty")
    if dirty:
        warnings.warn(f"{table_id} is written from a checkout with uncommitted changes ({commit}); commit first so "
                      "the result can be regenerated from a commit.", stacklevel=2)
    folder = Path(folder) if folder else config.results_dir()
    path = write_atomically(folder / f"{table_id}.csv", lambda tmp: table.to_csv(tmp, index=False))
    meta = {
        "table": table_id,
        "rows": len(table),
        "columns": list(map(str, table.columns)),
        "git_commit": commit,
        "params": params or {},
        "wall_time_s": None if started_at is None else round(time.time() - started_at, 3),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "notes": notes or [],
    }
    if dirty:
        meta["warning"] = "written from a checkout with uncommitted changes: no commit reproduces it exactly"
    write_atomically(folder / f"{table_id}.meta.json",
                     lambda tmp: tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8"))
    return path


def save_figure(figure, figure_id: str, folder: Path | None = None, dpi: int = 150) -> Path:
    """Write a matplotlib figure to ``<folder>/<figure_id>.png`` (default ``figures/``) and close it."""
    import matplotlib.pyplot as plt

    folder = Path(folder) if folder else config.figures_dir()
    path = write_atomically(folder / f"{figure_id}.png",
                            lambda tmp: figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png"))
    plt.close(figure)
    return path


def save_tables(tables: dict[str, pd.DataFrame], params: dict | None = None, started_at: float | None = None,
                folder: Path | None = None) -> dict[str, Path]:
    """:func:`save_table` for each ``{table id: table}``; returns id -> path."""
    return {table_id: save_table(table, table_id, params, started_at, folder=folder) for table_id, table in tables.items()}


def save_figures(figures: dict, folder: Path | None = None) -> dict[str, Path]:
    """:func:`save_figure` for each ``{figure id: figure}``; returns id -> path."""
    return {figure_id: save_figure(figure, figure_id, folder) for figure_id, figure in figures.items()}


def save_parquet(table: pd.DataFrame, name: str, folder: Path | None = None) -> Path:
    """Write ``table`` to ``<folder>/<name>.parquet`` (default ``results/``), for a later notebook to read."""
    folder = Path(folder) if folder else config.results_dir()
    return write_atomically(folder / f"{name}.parquet", lambda tmp: table.to_parquet(tmp, index=False))


def save_text(text: str, name: str, folder: Path | None = None) -> Path:
    """Write ``text`` to ``<folder>/<name>`` (default ``results/``), e.g. the generated ``README.md``."""
    folder = Path(folder) if folder else config.results_dir()
    return write_atomically(folder / name, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def splice_section(text: str, marker: str, path: Path) -> Path:
    """Replace what stands between ``<!-- <marker>:start -->`` and ``<!-- <marker>:end -->`` in ``path`` by ``text``."""
    path = Path(path)
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    document = path.read_text(encoding="utf-8")
    if document.count(start) != 1 or document.count(end) != 1 or document.index(start) > document.index(end):
        raise ValueError(f"{path} needs exactly one {start} followed by one {end} to hold the generated section.")
    head, rest = document.split(start)
    _, tail = rest.split(end)
    return write_atomically(path, lambda tmp: tmp.write_text(f"{head}{start}\n{text.rstrip()}\n{end}{tail}",
                                                             encoding="utf-8"))
