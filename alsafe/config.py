"""Paths and environment variables, resolved on call (nothing happens on import).

Environment variables
---------------------
ALSAFE_DATA_DIR
    Folder holding the paper's seven TSV files; used instead of downloading them.
ALSAFE_HOME
    Root for ``data/``, ``results/``, ``figures/``, ``outputs/`` and ``.cache/``
    (default: the repository checkout, or the current directory when installed elsewhere).
ALSAFE_CACHE_DIR
    Where embeddings and converted models are cached (default ``<home>/.cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_VARIABLE = "ALSAFE_DATA_DIR"


def home() -> Path:
    """The project root that results, figures and caches are written under."""
    if os.environ.get("ALSAFE_HOME"):
        return Path(os.environ["ALSAFE_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd()


def raw_data_dir() -> Path:
    """Folder the paper's files are downloaded into (``data/raw``)."""
    return home() / "data" / "raw"


def local_data_dir() -> Path | None:
    """The folder named by ``ALSAFE_DATA_DIR``, or None when unset."""
    value = os.environ.get(DATA_DIR_VARIABLE, "").strip()
    return Path(value).expanduser().resolve() if value else None


def results_dir() -> Path:
    return home() / "results"


def figures_dir() -> Path:
    return home() / "figures"


def outputs_dir() -> Path:
    return home() / "outputs"


def cache_dir() -> Path:
    value = os.environ.get("ALSAFE_CACHE_DIR", "").strip()
    return Path(value).expanduser().resolve() if value else home() / ".cache"


def resolve(path: str | Path) -> Path:
    """``path`` itself when absolute, else relative to :func:`home` (so notebooks and CLI agree on places)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else home() / path
