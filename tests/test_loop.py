"""Algorithm 1: validation, a simulated run, the queue oracle, resume after kill -9, and the paper's data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from alsafe.loop import ActiveLearningLoop
from alsafe.oracles import QueueOracle
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY

TOPICS = {
    "self-harm": ["I feel hopeless and want to hurt myself", "cannot stop thinking about ending it",
                  "feeling worthless and broken tonight", "I keep cutting again"],
    "medical-advice": ["what is this rash on my arm", "sharp pain in my knee after running",
                       "is this mole cancer", "fever and headache for three days"],
    "legal-advice": ["can I sue my landlord for the deposit", "custody hearing next week lawyer",
                     "is it legal to record my boss", "my employer will not pay overtime lawsuit"],
}


def _texts(label, n, offset=0):
    base = TOPICS[label]
    return [f"{base[i % len(base)]} case {i + offset}" for i in range(n)]


class Hashing:
    """A fitted-free vectorizer for tests."""

    def transform(self, texts):
        return HashingVectorizer(n_features=128, alternate_sign=False).transform(texts).toarray()


def tfidf_lr():
    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=500))


class EchoGenerator:
    """Writes k variations per seed that keep its label, skipping seeds it already did (as the real one does)."""

    def __init__(self, k=2, log=None):
        self.k, self.log = k, log

    def generate(self, store, seeds, round, learner=None):
        for _, seed in seeds.iterrows():
            if not store.variations(seed_id=seed["id"]).empty:
                continue
            store.add_variations([dict(seed_id=seed["id"], round=round, sample_index=i, text=f"{seed['text']} v{i}",
                                       label=seed["label"], relation="same_label", backend="echo", model="echo",
                                       prompt_hash="p", status="accepted") for i in range(self.k)])
            if self.log:
                with open(self.log, "a") as handle:
                    handle.write(seed["id"] + "\n")


def make_store(path, pool_per_class=12, labeled_classes=("self-harm", "medical-advice", "legal-advice")):
    store = RunStore.create(path, PAPER_TAXONOMY)
    pool = pd.DataFrame([(f"{label[:3]}-{i}", text, label) for label in TOPICS
                         for i, text in enumerate(_texts(label, pool_per_class))], columns=["id", "text", "label"])
    store.add_items(pool, role="pool")
    labeled = pd.DataFrame([(f"L-{label[:3]}-{i}", text, label) for label in labeled_classes
                            for i, text in enumerate(_texts(label, 2, offset=100))], columns=["id", "text", "label"])
    store.add_items(labeled, role="labeled")
    dev = pd.DataFrame([(f"D-{label[:3]}-{i}", text, label) for label in TOPICS
                        for i, text in enumerate(_texts(label, 3, offset=200))], columns=["id", "text", "label"])
    store.add_items(dev, role="dev")
    return store


@pytest.mark.parametrize("change,message", [
    ({"budget": 0}, "budget must be a positive integer"),
    ({"batch_size": -2}, "batch_size must be a positive integer"),
    ({"budget": 10, "batch_size": 4}, r"budget \(10\) must be a multiple of batch_size \(4\)"),
    ({"budget": 60, "batch_size": 6}, r"budget \(60\) exceeds the pool's 36 items"),
    ({"n_clusters": 7}, r"n_clusters \(7\) exceeds batch_size \(6\)"),
    ({"n_variations": -1}, "n_variations must be zero or a positive integer"),
    ({"strategy": "best"}, "strategy .best. is not known: use one of random, topn"),
])
def test_bad_settings_are_refused_before_any_work(tmp_path, change, message):
    with make_store(tmp_path / "run.sqlite") as store:
        settings = dict(strategy="cluster", budget=12, batch_size=6, n_clusters=3, learner=tfidf_lr,
                        vectorizer=Hashing(), progress=False)
        with pytest.raises(ValueError, match=message):
            ActiveLearningLoop(store, **{**settings, **change}).run()
        assert store.rounds().empty and store.labels()["annotator"].eq("import").all()


def test_one_class_in_L_and_empty_pool_are_refused(tmp_path):
    with make_store(tmp_path / "a.sqlite", labeled_classes=("self-harm",)) as store:
        with pytest.raises(ValueError, match=r"has 1 class\(es\)"):
            ActiveLearningLoop(store, learner=tfidf_lr, vectorizer=Hashing(), budget=6, batch_size=6,
                               n_clusters=3).run()
    with RunStore.create(tmp_path / "b.sqlite", PAPER_TAXONOMY) as store:
        with pytest.raises(ValueError, match="pool of .* is empty"):
            ActiveLearningLoop(store, learner=tfidf_lr, budget=6, batch_size=6).run()


@pytest.mark.parametrize("strategy", ["random", "topn", "coreset", "cluster"])
def test_simulated_run_buys_the_budget_round_by_round(tmp_path, strategy):
    with make_store(tmp_path / "run.sqlite") as store:
        loop = ActiveLearningLoop(store, strategy=strategy, budget=18, batch_size=6, n_clusters=3, n_variations=2,
                                  learner=tfidf_lr, vectorizer=Hashing(), generator=EchoGenerator(k=2),
                                  random_state=1, progress=False)
        status = loop.run()
        assert status.finished and status.rounds_done == 3
        rounds = store.rounds()
        assert rounds["status"].tolist() == ["trained"] * 3
        selections = store.selections()
        assert selections.groupby("round").size().tolist() == [6, 6, 6]
        assert selections["item_id"].is_unique  # nothing is bought twice
        gold = store.items().set_index("id")["gold_label"]
        assert (selections["label"] == selections["item_id"].map(gold)).all()
        last = rounds["metrics"].iloc[-1]
        assert last["n_acquired"] == 18 and last["n_variations_accepted"] == 36
        assert last["n_human_labels"] == 18 + 6
        assert 0.0 <= last["dev_macro_f1"] <= 100.0 and sum(last["acquired_class_counts"].values()) == 18
        if strategy == "cluster":
            assert (selections.groupby("round")["cluster"].nunique() == 3).all()  # every cluster, every round
        if strategy == "topn":
            first = selections[selections["round"] == 1]["score"].to_numpy()
            assert (np.diff(first) <= 1e-12).all()  # most uncertain first


def test_queue_oracle_waits_for_people_and_resumes(tmp_path):
    with make_store(tmp_path / "run.sqlite") as store:
        loop = ActiveLearningLoop(store, strategy="cluster", budget=12, batch_size=6, n_clusters=3,
                                  learner=tfidf_lr, vectorizer=Hashing(), oracle=QueueOracle(), progress=False)
        status = loop.run()
        assert status.waiting_for == 6 and status.rounds_done == 0 and not status.finished
        queue = store.queue(1)
        gold = store.items().set_index("id")["gold_label"]
        for item in queue["item_id"][:4]:
            store.add_label(item, gold[item], annotator="ann", round=1)
        assert loop.run().waiting_for == 2
        for item in store.queue(1)["item_id"]:
            store.add_label(item, gold[item], annotator="ann", round=1)
        status = loop.run()
        assert status.rounds_done == 1 and status.waiting_for == 6  # round 2 now waits
        assert store.rounds()["status"].tolist() == ["trained", "selected"]


RUNNER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from test_loop import ActiveLearningLoop, EchoGenerator, Hashing, RunStore, tfidf_lr
    class SlowOracle:
        def answer(self, store, round):
            for item in store.queue(round)["item_id"]:
                gold = store.items().set_index("id")["gold_label"][item]
                store.add_label(item, gold, annotator="sim", round=round)
                print("labeled", item, flush=True)
                time.sleep(float(sys.argv[4]))
            return 0
    with RunStore.open(sys.argv[1]) as store:
        ActiveLearningLoop(store, strategy="cluster", budget=18, batch_size=6, n_clusters=3, learner=tfidf_lr,
                           vectorizer=Hashing(), generator=EchoGenerator(2, sys.argv[2]), oracle=SlowOracle(),
                           random_state=3, progress=False).run()
    print("finished", flush=True)
""")


