"""Shared fixtures: the paper's data (skipped with a reason when ALSAFE_DATA_DIR is unset) and a scratch home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alsafe.paper import data


@pytest.fixture(scope="session")
def paper_dir() -> Path:
    """The verified folder of the paper's seven files; skips when ALSAFE_DATA_DIR is unset."""
    value = os.environ.get("ALSAFE_DATA_DIR")
    if not value:
        pytest.skip("ALSAFE_DATA_DIR is unset: the paper's released dataset is not available to this run")
    return data.paper_data_dir(download=False)


@pytest.fixture(scope="session")
def paper_dataset(paper_dir):
    return data.load_paper_dataset(paper_dir)


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache():
    """One model and embedding cache for the whole run (converted models are built once, not per test)."""
    from alsafe import config

    if not os.environ.get("ALSAFE_CACHE_DIR"):
        os.environ["ALSAFE_CACHE_DIR"] = str(config.cache_dir())
    yield


_CHECKOUT = Path(__file__).resolve().parent.parent
_KEPT_AS_THEY_ARE = ("alsafe", "notebooks", "params")  # tests write only under temporary folders


def _tree(folders) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for folder in folders for p in sorted((_CHECKOUT / folder).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="session", autouse=True)
def package_left_as_it_was():
    """Fails the run when a test created, changed or removed a file of the package, the notebooks or the params."""
    before = _tree(_KEPT_AS_THEY_ARE)
    yield
    after = _tree(_KEPT_AS_THEY_ARE)
    changed = sorted(set(before) ^ set(after) | {p for p in before if p in after and before[p] != after[p]})
    assert not changed, f"tests wrote inside the checkout: {changed[:5]}"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A scratch ALSAFE_HOME so results, figures and downloads land in a temporary folder."""
    monkeypatch.setenv("ALSAFE_HOME", str(tmp_path))
    return tmp_path
