"""The paper's Tables 4-8 and our additions, built from one predictions table, ours beside the paper's.

Functions here return tables (each carrying its notes in ``attrs["notes"]``); notebooks show them and
write the same objects through :mod:`alsafe.report`; :mod:`alsafe.paper.conclusions` renders what was
written into the READMEs. Cells are the mean and sample std over seeds (the paper ran once per cell).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from alsafe.paper.error_analysis import error_distribution, error_sample, table7, table8
from alsafe.paper.experiments import (APPROACHES, SETTING_TABLES, SOLVER_PROTOCOL, Experiments, best_model, leak_check,
                                     protocol_of, run_scores, summarize_scores)
from alsafe.metrics import SCORE_NAMES, paired_bootstrap, per_class_scores
from alsafe.paper.reference import PAPER_MODELS, paper_results
from alsafe.paper.reference import PAPER_TAXONOMY

TABLE_SETTINGS = {table: setting for setting, table in SETTING_TABLES.items()}
APPROACH_ORDER = ("baseline",) + APPROACHES


def _order(table: pd.DataFrame, ran: Sequence[str]) -> pd.DataFrame:
    """Our models in run order, then the paper's; approaches in the paper's order."""
    ran = list(ran)
    rank = table["model"].map(lambda m: ran.index(m) if m in ran else len(ran) + list(PAPER_MODELS).index(m)
                              if m in PAPER_MODELS else len(ran) + len(PAPER_MODELS))
    approach = table["approach"].map({a: i for i, a in enumerate(APPROACH_ORDER)})
    return table.assign(_a=approach, _m=rank).sort_values(["_a", "_m"]).drop(columns=["_a", "_m"]).reset_index(
        drop=True)


def results_table(scores: pd.DataFrame, table_id: str) -> pd.DataFrame:
    """Table 4, 5 or 6: mean and std over seeds of accuracy and macro P/R/F1, beside the paper's values.

    ``scores`` is :func:`alsafe.paper.experiments.run_scores`' output. One row per (approach, model) run
    here or reported by the paper; ``<metric> (paper)`` holds the paper's number (empty for our
    offline models), and the paper's models not run here keep a row with only those columns.
    """
    if table_id not in TABLE_SETTINGS:
        raise ValueError(f"table_id must be one of {list(TABLE_SETTINGS)}, not {table_id!r}.")
    setting = TABLE_SETTINGS[table_id]
    ours = summarize_scores(scores[scores["setting"] == setting]).drop(columns="setting")
    paper = paper_results(table_id).assign(value=lambda t: t["value"].astype(float))
    paper = paper.pivot_table(index=["approach", "model"], columns="metric", values="value").reset_index()
    paper = paper.rename(columns={m: f"{m} (paper)" for m in SCORE_NAMES})
    table = ours.merge(paper, on=["approach", "model"], how="outer")
    table.insert(0, "setting", setting)
    table.insert(3, "protocol", table["model"].map(protocol_of))
    table["n_seeds"] = table["n_seeds"].astype("Int64")
    return _order(table, list(dict.fromkeys(scores["model"])))


def _aligned(predictions: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """True labels by test id, and each (setting, model, approach)'s predictions as an (n_seeds, n) array."""
    ids = np.sort(predictions["id"].unique())
    first = predictions.drop_duplicates("id")
    truth = first["true"].astype(str).to_numpy()[np.argsort(first["id"].to_numpy())]
    runs = {}
    for key, group in predictions.groupby(["setting", "model", "approach"], observed=True, sort=False):
        seeds, seed_at = np.unique(group["seed"].to_numpy(), return_inverse=True)
        wide = np.full((len(seeds), len(ids)), None, dtype=object)
        wide[seed_at, np.searchsorted(ids, group["id"].to_numpy())] = group["predicted"].astype(str).to_numpy()
        if len(group) != wide.size or (wide == None).any():  # noqa: E711 (elementwise)
            raise ValueError(f"run {key} lacks predictions for some test items; every run must score the same items.")
        runs[key] = wide
    return truth, runs


