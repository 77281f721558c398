"""The processes of the store torture test (``tests/test_store_torture.py``): each one a kind of user of a run.

``python -m tests.servers.store_writers ROLE RUN LOG [ARGS]``:

- ``annotator NAME SEED``: labels dev items, undoes some of its own labels and reviews variations, as
  a person in a second notebook would;
- ``loop BASE_URL``: the active-learning loop with generation against the loopback fault server;
- ``reader SEED``: opens and closes the run over and over (``RunStore.open``, plain ``sqlite3`` as the
  shell or Datasette would, SQLite's backup API), writing nothing.

Every writer logs each store call twice to LOG, one JSON line each, written straight to the file (no
buffer a kill could lose): ``{"call": id, "intent": [...keys]}`` before the call and ``{"call": id,
"done": true}`` once the store returned, i.e. once SQLite reported the commit. The test compares the
store with these logs.
"""

from __future__ import annotations

import functools
import json
import os
import random
import sqlite3
import sys
import time
import uuid

import pandas as pd


class CallLog:
    """Append-only log of store calls: intent before, done after."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.prefix = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.count = 0

    def call(self, kind: str, keys: list, action):
        self.count += 1
        call = f"{self.prefix}-{self.count}"
        self._write({"call": call, "kind": kind, "intent": keys})
        result = action()
        self._write({"call": call, "done": True})
        return result

    def _write(self, record: dict) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())


def annotator(run: str, log: CallLog, name: str, seed: int) -> None:
    from alsafe.store import RunStore

    rng = random.Random(seed)
    store = RunStore.open(run)  # the widget's connection
    loop_side = RunStore.open(run)  # and the kernel's other one, idle, as in notebook 07
    dev = store.items("dev")["id"].tolist()
    parity = seed % 2  # each annotator reviews its own half of the variations: no review overwrites another
    while True:
        action = rng.random()
        if action < 0.6:
            token = f"{name}:{uuid.uuid4().hex[:8]}"
            item = rng.choice(dev)
            log.call("label", [token], lambda: store.add_label(item, rng.choice(["discard", "self-harm"]), name,
                                                               note=token))
        elif action < 0.8:
            mine = store._db.execute("SELECT id FROM labels WHERE annotator = ? AND retracted_at IS NULL "
                                     "ORDER BY id DESC LIMIT 3", (name,)).fetchall()
            if mine:
                label_id = rng.choice(mine)[0]
                log.call("retract", [label_id], lambda: store.retract_label(label_id))
        else:
            waiting = store._db.execute("SELECT id FROM variations WHERE reviewed_by IS NULL AND id % 2 = ? "
                                        "ORDER BY id LIMIT 5", (parity,)).fetchall()
            if waiting:
                variation, token = rng.choice(waiting)[0], f"{name}:{uuid.uuid4().hex[:8]}"
                accept = rng.random() < 0.7
                log.call("review", [token], lambda: store.review_variation(
                    variation, accept, token, None if accept else "changes the label"))
        loop_side.labels()
        time.sleep(rng.uniform(0.005, 0.03))


def _logged(log: CallLog, kind: str, keys_of):
    """Wrap a RunStore method so that each call is logged with the keys of the rows it writes."""
    def wrap(method):
        @functools.wraps(method)
        def logged(self, *args, **kwargs):
            return log.call(kind, keys_of(*args, **kwargs), lambda: method(self, *args, **kwargs))
        return logged
    return wrap


def loop(run: str, log: CallLog, base_url: str) -> None:
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from alsafe.generate.backends.openai import OpenAIBackend
    from alsafe.generate.filters import DuplicateFilter, QualityFilter, RefusalFilter
    from alsafe.generate.generator import Generator
    from alsafe.loop import ActiveLearningLoop
    from alsafe.store import RunStore

    def records(rows):
        return rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)

    wrappers = {
        "add_label": _logged(log, "loop_label", lambda item, label, annotator, note=None, round=None:
                             [[item, annotator, round]]),
        "add_variations": _logged(log, "variation", lambda rows: [
            [r["seed_id"], r["relation"], r["label"], r["prompt_hash"], int(r["sample_index"])]
            for r in records(rows)]),
        "start_round": _logged(log, "round", lambda round, strategy, selection: [round]),
        "set_round_status": _logged(log, "status", lambda round, status, metrics=None: [[round, status]]),
        "record_llm_call": _logged(log, "llm_call", lambda key, *args, **kwargs: [key]),
    }
    for name, wrap in wrappers.items():
        setattr(RunStore, name, wrap(getattr(RunStore, name)))

    class Hashing:
        def transform(self, texts):
            return HashingVectorizer(n_features=256, alternate_sign=False).transform(texts).toarray()

    store = RunStore.open(run)
    # the filters that need no model (the default label gate would load one at every restart)
    generator = Generator(OpenAIBackend("fault-model", base_url=base_url, api_key_env=""), n_variations=2,
                          filters=[QualityFilter(), RefusalFilter(), DuplicateFilter()])
    ActiveLearningLoop(store, strategy="cluster", budget=400, batch_size=8, n_clusters=4, n_variations=2,
                       learner=lambda: make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)),
                       vectorizer=Hashing(), generator=generator, progress=False).run()


def reader(run: str, seed: int) -> None:
    from alsafe.store import RunStore

    rng = random.Random(seed)
    scratch = os.path.join(os.path.dirname(run), "backups")  # beside the run: the test's own folder
    os.makedirs(scratch, exist_ok=True)
    while True:
        way = rng.choice(["store", "sqlite3", "backup"])
        if way == "store":
            with RunStore.open(run) as store:
                store.labels(), store.rounds()
        elif way == "sqlite3":
            connection = sqlite3.connect(run, timeout=30)
            connection.execute("SELECT COUNT(*) FROM labels").fetchone()
            connection.close()
        else:
            target = os.path.join(scratch, f"copy-{uuid.uuid4().hex[:6]}.sqlite")
            with RunStore.open(run) as store:
                store.backup(target)
            os.unlink(target)
        time.sleep(rng.uniform(0.005, 0.03))


def main() -> None:
    role, run, log_path, *args = sys.argv[1:]
    if role == "reader":
        reader(run, int(args[0]))
        return
    log = CallLog(log_path)
    if role == "annotator":
        annotator(run, log, args[0], int(args[1]))
    elif role == "loop":
        loop(run, log, args[0])
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
