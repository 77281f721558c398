"""Notebook 03 has one mode per run: in widget mode nothing simulates (Run All stops at the widget, no key
labels an item nobody saw), in simulated mode no widget opens."""

from __future__ import annotations

import json

import pytest

from alsafe.paper import labeling_modes
from alsafe.store import RunStore
from tests.test_loop import Hashing, tfidf_lr


def test_widget_mode_skips_the_simulation_and_records_nothing(home, capsys):
    results = labeling_modes.simulate_unless_widget("widget", None, home / "runs", strategies=("random",), seeds=(0,))
    assert (results.curves, results.summary, results.balance, results.figure) == (None, None, None, None)
    assert results.last_round is None and results.balance is None  # the notebook's cells show nothing
    assert results.save({"seed": 0}, 0.0) == []
    said = capsys.readouterr().out.strip().splitlines()
    assert said == ["Widget mode (ORACLE = 'widget') skips the simulation; set ORACLE = 'simulated' to run it.",
                    "Widget mode: no simulation results to record."]
    assert not (home / "runs").exists() and not (home / "results").exists()


def test_simulated_mode_opens_no_widget_and_no_store(home, capsys):
    assert labeling_modes.label_paper_pool("simulated", home / "labeling.sqlite", None, annotator="me") is None
    assert capsys.readouterr().out.count("\n") == 1 and not (home / "labeling.sqlite").exists()


def test_an_unknown_oracle_is_refused_before_anything_runs(home):
    for call in (lambda: labeling_modes.simulate_unless_widget("people", None, home / "runs"),
                 lambda: labeling_modes.label_paper_pool("people", home / "x.sqlite", None, annotator="me")):
        with pytest.raises(ValueError, match="ORACLE must be one of simulated, widget, not 'people'"):
            call()


def test_widget_mode_serves_round_one_and_labels_nothing_by_itself(home, paper_dataset):
    from alsafe.ui.dashboard import LiveDashboard
    from alsafe.ui.session import LabelingSession

    box = labeling_modes.label_paper_pool("widget", home / "labeling.sqlite", paper_dataset, annotator="me", pool_size=40,
                                    budget=10, batch_size=5, n_clusters=5, learner=tfidf_lr, vectorizer=Hashing(),
                                    progress=False)
    session, board = box.children
    assert isinstance(session, LabelingSession) and isinstance(board, LiveDashboard)
    assert session.widget_.round == 1 and not session.finished
    session.widget_.close()
    with RunStore.open(home / "labeling.sqlite") as store:
        assert store.rounds()["status"].tolist() == ["selected"] and len(store.queue(1)) == 5
        assert (store.labels()["annotator"] == "me").sum() == 0  # nobody pressed a key: nothing labeled
        assert store.params == {"oracle": "widget", "seed": 0, "pool_size": 40}


@pytest.mark.notebooks
def test_notebook_03_in_widget_mode_runs_all_without_simulating(home, paper_dir):
    """Run All of notebook 03 with ORACLE = "widget" under papermill: the widget waits on round 1, the
    simulation and the results cell do nothing."""
    from alsafe.reproduce import load_plan, run_plan

    params = home / "widget.yaml"
    params.write_text(json.dumps({"notebooks": [{"notebook": "03_active_learning_loop.ipynb", "parameters": {
        "SEED": 0, "ORACLE": "widget", "BUDGET": 10, "ROUND_SIZE": 5, "N_CLUSTERS": 5, "POOL_SIZE": 40,
        "VECTORIZER": "minilm-l2", "RUNS_DIR": str(home / "runs"), "WIDGET_RUN": str(home / "labeling.sqlite")}}]}),
        encoding="utf-8")
    [result] = run_plan(load_plan(params), output_dir=home / "outputs", progress=False)
    cells = json.loads(result.output.read_text(encoding="utf-8"))["cells"]
    printed = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"])
    assert "Widget mode (ORACLE = 'widget') skips the simulation" in printed
    assert not (home / "runs").exists()
    assert not list(home.glob("results/simulation_*")) and not list(home.glob("figures/learning_curves*"))
    with RunStore.open(home / "labeling.sqlite") as store:
        assert store.rounds()["status"].tolist() == ["selected"]
        assert (store.labels()["annotator"] == "me").sum() == 0