def cluster_ci_table(predictions: pd.DataFrame, settings: Sequence[str] = ("without-llm", "with-llm"),
                     reference: str = "cluster", metric: str = "f1", n_resamples: int = 1000,
                     confidence: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """Paired bootstrap CI of ``reference`` minus each other approach, per setting and model (the central claim).

    Items are resampled (the same resamples for every comparison, from ``random_state``) and each
    seed is scored on them; see :func:`alsafe.metrics.paired_bootstrap`. ``difference (paper)``
    is the paper's single-run difference for its models.
    """
    classes = PAPER_TAXONOMY.names
    truth, runs = _aligned(predictions[predictions["setting"].isin(settings)])
    rows = []
    for (setting, model, approach), pred in runs.items():
        if approach == reference or (setting, model, reference) not in runs:
            continue
        ci = paired_bootstrap(truth, runs[(setting, model, reference)], pred, classes, metric, n_resamples,
                              confidence, random_state)
        rows.append({"setting": setting, "model": model, "approach": approach, "reference": reference,
                     "metric": metric, "n_seeds": min(len(pred), len(runs[(setting, model, reference)])),
                     "n_items": len(truth)} | ci)
    table = pd.DataFrame(rows, columns=["setting", "model", "approach", "reference", "metric", "n_seeds",
                                        "n_items", "difference", "low", "high", "p_not_greater"])
    paper = []
    for setting in settings:
        values = paper_results(SETTING_TABLES[setting]).query("metric == @metric")
        values = values.assign(value=values["value"].astype(float)).set_index(["model", "approach"])["value"]
        for model in PAPER_MODELS:
            if (model, reference) in values.index:
                for approach in APPROACHES:
                    if approach != reference and (model, approach) in values.index:
                        paper.append({"setting": setting, "model": model, "approach": approach,
                                      "difference (paper)": values[(model, reference)] - values[(model, approach)]})
    table = table.merge(pd.DataFrame(paper), on=["setting", "model", "approach"], how="outer")
    table["reference"], table["metric"] = reference, metric
    table.insert(2, "protocol", table["model"].map(protocol_of))
    table[["n_seeds", "n_items"]] = table[["n_seeds", "n_items"]].astype("Int64")
    table = _order(table, list(dict.fromkeys(predictions["model"].astype(str))))
    return table.sort_values("setting", key=lambda s: s.map(list(settings).index), kind="stable").reset_index(
        drop=True)


def compute_matched_table(predictions: pd.DataFrame, metric: str = "f1", n_resamples: int = 1000,
                          confidence: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """What the LLM variations add at equal compute: baseline / without-LLM / with-LLM per model and approach.

    Only runs whose budget does not grow with the data take part: fine-tuned models under a
    ``steps-N`` protocol (the same N optimizer steps for 150, 250 and 750 titles) and learners solved
    to convergence. ``llm_gain`` is with-LLM minus without-LLM (mean over seeds) with its paired
    bootstrap CI over test items (:func:`alsafe.metrics.paired_bootstrap`).
    """
    models = [m for m in dict.fromkeys(predictions["model"].astype(str))
              if protocol_of(m) == SOLVER_PROTOCOL or protocol_of(m).startswith("steps-")]
    chosen = predictions[predictions["model"].astype(str).isin(models)]
    if chosen.empty:
        return pd.DataFrame(columns=["model", "protocol", "approach", "llm_gain", "llm_gain_low", "llm_gain_high"])
    summary = summarize_scores(run_scores(chosen)).set_index(["model", "setting", "approach"])
    truth, runs = _aligned(chosen)
    rows = []
    for model in models:
        for approach in APPROACHES:
            with_key, without_key = ("with-llm", model, approach), ("without-llm", model, approach)
            if with_key not in runs or without_key not in runs:
                continue
            row = {"model": model, "protocol": protocol_of(model), "approach": approach}
            for setting, key in [("baseline", (model, "baseline", "baseline")), ("without-llm", (model, "without-llm",
                                 approach)), ("with-llm", (model, "with-llm", approach))]:
                found = key in summary.index
                row[f"{setting} {metric}"] = summary.loc[key, metric] if found else np.nan
                row[f"{setting} {metric}_std"] = summary.loc[key, f"{metric}_std"] if found else np.nan
            ci = paired_bootstrap(truth, runs[with_key], runs[without_key], PAPER_TAXONOMY.names, metric, n_resamples,
                                  confidence, random_state)
            rows.append(row | {"llm_gain": ci["difference"], "llm_gain_low": ci["low"], "llm_gain_high": ci["high"],
                               "n_seeds": len(runs[with_key])})
    return pd.DataFrame(rows)


def per_class_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per-class precision, recall and F1 (mean and std over seeds) of every model, setting and approach."""
    classes = PAPER_TAXONOMY.names
    parts = []
    for (model, setting, approach, seed), run in predictions.groupby(["model", "setting", "approach", "seed"],
                                                                     observed=True, sort=False):
        scores = per_class_scores(run["true"].astype(str), run["predicted"].astype(str), classes)
        parts.append(scores.assign(model=model, setting=setting, approach=approach, seed=seed))
    long = pd.concat(parts, ignore_index=True)
    grouped = long.groupby(["model", "setting", "approach", "class"], observed=True, sort=False)
    table = grouped[["precision", "recall", "f1", "support"]].mean()
    table["f1_std"] = grouped["f1"].std(ddof=1)
    table["n_seeds"] = grouped.size()
    table = table.reset_index()
    table["class"] = table["class"].map(PAPER_TAXONOMY.display)
    return table


def _noted(table: pd.DataFrame, *notes: str) -> pd.DataFrame:
    """``table`` carrying its notes (``attrs["notes"]``), which :func:`alsafe.report.save_table` records."""
    table.attrs["notes"] = list(notes)
    return table


def transfer_tables(experiments: Experiments, dataset: pd.DataFrame, n_resamples: int = 1000,
                    random_state: int = 0) -> dict[str, pd.DataFrame]:
    """Tables 4, 5, 6 (whichever settings ran), per-class scores, Cluster-vs-others CIs and the leak check.

    Returns ``{table id: table}``, each table carrying its notes; the notebook shows them and its
    record cell writes these same objects with :func:`alsafe.report.save_tables`.
    """
    predictions = experiments.predictions
    scores = run_scores(predictions)
    ran = set(predictions["setting"].astype(str))
    note = ("Ours: mean and sample std over seeds; paper: one run per cell. Rows of the paper's models that were "
            "not run here hold only the paper's columns.")
    spread = summarize_scores(scores)
    fixed = [m for m, g in spread[spread["n_seeds"] > 1].groupby("model", sort=False) if g["f1_std"].eq(0).all()]
    if fixed:
        note += f" {', '.join(fixed)} scored identically under every seed (a deterministic learner): its std is 0."
    tables = {table_id: _noted(results_table(scores, table_id), note)
              for table_id, setting in TABLE_SETTINGS.items() if setting in ran}
    tables["per_class"] = _noted(per_class_table(predictions), note)
    if {"without-llm", "with-llm"} & ran and "cluster" in set(predictions["approach"].astype(str)):
        ci = cluster_ci_table(predictions, [s for s in ("without-llm", "with-llm") if s in ran],
                              n_resamples=n_resamples, random_state=random_state)
        tables["cluster_ci"] = _noted(ci, "Paired bootstrap over test items of macro-F1(cluster) - macro-F1(approach); "
                                      "each resample scores every seed and averages them. p_not_greater: share of "
                                      "resamples with a difference <= 0.")
    if {"without-llm", "with-llm"} <= ran:
        tables["compute_matched"] = _noted(
            compute_matched_table(predictions, n_resamples=n_resamples, random_state=random_state),
            "Equal compute: fine-tuned models under a steps-N protocol train the same N optimizer steps on 150, 250 "
            "and 750 titles; 'solver' learners are solved to convergence. llm_gain: with-LLM minus without-LLM "
            "macro-F1, paired bootstrap 95% CI over test items.")
    leaks = leak_check(dataset)
    tables["leak_check"] = _noted(leaks, f"{leaks['test_id'].nunique()} test titles occur (after case, whitespace and "
                                  "quote normalization) in training or dev splits; "
                                  f"{int(leaks['same_post'].sum()) if len(leaks) else 0} pairs share a Reddit id.")
    return tables


def error_analysis(predictions: pd.DataFrame, dataset: pd.DataFrame, n_errors: int = 100, n_examples: int = 2,
                   random_state: int = 0) -> tuple[str, dict[str, pd.DataFrame]]:
    """The best with-LLM model, and Tables 7, 8 and Figure 3's counts for it (``{table id: table}`` with notes)."""
    if "with-llm" not in set(predictions["setting"].astype(str)):
        raise ValueError("The error analysis needs predictions of the with-llm setting; run the transfer "
                         "experiments with it first.")
    model = best_model(run_scores(predictions), "with-llm")
    sample = error_sample(predictions, model, n_errors=n_errors, random_state=random_state)
    return model, {
        "table7": _noted(table7(predictions, dataset, model, n_per_approach=n_examples, random_state=random_state),
                         f"Our errors are from {model}, the best model by mean macro-F1 with LLM generation; the "
                         "paper's from roberta-base."),
        "table8": _noted(table8(predictions), "error_std: sample std over classes of (test errors of the class / its "
                         "test items) in percent, mean over seeds; see alsafe.metrics.normalized_error_std."),
        "figure3": _noted(error_distribution(sample), f"True classes of {n_errors} errors per approach drawn from "
                          f"{model}'s errors pooled over seeds."),
    }
