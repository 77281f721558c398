"""Algorithm 1 of the paper: active-learner-guided generation, one resumable round at a time.

Each round moves through the store's statuses: ``selected`` (the strategy picked N items and the
store recorded them with cluster and uncertainty) -> ``labeled`` (the oracle answered) ->
``generated`` (the LLM wrote k label-keeping variations per item, each accepted or rejected) ->
``trained`` (the learner was retrained on L and scored on dev). A run killed anywhere and started
again on the same store continues from the status it finds, asking and generating nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from alsafe.learn.learners import make_learner
from alsafe.learn.strategies import cluster_pool, select
from alsafe.learn.vectorize import make_vectorizer
from alsafe.names import parse_learner, parse_strategy, parse_vectorizer
from alsafe.metrics import classification_scores
from alsafe.oracles import SimulatedOracle
from alsafe.store import RunStore


@dataclass(frozen=True)
class LoopStatus:
    """Where a run stands: rounds finished, and items of the current round still waiting for a person."""

    rounds_done: int
    rounds_total: int
    waiting_for: int = 0

    @property
    def finished(self) -> bool:
        return self.rounds_done >= self.rounds_total


class ActiveLearningLoop:
    """The paper's loop over a run store.

    Parameters
    ----------
    store : the run's :class:`~alsafe.store.RunStore` (pool items, labeled items, optional dev/test).
    strategy : ``random``, ``topn``, ``coreset`` or ``cluster`` (the paper's).
    budget : human labels to buy in total (the paper: 100).
    batch_size : labels per round, N (the paper: 20).
    n_clusters : clusters m of the pool for ``cluster`` (N/m items per cluster and round).
    n_variations : variations k per labeled item (the paper: 5); 0 or no generator turns generation off.
    learner : a learner name for :func:`alsafe.learn.learners.make_learner`, or a zero-argument callable
        returning a fresh learner (``fit``, ``predict_proba``, ``classes_``).
    learner_params : keyword arguments for ``make_learner``.
    vectorizer : a vectorizer name for :func:`alsafe.learn.vectorize.make_vectorizer` or an object with
        ``transform(texts)``; used for clustering and coreset distances.
    generator : an object with ``generate(store, seeds, round, learner)``, or None.
    oracle : :class:`~alsafe.oracles.SimulatedOracle` (default) or :class:`~alsafe.oracles.QueueOracle`.
    uncertainty : ``entropy`` (the paper's Eq. 1), ``least_confidence`` or ``margin``.
    random_state : seed for clustering, random selection and training.
    """

    def __init__(self, store: RunStore, strategy: str = "cluster", budget: int = 100, batch_size: int = 20,
                 n_clusters: int = 20, n_variations: int = 5, learner="tfidf-lr", learner_params: dict | None = None,
                 vectorizer="all-MiniLM-L6-v2", generator=None, oracle=None, uncertainty: str = "entropy",
                 random_state: int = 0, progress: bool = True):
        self.store = store
        self.strategy = strategy
        self.budget = budget
        self.batch_size = batch_size
        self.n_clusters = n_clusters
        self.n_variations = n_variations
        self.learner = learner
        self.learner_params = learner_params
        self.vectorizer = vectorizer
        self.generator = generator
        self.oracle = oracle
        self.uncertainty = uncertainty
        self.random_state = random_state
        self.progress = progress

    # -- checks ----------------------------------------------------------------------------
    def validate(self) -> None:
        """Refuse inconsistent settings before any work, naming the parameter."""
        parse_strategy(self.strategy)  # names: an unknown name fails here with the valid ones, before any work
        if isinstance(self.learner, str):
            parse_learner(self.learner)
        if isinstance(self.vectorizer, str):
            parse_vectorizer(self.vectorizer)
        for name in ("budget", "batch_size", "n_clusters"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, not {value!r}.")
        if not isinstance(self.n_variations, (int, np.integer)) or self.n_variations < 0:
            raise ValueError(f"n_variations must be zero or a positive integer, not {self.n_variations!r}.")
        if self.budget % self.batch_size:
            raise ValueError(f"budget ({self.budget}) must be a multiple of batch_size ({self.batch_size}) so that "
                             "every round buys the same number of labels.")
        pool = self.store.items("pool")
        if pool.empty:
            raise ValueError(f"The pool of {self.store.path} is empty; import unlabeled items first.")
        if self.budget > len(pool):
            raise ValueError(f"budget ({self.budget}) exceeds the pool's {len(pool)} items.")
        if self.strategy == "cluster" and self.n_clusters > len(pool):
            raise ValueError(f"n_clusters ({self.n_clusters}) exceeds the pool's {len(pool)} items.")
        if self.strategy == "cluster" and self.n_clusters > self.batch_size:
            raise ValueError(f"n_clusters ({self.n_clusters}) exceeds batch_size ({self.batch_size}); each round "
                             "takes at least one item per cluster.")
        bootstrap = self.store.items("labeled")
        classes = self.store.labeled()["label"].nunique()
        if not bootstrap.empty and classes < 2:
            raise ValueError(f"The labeled set L of {self.store.path} has {classes} class(es); the learner needs at "
                             "least two (add examples of another class to the bootstrap file).")

    @property
    def n_rounds(self) -> int:
        return self.budget // self.batch_size

    # -- the loop --------------------------------------------------------------------------
    def run(self, max_rounds: int | None = None) -> LoopStatus:
        """Run (or continue) rounds until the budget is spent, ``max_rounds`` more are done, or people are needed.

        A loop already running on the same store, in this process or another, is refused at once
        (:meth:`~alsafe.store.RunStore.loop_lock`).
        """
        with self.store.loop_lock():
            return self._run(max_rounds)

    def _run(self, max_rounds: int | None) -> LoopStatus:
        self.validate()
        oracle = self.oracle or SimulatedOracle()
        done = self._rounds_done()
        todo = range(done + 1, self.n_rounds + 1)
        if max_rounds is not None:
            todo = todo[:max_rounds]
        # counted from the rounds already done, so a resumed run's bar says how far the run is, not the call
        bar = tqdm(todo, desc=f"{self.strategy} rounds", unit="round", initial=done, total=self.n_rounds,
                   disable=not self.progress)
        for round in bar:
            status = self._status(round)
            if status is None:
                bar.set_postfix_str("select")
                self._select(round)
                status = "selected"
            if status == "selected":
                bar.set_postfix_str("label")
                waiting = oracle.answer(self.store, round)
                if waiting:
                    bar.close()
                    return LoopStatus(round - 1, self.n_rounds, waiting)
                self.store.set_round_status(round, "labeled")
                status = "labeled"
            if status == "labeled":
                bar.set_postfix_str("generate")
                self._generate(round)
                self.store.set_round_status(round, "generated")
                status = "generated"
            if status == "generated":
                bar.set_postfix_str("train")
                self.store.set_round_status(round, "trained", metrics=self._train_and_score(round))
        bar.close()
        return LoopStatus(self._rounds_done(), self.n_rounds)

    def _rounds_done(self) -> int:
        rounds = self.store.rounds()
        return int((rounds["status"] == "trained").sum())

    def _status(self, round: int) -> str | None:
        rounds = self.store.rounds().set_index("round")
        return rounds.loc[round, "status"] if round in rounds.index else None

    # -- steps -----------------------------------------------------------------------------
    def _select(self, round: int) -> None:
        pool = self.store.items("pool").reset_index(drop=True)
        labeled = self.store.labeled()
        labeled_mask = pool["id"].isin(set(labeled["id"])).to_numpy()
        if labeled["label"].nunique() < 2:
            return self._select_cold_start(round, pool, labeled_mask)
        learner = self._fit_learner()
        proba = learner.predict_proba(pool["text"].tolist())
        embeddings = clusters = None
        if self.strategy in ("cluster", "coreset"):
            embeddings = self._embeddings(pool["text"].tolist())
        if self.strategy == "cluster":
            # The paper clusters U once, before the loop: same embeddings and seed give the same clusters.
            clusters = cluster_pool(embeddings, self.n_clusters, random_state=self.random_state)
        rng = np.random.default_rng([self.random_state, round])
        selection = select(self.strategy, self.batch_size, proba=proba, embeddings=embeddings,
                           labeled_mask=labeled_mask, clusters=clusters, n_clusters=self.n_clusters,
                           uncertainty=self.uncertainty, random_state=rng)
        classes = np.asarray(learner.classes_)
        chosen = selection.indices
        self.store.start_round(round, self.strategy, pd.DataFrame({
            "item_id": pool["id"].to_numpy()[chosen],
            "cluster": selection.clusters,
            "score": selection.scores,
            "predicted_label": classes[proba[chosen].argmax(axis=1)],
        }))

    def _select_cold_start(self, round: int, pool: pd.DataFrame, labeled_mask: np.ndarray) -> None:
        """Without a learner (no bootstrap, or one class so far): the items nearest each cluster's centre."""
        embeddings = self._embeddings(pool["text"].tolist())
        clusters = cluster_pool(embeddings, self.n_clusters, random_state=self.random_state)
        centres = np.zeros((self.n_clusters, embeddings.shape[1]), dtype=np.float32)
        np.add.at(centres, clusters, embeddings)
        centres /= np.maximum(np.bincount(clusters, minlength=self.n_clusters), 1)[:, None]
        distance = ((embeddings - centres[clusters]) ** 2).sum(axis=1)
        candidates = np.flatnonzero(~labeled_mask)
        # Rank items within their cluster by distance to the centre; take rank 0, then 1, ... across clusters.
        order = candidates[np.lexsort((candidates, distance[candidates], clusters[candidates]))]
        first = np.r_[True, clusters[order][1:] != clusters[order][:-1]]
        starts = np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
        rank = np.arange(order.size) - starts
        chosen = order[np.lexsort((clusters[order], rank))][: self.batch_size]
        self.store.start_round(round, f"{self.strategy} (cold start: nearest to cluster centres)", pd.DataFrame({
            "item_id": pool["id"].to_numpy()[chosen], "cluster": clusters[chosen], "score": np.nan}))

    def _generate(self, round: int) -> None:
        if self.generator is None or self.n_variations == 0:
            return
        seeds = self.store.selections(round)[["item_id", "text", "label"]].rename(columns={"item_id": "id"})
        # The label-keeping gate uses a learner that has seen this round's human labels.
        self.generator.generate(self.store, seeds, round=round, learner=self._fit_learner())

    def generate_for(self, item_ids: list[str], round: int) -> None:
        """Generate the variations of labeled items now (as a person labels them), under their current labels.

        The label-keeping gate uses the learner last trained (at the round's selection; none before the
        first one), so labeling never waits for training; the round's own generation step later makes
        only what is missing.
        """
        if self.generator is None or self.n_variations == 0:
            return
        labeled = self.store.labeled().set_index("id")
        missing = [i for i in item_ids if i not in labeled.index]
        if missing:
            raise ValueError(f"items {', '.join(missing[:5])} have no current label; label them before generating.")
        seeds = labeled.loc[list(item_ids), ["text", "label"]].reset_index()
        self.generator.generate(self.store, seeds, round=round, learner=getattr(self, "learner_", None))

    def _train_and_score(self, round: int) -> dict:
        learner = self._fit_learner()
        training = self.store.training_set()
        acquired = self.store.selections()
        metrics = {
            "round": round,
            "n_human_labels": int((training["origin"] == "human").sum()),
            "n_acquired": int(acquired["label"].notna().sum()),
            "n_variations_accepted": int((training["origin"] == "llm").sum()),
            "acquired_class_counts": acquired["label"].value_counts().to_dict(),
        }
        for role in ("dev", "test"):
            items = self.store.items(role)
            if items.empty or items["gold_label"].isna().any():
                continue
            predicted = np.asarray(learner.classes_)[learner.predict_proba(items["text"].tolist()).argmax(axis=1)]
            scores = classification_scores(items["gold_label"], predicted, self.store.taxonomy.names)
            metrics[f"{role}_macro_f1"], metrics[f"{role}_accuracy"] = scores["f1"], scores["accuracy"]
        return metrics

    # -- learner and vectors ---------------------------------------------------------------
    def _fit_learner(self):
        """A learner trained on the current L, reused while L is unchanged (so resuming refits identically)."""
        training = self.store.training_set()
        fingerprint = hash(tuple(zip(training["id"], training["label"])))
        if getattr(self, "learner_fingerprint_", None) == fingerprint:
            return self.learner_
        if callable(self.learner) and not isinstance(self.learner, str):
            learner = self.learner()
        else:
            learner = make_learner(self.learner, random_state=self.random_state, **(self.learner_params or {}))
        learner.fit(training["text"].tolist(), training["label"].tolist())
        proba_check = learner.predict_proba(training["text"].head(2).tolist())
        if np.isnan(proba_check).any():
            raise ValueError("The learner returned NaN probabilities; check its training settings.")
        self.learner_, self.learner_fingerprint_ = learner, fingerprint
        return learner

    def _embeddings(self, texts: list[str]) -> np.ndarray:
        if getattr(self, "vectorizer_", None) is None:
            self.vectorizer_ = make_vectorizer(self.vectorizer) if isinstance(self.vectorizer, str) else self.vectorizer
        vectorizer = self.vectorizer_
        if hasattr(vectorizer, "fit") and getattr(vectorizer, "needs_fit", False):
            vectorizer.fit(texts)
        return np.asarray(vectorizer.transform(texts), dtype=np.float32)
