"""The run store's SQLite schema, and how every connection to a run file is set up.

Tables: ``meta`` (taxonomy, parameters), ``items`` (pool and labeled texts), ``labels`` (human
answers, with annotator and time; retracted, never deleted), ``rounds`` and ``selections`` (what
each round picked, why, and how far it got), ``variations`` (LLM outputs with their filter verdicts)
and ``llm_calls`` (the content-addressed generation cache and cost ledger).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from alsafe.exceptions import StoreError

SCHEMA_VERSION = 1

def plain_params(params: dict | None) -> dict:
    """``params`` as JSON keeps them (tuples become lists; objects and functions become their names)."""
    return json.loads(json.dumps(params or {}, default=lambda o: getattr(o, "__qualname__", type(o).__qualname__)))


# The seed's current label: its latest label not retracted (as :meth:`RunStore.labeled`).
SEED_LABEL_SQL = ("SELECT l.label FROM labels l WHERE l.item_id = v.seed_id AND l.retracted_at IS NULL "
                  "ORDER BY l.id DESC LIMIT 1")
# A variation belongs to its seed's current label: a same-label variation carries that label; another
# relation's (a contrast) needs a current seed label other than its own. Undoing a label makes its
# variations stop counting at once, whoever reads them (training set, export, review list), including
# variations a generation already under way writes after the undo.
CURRENT_VARIATION = (f"COALESCE(CASE WHEN v.relation = 'same_label' THEN v.label = ({SEED_LABEL_SQL}) "
                     f"ELSE ({SEED_LABEL_SQL}) <> v.label END, 0)")


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('pool', 'labeled', 'dev', 'test')),
    gold_label TEXT,
    subreddit TEXT,
    source TEXT,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items(id),
    label TEXT NOT NULL,
    annotator TEXT NOT NULL,
    note TEXT,
    round INTEGER,
    created_at REAL NOT NULL,
    retracted_at REAL
);
CREATE INDEX IF NOT EXISTS labels_item ON labels(item_id);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    strategy TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('selected', 'labeled', 'generated', 'trained')),
    n_selected INTEGER NOT NULL,
    metrics TEXT,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS selections (
    round INTEGER NOT NULL REFERENCES rounds(round),
    item_id TEXT NOT NULL REFERENCES items(id),
    position INTEGER NOT NULL,
    cluster INTEGER,
    score REAL,
    predicted_label TEXT,
    PRIMARY KEY (round, item_id)
);
CREATE TABLE IF NOT EXISTS variations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seed_id TEXT NOT NULL REFERENCES items(id),
    round INTEGER,
    sample_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL,
    relation TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason TEXT,
    reviewed_by TEXT,
    reviewed_at REAL,
    created_at REAL NOT NULL,
    UNIQUE (seed_id, relation, label, prompt_hash, sample_index)
);
CREATE INDEX IF NOT EXISTS variations_seed ON variations(seed_id);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cache_key TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    latency_s REAL,
    created_at REAL NOT NULL
);
"""

ROLES = ("pool", "labeled", "dev", "test")
ROUND_STATUSES = ("selected", "labeled", "generated", "trained")


BUSY_TIMEOUT_S = 30.0  # how long a statement waits for another connection's write before it says the run is busy


def connect(path: Path, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection to a run file, set up as :mod:`alsafe.store` describes (WAL, ``synchronous=FULL``)."""
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per logical step.
    connection = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


SQLITE_HEADER = b"SQLite format 3\x00"


def check_file(path: Path) -> None:
    """Refuse a folder or an empty file before SQLite touches it (it would make an empty file a database).

    Only ``stat``: opening the run file with Python, even to read its header, and closing it would drop
    every POSIX lock this process's SQLite connections hold on it (see :mod:`alsafe.store`).
    """
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a run store file.")
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is empty (0 bytes); it is not a run store (delete it, or choose another path).")


def open_error(path: Path, error: sqlite3.Error, timeout: float) -> StoreError:
    """What opening ``path`` failing with ``error`` means, in one sentence: busy, not SQLite, or damaged."""
    if is_busy(error):
        return StoreError(f"{path} is busy: another program holds it ({error}) for more than {timeout:g} s; "
                          "try again when it is done.")
    if getattr(error, "sqlite_errorname", "") == "SQLITE_NOTADB" or "file is not a database" in str(error):
        # Reading it with Python is safe only now: no connection of this process can hold a lock on a
        # file that SQLite cannot open.
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
        return StoreError(f"{path} is not a SQLite file (it starts with {head!r}); it is not a run store "
                          "(choose another path, or restore the file from a copy).")
    return StoreError(f"{path} is damaged ({error}); restore it from a copy, or delete it and start the run again.")


def is_busy(error: sqlite3.Error) -> bool:
    """Whether ``error`` says another connection holds the file (SQLITE_BUSY or SQLITE_LOCKED), not damage."""
    return getattr(error, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) \
        or "database is locked" in str(error)


def check_contents(connection: sqlite3.Connection, path: Path) -> None:
    """Integrity, the alsafe schema version and readable metadata of an open run file."""
    verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise StoreError(f"{path} is damaged (SQLite's integrity check: {verdict}); restore it from a copy, "
                         "or delete it and start the run again.")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        raise StoreError(f"{path} is a SQLite file but not an alsafe run store (it has no `meta` table); "
                         "choose another path.")
    version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if version is None or version[0] != str(SCHEMA_VERSION):
        raise StoreError(f"{path} has schema version {version and version[0]}, expected {SCHEMA_VERSION}.")
    for key in ("taxonomy", "params"):
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"{path} has no `{key}` entry in its meta table.")
        try:
            json.loads(row[0])
        except json.JSONDecodeError as error:
            raise StoreError(f"{path} has a `{key}` entry that is not JSON ({error}); restore the file "
                             "from a copy.") from None


def remove_files(path: Path) -> None:
    """Delete a SQLite file and its WAL companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
