"""Several processes on one run at once, kill -9 at random moments, restarts: the store keeps exactly what
SQLite said it committed.

Two annotators (labels, undos, reviews), a loop running rounds with generation against the loopback fault
server, and readers that open and close the run as a terminal, a dashboard, the ``sqlite3`` shell and a
backup script would (``tests/servers/store_writers.py``). For 40 seconds (longer on a loaded machine,
until every kind of write has committed) a seeded schedule kills one of them with SIGKILL and starts it
again; then everything is killed at once. Every writer logged each
store call before it and after SQLite committed it, so the store must hold every committed call's rows,
no row that no call meant to write, each call's rows all or none, and pass ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.store import RunStore
from tests.servers.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[1]
CHAOS_SECONDS = float(os.environ.get("ALSAFE_TORTURE_SECONDS", "40"))
LIFETIME_S = {"anno": 2.0, "loop": 10.0, "read": 1.0}  # at least this long between a start and a kill
EXPECTED_KINDS = {"label", "retract", "review", "variation", "round", "status", "llm_call", "loop_label"}
STATUS_ORDER = ["selected", "labeled", "generated", "trained"]
TOPICS = {"self-harm": "I feel hopeless and want to hurt myself", "medical-advice": "sharp pain in my knee",
          "legal-advice": "can I sue my landlord for the deposit", "discard": "what a nice sunny day"}


def _make_run(path: Path) -> None:
    rows = [(f"{label[:3]}-{i}", f"{text} case {i}", label) for label, text in TOPICS.items() for i in range(150)]
    pool = pd.DataFrame(rows, columns=["id", "text", "label"])
    labeled = pool.groupby("label").head(3)
    pool = pool.drop(labeled.index)
    dev = pool.groupby("label").head(10)
    pool = pool.drop(dev.index)
    RunStore.create(path, PAPER_TAXONOMY, items=lambda: [(pool, "pool", "t", "import"), (labeled, "labeled", "t", "seed"),
                                                         (dev, "dev", "t", "import")]).close()


class Crew:
    """The processes on the run; each role is restarted under a new incarnation after a kill."""

    def __init__(self, run: Path, log: Path, base_url: str):
        self.run, self.log, self.base_url = run, log, base_url
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
        self.processes: dict[str, subprocess.Popen] = {}
        self.kills = defaultdict(int)
        self.starts = defaultdict(int)
        self.started_at: dict[str, float] = {}

    def arguments(self, role: str) -> list[str]:
        if role.startswith("annotator"):
            return ["annotator", role, str(self.starts[role] * 10 + int(role[-1]))]
        if role == "loop":
            return ["loop", self.base_url]
        return ["reader", str(self.starts[role] * 10 + int(role[-1]))]

    def start(self, role: str) -> None:
        self.starts[role] += 1
        self.started_at[role] = time.time()
        self.processes[role] = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.store_writers", role.split("-")[0], str(self.run), str(self.log),
             *self.arguments(role)[1:]], cwd=REPO, env=self.env, stderr=subprocess.PIPE, text=True)

    def kill(self, role: str) -> None:
        process = self.processes[role]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            self.kills[role] += 1
        process.wait()
        assert process.returncode in (0, -signal.SIGKILL), f"{role} failed: {process.stderr.read()[-3000:]}"

    def kill_all(self) -> None:
        for role in list(self.processes):
            self.kill(role)


def _read_log(path: Path) -> tuple[dict, set]:
    intents, done = {}, set()
    for line in path.read_text().splitlines():
        if not line.endswith("}"):  # a line cut by a kill mid-write is no record
            continue
        record = json.loads(line)
        if "intent" in record:
            intents[record["call"]] = (record["kind"], [_key(k) for k in record["intent"]])
        else:
            done.add(record["call"])
    return intents, done


def _every_kind_committed(log: Path) -> bool:
    intents, done = _read_log(log)
    kinds = defaultdict(int)
    for call in done:
        kinds[intents[call][0]] += 1
    return all(kinds[kind] > 0 for kind in EXPECTED_KINDS) and kinds["round"] >= 2


def _key(value):
    return tuple(value) if isinstance(value, list) else value


def _store_keys(path: Path) -> dict[str, set]:
    db = sqlite3.connect(path)
    keys = {
        "label": {r[0] for r in db.execute("SELECT note FROM labels WHERE note LIKE 'annotator-%'")},
        "loop_label": {(r[0], r[1], r[2]) for r in db.execute(
            "SELECT item_id, annotator, round FROM labels WHERE annotator = 'simulated'")},
        "retract": {r[0] for r in db.execute("SELECT id FROM labels WHERE retracted_at IS NOT NULL")},
        "review": {r[0] for r in db.execute("SELECT reviewed_by FROM variations WHERE reviewed_by IS NOT NULL")},
        "variation": {tuple(r) for r in db.execute(
            "SELECT seed_id, relation, label, prompt_hash, sample_index FROM variations")},
        "round": {r[0] for r in db.execute("SELECT round FROM rounds")},
        "llm_call": {r[0] for r in db.execute("SELECT cache_key FROM llm_calls")},
    }
    statuses = dict(db.execute("SELECT round, status FROM rounds").fetchall())
    # a round's status only moves forward: a committed status is reached when the round is there or further
    keys["status"] = {(r, s) for r, status in statuses.items() for s in STATUS_ORDER[:STATUS_ORDER.index(status) + 1]}
    keys["status_now"] = {(r, status) for r, status in statuses.items() if status != "selected"}
    halves = db.execute("SELECT r.round FROM rounds r WHERE r.n_selected <> "
                        "(SELECT COUNT(*) FROM selections s WHERE s.round = r.round)").fetchall()
    assert halves == [], f"rounds with half their selections: {halves}"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    return keys


@pytest.mark.slow
def test_processes_killed_at_random_lose_no_commit_and_leave_no_half(tmp_path):
    run, log = tmp_path / "run.sqlite", tmp_path / "calls.jsonl"
    _make_run(run)
    rng = random.Random(19)
    roles = ["annotator-1", "annotator-2", "loop", "reader-1", "reader-2"]
    with FaultServer() as server:
        crew = Crew(run, log, server.base_url)
        for role in roles:
            crew.start(role)
        start = time.time()
        try:
            # at least CHAOS_SECONDS, and on until every kind of write committed (a loaded machine is slower)
            while time.time() < start + CHAOS_SECONDS or (not _every_kind_committed(log)
                                                            and time.time() < start + 3 * CHAOS_SECONDS):
                time.sleep(rng.uniform(0.3, 1.5))
                # a victim lives long enough to get past its imports and write (the loop needs the most)
                grown = [role for role in roles if time.time() - crew.started_at[role] > LIFETIME_S[role[:4]]
                         and crew.processes[role].poll() is None]
                if not grown:
                    continue
                victim = rng.choice(grown)
                crew.kill(victim)
                crew.start(victim)
        finally:
            crew.kill_all()  # the end is a crash of everyone too

    intents, done = _read_log(log)
    stored = _store_keys(run)
    expected_kinds = EXPECTED_KINDS
    committed = defaultdict(set)
    for call in done:
        kind, keys = intents[call]
        committed[kind].update(keys)
    # the test did what it says: every kind of write happened, and kills landed on every writer
    assert expected_kinds <= {kind for kind, keys in committed.items() if keys}, dict(committed)
    assert all(crew.kills[role] > 0 for role in ("annotator-1", "annotator-2", "loop")), dict(crew.kills)
    assert len(committed["label"]) > 50 and len(committed["round"]) >= 2, {k: len(v) for k, v in committed.items()}

    # no fewer: everything SQLite reported committed is there
    for kind in expected_kinds:
        lost = committed[kind] - stored[kind]
        assert not lost, f"{len(lost)} committed {kind} rows are gone, e.g. {sorted(map(str, lost))[:3]}"
    # no more: every row was meant by some call
    meant = defaultdict(set)
    for kind, keys in intents.values():
        meant[kind].update(keys)
    for kind in expected_kinds - {"status"} | {"status_now"}:
        stray = stored[kind] - meant[kind.replace("status_now", "status")]
        assert not stray, f"{len(stray)} {kind} rows no call wrote, e.g. {sorted(map(str, stray))[:3]}"
    # a call cut by a kill is all or nothing, and only a killed process left one
    unfinished = [call for call in intents if call not in done]
    assert len(unfinished) <= sum(crew.kills.values())
    for call in unfinished:
        kind, keys = intents[call]
        fresh = [key for key in keys if key not in committed[kind]]
        present = [key in stored[kind] for key in fresh]
        assert all(present) or not any(present), f"call {call} ({kind}) is half there: {present}"

    with RunStore.open(run) as store:  # usable again
        store.add_label(store.items("dev")["id"][0], "discard", annotator="after")
