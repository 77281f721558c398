"""One registry per kind of name (alsafe.names): every name parsed once, a URL never read as a protocol,
a misspelt name refused with the valid ones, and a served embedding model working as a learner end to end."""

from __future__ import annotations

import pytest

from alsafe import names
from alsafe.loop import ActiveLearningLoop
from alsafe.names import UnknownName, parse_backend, parse_label, parse_learner, parse_strategy, parse_vectorizer
from alsafe.paper.experiments import learner_labels, protocol_of, run_experiments
from alsafe.paper.reference import PAPER_MODELS
from tests.paper.test_experiments import toy_dataset
from tests.servers.fault_server import FaultServer
from tests.test_loop import make_store

SERVED = "embedding-lr:nomic-embed-text@http://localhost:11434/v1"


def test_a_served_embedding_learner_keeps_its_url_whole():
    spec = parse_learner(SERVED)
    assert (spec.kind, spec.model.name, spec.model.source, spec.model.base_url) == (
        "embedding-lr", "nomic-embed-text", "served", "http://localhost:11434/v1")
    assert not spec.fine_tunes and spec.label("steps-120") == SERVED  # a solver learner carries no protocol
    assert learner_labels([SERVED, "minilm-l2"], ["steps-50"]) == [SERVED, "minilm-l2~steps-50"]
    assert protocol_of(SERVED) == "solver" and protocol_of("minilm-l2~steps-50") == "steps-50"
    learner, protocol = parse_label("minilm-l2~epochs-3")
    assert (learner.kind, learner.model.name, protocol) == ("transformer", "all-MiniLM-L6-v2-L2", "epochs-3")


@pytest.mark.parametrize("name, kind, model, source", [
    ("tfidf-lr", "tfidf-lr", None, None), ("tfidf", "tfidf-lr", None, None),
    ("embedding-lr", "embedding-lr", "all-MiniLM-L6-v2", "offline"),
    ("embedding-lr:mpnet", "embedding-lr", "all-mpnet-base-v2", "offline"),
    ("setfit", "setfit", "all-MiniLM-L6-v2", "offline"),
    ("minilm-l2", "transformer", "all-MiniLM-L6-v2-L2", "offline"),
    ("google-bert/bert-base-cased", "transformer", "google-bert/bert-base-cased", "hub"),
])
def test_every_learner_form_parses_into_its_spec(name, kind, model, source):
    spec = parse_learner(name)
    assert spec.kind == kind and spec.name == name
    assert (spec.model.name, spec.model.source) == (model, source) if model else spec.model is None


@pytest.mark.parametrize("parse, name, message", [
    (parse_learner, "embeding-lr", "learner 'embeding-lr' is not known: use one of tfidf-lr, embedding-lr, setfit"
                                   ".* Did you mean 'embedding-lr'\\?"),
    (parse_learner, "bert-base-casd", "learner 'bert-base-casd' is not known: .*hub name owner/name"),
    (parse_learner, "./no/such/folder", "looks like a path, but no such file or folder exists"),
    (parse_learner, "minilm~steps-3", "belongs to a run label"),
    (parse_learner, "embedding-lr:x@ftp://host", "a served model is written '<model>@<base_url>'"),
    (parse_learner, "minilm@http://localhost:1/v1", "only embedding-lr:<model>@<base_url> and a vectorizer take"),
    (parse_vectorizer, "all-MiniLM-L6-v3", "vectorizer 'all-MiniLM-L6-v3' is not known.* Did you mean 'all-MiniLM-L6-v2'"),
    (parse_strategy, "clusters", "strategy 'clusters' is not known: use one of random, topn, coreset, cluster. "
                                 "Did you mean 'cluster'\\?"),
    (parse_backend, "opneai", "backend 'opneai' is not known: use one of local, openai. Did you mean 'openai'\\?"),
])
def test_a_misspelt_name_is_refused_with_the_valid_ones(parse, name, message):
    with pytest.raises(UnknownName, match=message):
        parse(name)


def test_bare_hub_names_only_where_the_caller_accepts_them():
    with pytest.raises(UnknownName, match="bert-base-cased"):
        parse_learner("bert-base-cased")
    assert parse_learner("bert-base-cased", hub_names=PAPER_MODELS).model.source == "hub"
    with pytest.raises(UnknownName, match="Did you mean 'bert-base-cased'"):
        parse_learner("bert-base-casd", hub_names=PAPER_MODELS)


def test_vectorizer_forms_and_the_strategy_registry():
    assert parse_vectorizer("tfidf").kind == "tfidf" and parse_vectorizer("minilm").kind == "sentence"
    served = parse_vectorizer("fault-embed@http://127.0.0.1:9/v1")
    assert (served.kind, served.model.name, served.model.base_url) == ("served", "fault-embed", "http://127.0.0.1:9/v1")
    from alsafe.learn.strategies import STRATEGIES

    assert names.STRATEGIES == tuple(STRATEGIES)  # written once, in learn/strategies.py


@pytest.fixture
def server():
    with FaultServer() as running:
        yield running


def test_a_served_embedding_learner_runs_in_the_experiments_of_notebook_05(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSAFE_CACHE_DIR", str(tmp_path / "cache"))
    learner = f"embedding-lr:fault-embed@{server.base_url}"
    experiments = run_experiments([learner, "tfidf-lr"], settings=["baseline"], seeds=[0], protocols=["steps-10"],
                                  dataset=toy_dataset(), progress=False)
    runs = experiments.runs.set_index("model")
    assert runs.loc[learner, "protocol"] == "solver" and runs.loc["tfidf-lr", "protocol"] == "solver"
    assert sum(r.path.endswith("/embeddings") for r in server.requests) >= 1


def test_a_misspelt_learner_fails_before_any_run(tmp_path):
    with pytest.raises(UnknownName, match="Did you mean 'embedding-lr'"):
        run_experiments(["embeding-lr"], settings=["baseline"], dataset=toy_dataset(), progress=False)


def test_a_served_embedding_learner_and_vectorizer_run_the_loop(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSAFE_CACHE_DIR", str(tmp_path / "cache"))
    with make_store(tmp_path / "run.sqlite") as store:
        loop = ActiveLearningLoop(store, strategy="cluster", budget=6, batch_size=6, n_clusters=3, n_variations=0,
                                  learner=f"embedding-lr:fault-embed@{server.base_url}",
                                  vectorizer=f"fault-embed@{server.base_url}", progress=False)
        status = loop.run()
        assert status.finished and (store.labels()["round"] == 1).sum() == 6
    assert sum(r.path.endswith("/embeddings") for r in server.requests) >= 2


def test_the_loop_refuses_a_misspelt_learner_before_any_round(tmp_path):
    with make_store(tmp_path / "run.sqlite") as store:
        with pytest.raises(UnknownName, match="learner 'tfidf-rl' is not known"):
            ActiveLearningLoop(store, learner="tfidf-rl", budget=6, batch_size=6, n_clusters=3).run()
        assert store.rounds().empty