def test_killed_run_resumes_without_asking_or_generating_twice(tmp_path):
    tests_dir = os.path.dirname(__file__)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    reference = tmp_path / "reference.sqlite"
    make_store(reference).close()
    subprocess.run([sys.executable, "-c", RUNNER, str(reference), str(tmp_path / "ref.log"), tests_dir, "0"],
                   check=True, env=env, capture_output=True)

    path, log = tmp_path / "run.sqlite", tmp_path / "gen.log"
    make_store(path).close()
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(path), str(log), tests_dir, "0.05"],
                              stdout=subprocess.PIPE, text=True, env=env)
    seen = 0
    deadline = time.time() + 60
    while seen < 9 and time.time() < deadline:  # kill in the middle of round 2's labeling
        seen += runner.stdout.readline().startswith("labeled")
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    resumed = subprocess.run([sys.executable, "-c", RUNNER, str(path), str(log), tests_dir, "0"],
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    with RunStore.open(path) as store, RunStore.open(reference) as ref:
        labels = store.labels()
        assert labels[labels["annotator"] == "sim"]["item_id"].is_unique  # nobody was asked twice
        assert store.selections()[["round", "item_id"]].equals(ref.selections()[["round", "item_id"]])
        assert store.rounds()["status"].tolist() == ["trained"] * 3
        assert len(store.variations()) == len(ref.variations()) == 36
    generated = log.read_text().split()
    assert len(generated) == len(set(generated)) == 18  # no seed generated twice


def test_short_simulation_on_the_paper_data(tmp_path, paper_dataset):
    from alsafe.paper.simulate import acquired_balance, learning_curves, run_simulation

    curves = run_simulation(paper_dataset, tmp_path / "runs", strategies=("random", "cluster"), seeds=(0, 1),
                            pool_size=300, budget=20, batch_size=10, n_clusters=5, learner=tfidf_lr,
                            vectorizer=Hashing(), pool_mixes=("stratified", "skewed"), progress=False)
    assert len(curves) == 2 * 2 * 2 * 2 and set(curves["strategy"]) == {"random", "cluster"}
    assert set(curves["pool_mix"]) == {"stratified", "skewed"}
    assert curves["n_acquired"].tolist()[:4] == [10, 20, 10, 20]
    assert curves["test_macro_f1"].between(5, 100).all() and curves["dev_macro_f1"].between(5, 100).all()  # percent
    balance = acquired_balance(curves)
    classes = [c for c in balance.columns if c[0].isupper()]
    assert balance[classes].sum(axis=1).tolist() == [20] * 4 and balance["n_seeds"].eq(2).all()
    curve = learning_curves(curves)
    assert curve["n_seeds"].eq(2).all()
    assert (curve["test_macro_f1_low"] <= curve["test_macro_f1"]).all()
    assert (curve["test_macro_f1"] <= curve["test_macro_f1_high"]).all()


def test_cold_start_without_bootstrap_takes_items_nearest_each_centre(tmp_path):
    with make_store(tmp_path / "run.sqlite", labeled_classes=()) as store:
        assert store.labeled().empty
        loop = ActiveLearningLoop(store, strategy="topn", budget=12, batch_size=6, n_clusters=3, learner=tfidf_lr,
                                  vectorizer=Hashing(), random_state=0, progress=False)
        assert loop.run().finished
        rounds = store.rounds()
        assert rounds["strategy"].tolist() == ["topn (cold start: nearest to cluster centres)", "topn"]
        first = store.selections(1)
        assert first["cluster"].value_counts().tolist() == [2, 2, 2]  # two per cluster, nearest first
        assert first["score"].isna().all() and store.selections(2)["score"].notna().all()


def test_labeling_session_drives_rounds_from_the_widget(tmp_path):
    from alsafe.ui.dashboard import LiveDashboard
    from alsafe.ui.export_panel import ExportPanel
    from alsafe.ui.session import LabelingSession

    with make_store(tmp_path / "run.sqlite") as store:
        loop = ActiveLearningLoop(store, strategy="cluster", budget=12, batch_size=6, n_clusters=3, n_variations=2,
                                  learner=tfidf_lr, vectorizer=Hashing(), generator=EchoGenerator(k=2),
                                  oracle=QueueOracle(), progress=False)
        session = LabelingSession(loop, annotator="ann")
        assert session.widget_ is None and store.rounds().empty  # nothing runs before start()
        session.start()
        board = LiveDashboard(store, 3, session=session)
        panel = ExportPanel(store, tmp_path / "export", session=session, model="minilm-l2", epochs=1,
                            test_fraction=0.3)
        assert "Waiting for labeling to finish (0 of 2 rounds done)" in panel.message.value
        gold = store.items().set_index("id")["gold_label"]
        first = session.widget_
        assert first.round == 1 and "0 of 2 rounds done" in session.summary.value
        assert first.hotkeys.focus_requests == 1  # a new round's widget asks for the keyboard
        while first.current is not None:
            first.label(gold[first.current["item_id"]])
            session.wait(30)  # variations of each label are generated right away
            assert len(store.variations()) == 2 * first.progress["done"]
        session.wait(60)
        assert session.widget_ is not first and session.widget_.round == 2
        assert "1 of 2 rounds done" in session.summary.value
        second = session.widget_
        assert second.hotkeys.focus_requests == 1 and board.n_draws_ == 2  # one dashboard, redrawn in place
        assert len(board.outputs) == 1 and panel.paths_ is None and not (tmp_path / "export").exists()
        while second.current is not None:
            second.label(gold[second.current["item_id"]])
        session.wait(60)
        assert session.status_.finished and "budget spent" in session.summary.value
        assert store.rounds()["status"].tolist() == ["trained", "trained"] and len(store.variations()) == 24
        assert board.n_draws_ == 3 and panel.paths_ is not None  # the budget is spent: exported by itself
        assert (tmp_path / "export" / "classifier" / "README.md").exists() and "Exported to" in panel.message.value


def test_simulation_resumes_its_own_store_and_rebuilds_one_made_otherwise(tmp_path, paper_dataset):
    from alsafe.paper.simulate import open_simulation_store, run_simulation

    settings = dict(strategies=("random",), seeds=(0,), pool_size=60, budget=10, batch_size=5, n_clusters=5,
                    learner=tfidf_lr, vectorizer=Hashing(), progress=False)
    first = run_simulation(paper_dataset, tmp_path, **settings)
    path = tmp_path / "stratified-random-seed0-nogen.sqlite"
    created = RunStore.open(path).rounds()["started_at"].tolist()
    again = run_simulation(paper_dataset, tmp_path, **settings)  # same parameters: resumes, nothing new
    assert again.equals(first) and RunStore.open(path).rounds()["started_at"].tolist() == created
    longer = run_simulation(paper_dataset, tmp_path, **{**settings, "budget": 20})  # another experiment: rebuilt
    assert longer["n_acquired"].tolist() == [5, 10, 15, 20]
    assert longer.head(2).drop(columns="budget", errors="ignore").equals(first.drop(columns="budget", errors="ignore"))
    # A store a person labels is never rebuilt once its first round started: other parameters are refused.
    with open_simulation_store(tmp_path / "mine.sqlite", paper_dataset, 60, params={"budget": 20}) as mine:
        mine.start_round(1, "cluster", mine.items("pool").head(2)[["id"]].rename(columns={"id": "item_id"}))
    with pytest.raises(ValueError, match=r"was made with other parameters \(budget: 20 there, 30 now"):
        open_simulation_store(tmp_path / "mine.sqlite", paper_dataset, 60, params={"budget": 30})
