"""Other processes open the run while a notebook holds it: nothing the notebook committed may be lost.

The bug these guard against: closing any descriptor of the run file drops every POSIX lock the process
holds on it, SQLite's included. A header check (or a lock of our own) that opened and closed the run
file with Python left the notebook's connections unlocked; the next outside open and close then took
itself for the last user, checkpointed and deleted the WAL while the notebook kept committing into the
deleted file. These tests imitate the users: a widget's second connection, a loop lock taken and
released, then a terminal that opens and closes the run once, then the notebook's process dies.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.store import RunStore, StoreError

# A notebook's process: commands on stdin, one answer line each, written only after SQLite committed.
NOTEBOOK = textwrap.dedent("""
    import sys
    from alsafe.store import RunStore
    loop_store = RunStore.open(sys.argv[1])           # the loop's connection
    widget_store = RunStore.open(sys.argv[1])         # the widget opens its own, as LabelingWidget does
    for line in sys.stdin:
        command, _, item = line.strip().partition(" ")
        if command == "label":
            widget_store.add_label(item, "discard", annotator="ann")
        elif command == "lock":                       # a loop starts and ends (ActiveLearningLoop.run)
            with loop_store.loop_lock():
                pass
        print("ok", command, item, flush=True)
""")


def _run(tmp_path, n_items=3):
    path = tmp_path / "run.sqlite"
    pool = pd.DataFrame({"id": [f"p{i}" for i in range(n_items)], "text": [f"title {i}" for i in range(n_items)]})
    RunStore.create(path, PAPER_TAXONOMY, items=lambda: [(pool, "pool", "test", "import")]).close()
    return path


class Notebook:
    """A kernel holding the run, driven line by line; killed with SIGKILL at the end (a crash or a restart)."""

    def __init__(self, path):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.process = subprocess.Popen([sys.executable, "-c", NOTEBOOK, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def __call__(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer == f"ok {command}".strip(), answer

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def _terminal_opens_and_closes(path) -> None:
    """What a CLI, a dashboard in another notebook or a backup script does: open the run, read, close."""
    with RunStore.open(path) as store:
        store.labels()


def _labels(path) -> list[str]:
    with RunStore.open(path) as store:
        return store.labels()["item_id"].tolist()


@pytest.mark.parametrize("before", [[], ["lock"]], ids=["widget-connection", "loop-lock-released"])
def test_a_terminal_opening_the_run_between_labels_loses_none_of_them(tmp_path, before):
    path = _run(tmp_path)
    notebook = Notebook(path)
    try:
        for command in before:
            notebook(command)
        notebook("label p0")
        _terminal_opens_and_closes(path)
        notebook("label p1")
        notebook("label p2")
        _terminal_opens_and_closes(path)
    finally:
        notebook.kill()
    assert _labels(path) == ["p0", "p1", "p2"]
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_plain_sqlite3_readers_and_the_backup_api_lose_nothing_either(tmp_path):
    path = _run(tmp_path)
    notebook = Notebook(path)
    try:
        notebook("lock")
        notebook("label p0")
        reader = sqlite3.connect(path)  # the sqlite3 shell, Datasette, pandas.read_sql
        assert reader.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 1
        reader.close()
        notebook("label p1")
        with RunStore.open(path) as store:
            store.backup(tmp_path / "copy.sqlite")
        notebook("label p2")
    finally:
        notebook.kill()
    assert _labels(path) == ["p0", "p1", "p2"]
    assert _labels(tmp_path / "copy.sqlite") == ["p0", "p1"]


def test_the_loop_lock_lives_beside_the_run_and_the_run_file_is_never_opened_by_python(tmp_path, monkeypatch):
    path = _run(tmp_path)
    opened = []
    real_open = open

    def watching_open(file, *args, **kwargs):
        opened.append(os.path.realpath(file) if isinstance(file, (str, os.PathLike)) else file)
        return real_open(file, *args, **kwargs)

    import builtins
    with RunStore.open(path) as first:
        monkeypatch.setattr(builtins, "open", watching_open)
        monkeypatch.setattr(type(path), "open", lambda self, *a, **k: watching_open(self, *a, **k))
        with RunStore.open(path) as second, second.loop_lock():
            first.add_label("p0", "discard", annotator="ann")
    assert os.path.realpath(path) not in opened
    assert (tmp_path / "run.sqlite.lock").exists()


def test_two_processes_creating_the_same_run_at_once_keep_one_file(tmp_path):
    """Two notebooks started together: the second finds the first's run instead of replacing it under it."""
    path = tmp_path / "run.sqlite"
    pool = pd.DataFrame({"id": ["p0", "p1"], "text": ["a", "b"]})
    first = RunStore.open_or_create(path, PAPER_TAXONOMY, items=lambda: [(pool, "pool", "t", "import")])
    first.add_label("p0", "discard", annotator="ann")
    # the race's loser: create() finds the run already there once its own copy is complete
    with pytest.raises(FileExistsError):
        RunStore.create(path, PAPER_TAXONOMY, items=lambda: [(pool, "pool", "t", "import")])
    again = RunStore.open_or_create(path, PAPER_TAXONOMY, items=lambda: [(pool, "pool", "t", "import")])
    assert again.labels()["item_id"].tolist() == ["p0"]
    first.close(), again.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sqlite"]


def test_a_busy_run_is_said_and_its_companions_are_left_alone(tmp_path):
    path = _run(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # a program holding the whole file, as no run store does
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("DELETE FROM meta WHERE key = 'nothing'")
    try:
        companions = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(StoreError, match="is busy"):
            RunStore.open(path, timeout=0.2)
        assert sorted(p.name for p in tmp_path.iterdir()) == companions
    finally:
        holder.execute("ROLLBACK")
        holder.close()
