"""The run store: one SQLite file per run holding everything the run produced.

Its tables are described in :mod:`alsafe.schema`.

Every public write is one transaction: a process killed at any moment leaves the file as it was
after the last completed call, and a call that returned has committed.

How the file is kept safe while several processes use it (the rules every change here keeps):

- **Journal mode WAL.** Readers never block the writer nor the writer them, so an annotator's label
  commits at once while a dashboard, a second annotator or ``sqlite3`` reads the run. Writers take
  turns (``BEGIN IMMEDIATE``, waiting up to :data:`alsafe.schema.BUSY_TIMEOUT_S`); a run still busy
  after that is a :class:`StoreError` that says so, and nothing is deleted on its account.
- **synchronous=FULL.** In WAL mode ``NORMAL`` keeps commits through a crash of the process but may
  lose the last ones on a power cut; a label is a person's time, so every commit is fsynced.
- **Only SQLite opens the run file** (and its ``-wal``/``-shm``) while a connection of this process may
  exist. On Linux closing *any* descriptor of a file drops *every* POSIX lock the process holds on it,
  SQLite's included (SQLite's "How To Corrupt An SQLite Database File", section 2.2); the next
  process to close the run then takes itself for the last user, checkpoints and deletes the WAL while
  this process goes on committing into the deleted file. So the file is checked with ``stat`` and by
  SQLite itself (Python reads its first bytes only after SQLite refused it as "not a database"),
  the one-loop lock is a ``flock`` on its own file ``<run>.lock`` beside the run, and a copy is made
  with :meth:`RunStore.backup` (SQLite's backup API), never by copying the file.
- **Who may open what.** Any number of processes may open a run at once: the notebook's loop and its
  widget (two connections in one kernel), more annotators, dashboards, ``alsafe`` on the command line,
  the ``sqlite3`` shell, Datasette, backup scripts. One loop at a time (:meth:`RunStore.loop_lock`).
  The run must live on a local disk: WAL needs shared memory, which network file systems do not give.
  Everything in a process must use Python's ``sqlite3`` (one SQLite library per process: a second copy
  linked into the same process, as some database drivers ship, does not see the first one's locks).
- **Created whole.** A new run is written under a name of its own process and linked into place only
  when complete, never over a run that appeared meanwhile (another process's run is opened instead).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pandas as pd

from alsafe.exceptions import StoreError
from alsafe.ledger import LLMLedger
from alsafe.run_file import backup, link_without_replacing, remove_abandoned_copies, remove_new_companions, try_lock
from alsafe.schema import (CURRENT_VARIATION, ROLES, ROUND_STATUSES, SCHEMA, SCHEMA_VERSION,
                           BUSY_TIMEOUT_S, check_contents, check_file, connect, is_busy, open_error, plain_params,
                           remove_files)
from alsafe.taxonomy import Taxonomy
from alsafe.variation_log import VariationLog

ItemBatch = tuple  # (table, role, source, annotator): one call of RunStore.add_items


class RunStore(VariationLog, LLMLedger):
    """One run's SQLite file.

    :meth:`open_or_create` is the door every caller uses: it continues a run made with the same
    parameters, or creates it with its items in one step. :meth:`create` and :meth:`open` are its
    two halves. A store can be used as a context manager (closing the connection on exit).
    """

    def __init__(self, path: str | Path, connection: sqlite3.Connection):
        self.path = Path(path)
        self._db = connection

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open_or_create(cls, path: str | Path, taxonomy: Taxonomy, params: dict | None = None,
                       items: Callable[[], Iterable[ItemBatch]] | None = None, rebuild: bool = False) -> "RunStore":
        """Continue the run at ``path``, or create it (see :meth:`create`) when there is none.

        An existing run made with other ``params`` or another taxonomy is refused, naming what
        differs: continuing it would mix two experiments. It is replaced by a new one instead when
        ``rebuild`` is set (for runs that hold no person's work, such as simulations) or when its first
        round never started (nothing in it but the imported items: a corrected rerun is not blocked).
        ``items`` is only called when creating.
        """
        path = Path(path)
        if not path.exists():
            try:
                return cls.create(path, taxonomy, params, items)
            except FileExistsError:  # another process created it meanwhile: continue that run
                pass
        store = cls.open(path)
        try:
            differs = store.params != plain_params(params) or store.taxonomy.to_dict() != taxonomy.to_dict()
            if differs and (rebuild or store._untouched()):
                store.close()
                remove_files(path)
                return cls.create(path, taxonomy, params, items)
            stored, given = store.params, plain_params(params)
            differing = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
            if differing:
                raise StoreError(f"{path} was made with other parameters ("
                                 + ", ".join(f"{k}: {stored.get(k)!r} there, {given.get(k)!r} now" for k in differing)
                                 + "); delete it or choose another run path.")
            if store.taxonomy.to_dict() != taxonomy.to_dict():
                raise StoreError(f"{path} was made with the taxonomy {store.taxonomy.names}, not {taxonomy.names}; "
                                 "delete it or choose another run path.")
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def create(cls, path: str | Path, taxonomy: Taxonomy, params: dict | None = None,
               items: Callable[[], Iterable[ItemBatch]] | None = None) -> "RunStore":
        """Create a new run file holding ``taxonomy``, the run's ``params`` and its first items.

        ``items()`` returns ``(table, role, source, annotator)`` batches for :meth:`add_items`; it is
        called before anything is written, and the file appears under ``path`` only once every batch
        is in, so a failure anywhere leaves nothing behind.
        """
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"Run store {path} already exists; open it with RunStore.open_or_create to continue.")
        if not isinstance(taxonomy, Taxonomy):
            raise TypeError(f"taxonomy must be a Taxonomy, not {type(taxonomy).__name__}.")
        batches = list(items()) if items is not None else []
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned_copies(path)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        remove_files(partial)
        store = cls(partial, connect(partial))
        try:
            with store.transaction() as db:
                # executescript() would commit on its own; run the statements inside our transaction.
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
                now = str(time.time())
                db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("created_at", now),
                     ("taxonomy", json.dumps(taxonomy.to_dict())), ("params", json.dumps(plain_params(params)))],
                )
            for table, role, source, annotator in batches:
                store.add_items(table, role=role, source=source, annotator=annotator)
            store.close()  # the last connection: SQLite folds the WAL into the file, which is now whole
            link_without_replacing(partial, path)
        finally:
            store.close()
            remove_files(partial)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path, timeout: float = BUSY_TIMEOUT_S) -> "RunStore":
        """Open an existing run file; a file that is not a sound run store is a :class:`StoreError` naming
        it and what is wrong, and leaves nothing new beside it. ``timeout``: seconds to wait for a busy run."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"Run store {path} does not exist; create it with RunStore.open_or_create.")
        check_file(path)
        companions = {suffix: Path(str(path) + suffix).exists() for suffix in ("-wal", "-shm")}
        store = cls(path, None)
        try:
            store._db = connect(path, timeout)
            check_contents(store._db, path)
        except sqlite3.Error as error:
            store.close()
            if not is_busy(error):  # a busy run is someone's work in progress: leave its files alone
                remove_new_companions(path, companions)
            raise open_error(path, error, timeout) from None
        except BaseException:
            store.close()
            remove_new_companions(path, companions)
            raise
        return store

    @property
    def writes(self) -> int:
        """Rows this connection has written so far (a cheap way to tell whether a call changed the run)."""
        return self._db.total_changes

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _untouched(self) -> bool:
        """No round was ever started and every label came with the imported files."""
        rounds = self._db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
        people = self._db.execute("SELECT COUNT(*) FROM labels WHERE annotator NOT IN ('import', 'bootstrap', 'seed')"
                                  ).fetchone()[0]
        return rounds == 0 and people == 0

    @contextmanager
    def loop_lock(self) -> Iterator[None]:
        """Hold this store's loop lock: one loop per store, a second one (in any process) is refused at once.

        A ``flock`` on ``<run>.lock`` beside the run (never on the run file itself: see the module's
        rules): it dies with its process, so a killed loop never leaves the store locked. Labels and
        reviews are not affected (annotators write concurrently). The lock file is never deleted:
        a process still holding the old one would not exclude a process locking a new one.
        """
        handle = try_lock(self.lock_path)
        if handle is None:
            holder = self._db.execute("SELECT value FROM meta WHERE key = 'loop_pid'").fetchone()
            raise StoreError(f"{self.path} is being run by another process (pid {holder[0] if holder else '?'}); "
                             "wait for that loop to finish, or stop it, before starting another.") from None
        try:
            with self.transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('loop_pid', ?)", (str(os.getpid()),))
            yield
        finally:
            handle.close()

    @property
    def lock_path(self) -> Path:
        """The file whose ``flock`` is the loop lock."""
        return self.path.with_name(self.path.name + ".lock")

    def backup(self, target: str | Path) -> Path:
        """A consistent copy of the run at ``target`` while others go on writing (SQLite's backup API).

        Copying the file with ``cp`` or ``shutil`` while it is in use can give a torn copy and, from
        this process, would drop its locks; this cannot. The copy appears whole or not at all.
        """
        return backup(self._db, Path(target))

    # -- metadata ------------------------------------------------------------------------
    @property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.from_dict(json.loads(self._meta("taxonomy")), source=str(self.path))

    @property
    def params(self) -> dict:
        return json.loads(self._meta("params"))

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path} has no `{key}` entry in its meta table.")
        return row[0]

    # -- items ---------------------------------------------------------------------------
    def add_items(self, table: pd.DataFrame, role: str, source: str = "", annotator: str = "import") -> int:
        """Add texts with columns ``id``, ``text`` and optionally ``label``, ``subreddit``.

        For ``role='labeled'`` the ``label`` column becomes a human label by ``annotator``;
        for other roles it is kept as the gold answer (used by the simulated oracle and for
        evaluation). All rows are checked first; any problem adds nothing.
        """
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}.")
        for column in ("id", "text"):
            if column not in table.columns:
                raise StoreError(f"The table for role {role!r} has no `{column}` column.")
        if role == "labeled" and "label" not in table.columns:
            raise StoreError("Labeled items need a `label` column.")
        ids = table["id"].astype(str)
        repeated = ids[ids.duplicated()].unique()
        if len(repeated):
            raise StoreError(f"Item ids repeat within the new rows: {', '.join(repeated[:5])}.")
        known = self._existing_ids(ids.tolist())
        if known:
            raise StoreError(f"Items already in the store: {', '.join(sorted(known)[:5])}.")
        texts = table["text"].astype(str)
        empty = ids[texts.str.strip() == ""]
        if len(empty):
            raise StoreError(f"Items with empty text: {', '.join(empty[:5])}.")
        labels = table["label"] if "label" in table.columns else pd.Series([None] * len(table), index=table.index)
        self._check_labels([label for label in labels if label is not None and not pd.isna(label)])
        subreddits = table["subreddit"] if "subreddit" in table.columns else pd.Series([None] * len(table), index=table.index)
        now = time.time()
        rows = [
            (i, t, role, None if pd.isna(label) else str(label), None if pd.isna(s) else str(s), source, now)
            for i, t, label, s in zip(ids, texts, labels, subreddits)
        ]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO items(id, text, role, gold_label, subreddit, source, added_at) VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            if role == "labeled":
                db.executemany(
                    "INSERT INTO labels(item_id, label, annotator, created_at) VALUES (?,?,?,?)",
                    [(r[0], r[3], annotator, now) for r in rows],
                )
        return len(rows)

    def items(self, role: str | None = None) -> pd.DataFrame:
        """Items (``id, text, role, gold_label, subreddit, source``), in insertion order."""
        query = "SELECT id, text, role, gold_label, subreddit, source FROM items"
        params: tuple = ()
        if role is not None:
            query += " WHERE role = ?"
            params = (role,)
        return pd.read_sql_query(query + " ORDER BY rowid", self._db, params=params)

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.execute(f"SELECT id FROM items WHERE id IN ({marks})", chunk))
        return found

    def _check_labels(self, labels: Iterable[str]) -> None:
        taxonomy = self.taxonomy
        unknown = sorted({str(label) for label in labels} - set(taxonomy.names))
        if unknown:
            raise StoreError(
                f"Unknown label(s) {', '.join(map(repr, unknown))}; this run's taxonomy has {', '.join(taxonomy.names)}."
            )

    # -- labels --------------------------------------------------------------------------
    def add_label(self, item_id: str, label: str, annotator: str, note: str | None = None,
                  round: int | None = None) -> int:
        """Record one human label, committed at once; returns its id (for :meth:`retract_label`)."""
        self._check_labels([label])
        if not self._existing_ids([item_id]):
            raise StoreError(f"No item {item_id!r} in {self.path}.")
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO labels(item_id, label, annotator, note, round, created_at) VALUES (?,?,?,?,?,?)",
                (item_id, label, annotator, note, round, time.time()),
            )
        return int(cursor.lastrowid)

    def retract_label(self, label_id: int) -> None:
        """Undo a label: it stays in the file for the record but no longer counts."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE labels SET retracted_at = ? WHERE id = ? AND retracted_at IS NULL", (time.time(), label_id)
            ).rowcount
        if not changed:
            raise StoreError(f"No active label with id {label_id} to retract.")

    def labels(self, include_retracted: bool = False) -> pd.DataFrame:
        """Every label event (``id, item_id, label, annotator, note, round, created_at, retracted_at``)."""
        query = "SELECT id, item_id, label, annotator, note, round, created_at, retracted_at FROM labels"
        if not include_retracted:
            query += " WHERE retracted_at IS NULL"
        return pd.read_sql_query(query + " ORDER BY id", self._db)

    def labeled(self) -> pd.DataFrame:
        """Items with their current human label (the latest active one): ``id, text, label, annotator, round``."""
        return pd.read_sql_query(
            """
            SELECT i.id, i.text, l.label, l.annotator, l.round, i.role, i.subreddit
            FROM items i JOIN labels l ON l.item_id = i.id
            WHERE l.id = (SELECT MAX(id) FROM labels WHERE item_id = i.id AND retracted_at IS NULL)
            ORDER BY l.id
            """,
            self._db,
        )

    # -- rounds --------------------------------------------------------------------------
    def start_round(self, round: int, strategy: str, selection: pd.DataFrame) -> None:
        """Record a round's selection (columns ``item_id`` and optional ``cluster, score, predicted_label``)."""
        if self._db.execute("SELECT 1 FROM rounds WHERE round = ?", (round,)).fetchone():
            raise StoreError(f"Round {round} already exists in {self.path}.")
        ids = selection["item_id"].astype(str).tolist()
        missing = set(ids) - self._existing_ids(ids)
        if missing:
            raise StoreError(f"Round {round} selects items not in the store: {', '.join(sorted(missing)[:5])}.")
        now = time.time()

        def column(name):
            return selection[name].tolist() if name in selection.columns else [None] * len(ids)

        rows = [
            (round, item, position, None if c is None or pd.isna(c) else int(c),
             None if s is None or pd.isna(s) else float(s), p)
            for position, (item, c, s, p) in enumerate(
                zip(ids, column("cluster"), column("score"), column("predicted_label")))
        ]
        with self.transaction() as db:
            db.execute(
                "INSERT INTO rounds(round, strategy, status, n_selected, started_at, updated_at) VALUES (?,?,?,?,?,?)",
                (round, strategy, "selected", len(ids), now, now),
            )
            db.executemany(
                "INSERT INTO selections(round, item_id, position, cluster, score, predicted_label) VALUES (?,?,?,?,?,?)",
                rows,
            )

    def set_round_status(self, round: int, status: str, metrics: dict | None = None) -> None:
        """Advance a round to ``status`` (optionally storing learner ``metrics``)."""
        if status not in ROUND_STATUSES:
            raise StoreError(f"status must be one of {', '.join(ROUND_STATUSES)}, not {status!r}.")
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE rounds SET status = ?, metrics = COALESCE(?, metrics), updated_at = ? WHERE round = ?",
                (status, json.dumps(metrics) if metrics is not None else None, time.time(), round),
            ).rowcount
        if not changed:
            raise StoreError(f"No round {round} in {self.path}.")

    def rounds(self) -> pd.DataFrame:
        """One row per round: ``round, strategy, status, n_selected, metrics`` (metrics as dicts)."""
        table = pd.read_sql_query(
            "SELECT round, strategy, status, n_selected, metrics, started_at, updated_at FROM rounds ORDER BY round",
            self._db,
        )
        table["metrics"] = [json.loads(m) if isinstance(m, str) else {} for m in table["metrics"]]
        return table

    def selections(self, round: int | None = None) -> pd.DataFrame:
        """Selected items with their text and current label (None while unanswered)."""
        query = """
            SELECT s.round, s.position, s.item_id, i.text, s.cluster, s.score, s.predicted_label,
                   (SELECT label FROM labels WHERE item_id = s.item_id AND retracted_at IS NULL
                    ORDER BY id DESC LIMIT 1) AS label
            FROM selections s JOIN items i ON i.id = s.item_id
        """
        params: tuple = ()
        if round is not None:
            query += " WHERE s.round = ?"
            params = (round,)
        return pd.read_sql_query(query + " ORDER BY s.round, s.position", self._db, params=params)

    def queue(self, round: int | None = None) -> pd.DataFrame:
        """Selected items still waiting for a label, in selection order."""
        table = self.selections(round)
        return table[table["label"].isna()].reset_index(drop=True)

    # -- the training set L ------------------------------------------------------------
    def training_set(self) -> pd.DataFrame:
        """Human-labeled items and accepted variations as one table with provenance columns. A variation
        counts only while it belongs to its seed's current label (an undo takes its variations with it).

        Columns: ``id, text, label, origin`` (human/llm), ``seed_id, round, annotator, generator_model,
        subreddit``.
        """
        human = self.labeled()
        human = human.assign(origin="human", seed_id=human["id"], generator_model=None)
        llm = pd.read_sql_query(
            f"""SELECT v.id AS vid, v.seed_id, v.text, v.label, v.round, v.model AS generator_model,
                      i.subreddit FROM variations v JOIN items i ON i.id = v.seed_id
               WHERE v.status = 'accepted' AND ({CURRENT_VARIATION}) ORDER BY v.id""",
            self._db,
        )
        llm = llm.assign(id=[f"{s}~v{v}" for s, v in zip(llm["seed_id"], llm["vid"])], origin="llm",
                         annotator=None).drop(columns="vid")
        columns = ["id", "text", "label", "origin", "seed_id", "round", "annotator", "generator_model", "subreddit"]
        return pd.concat([human[columns], llm[columns]], ignore_index=True)

