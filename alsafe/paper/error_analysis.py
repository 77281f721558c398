"""Error analysis of section 5.4: examples (Table 7), class-normalized error spread (Table 8), Figure 3's sample."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from alsafe.paper.experiments import APPROACHES, normalize_title
from alsafe.metrics import class_error_rates, normalized_error_std
from alsafe.paper.reference import PAPER_TABLE7, PAPER_TAXONOMY, paper_results

def _one(predictions: pd.DataFrame, model: str, setting: str) -> pd.DataFrame:
    chosen = predictions[(predictions["model"] == model) & (predictions["setting"] == setting)]
    if chosen.empty:
        raise ValueError(f"predictions hold no runs of model {model!r} in setting {setting!r}.")
    return chosen


def error_sample(predictions: pd.DataFrame, model: str, setting: str = "with-llm", n_errors: int = 100,
                 random_state: int = 0) -> pd.DataFrame:
    """``n_errors`` misclassified test items per approach, drawn without replacement (Figure 3's sample).

    The paper drew 100 errors of one roberta-base run per approach. Here the errors of all seeds
    are pooled (one row per seed and item) and drawn with ``random_state``, so the sample reflects
    the model rather than one seed; an approach with fewer errors contributes all of them.
    """
    chosen = _one(predictions, model, setting)
    rng = np.random.default_rng(random_state)
    parts = []
    for approach in [a for a in APPROACHES if a in set(chosen["approach"])]:
        errors = chosen[(chosen["approach"] == approach) & (chosen["true"] != chosen["predicted"])]
        errors = errors.sort_values(["seed", "id"])
        take = rng.choice(len(errors), size=min(n_errors, len(errors)), replace=False)
        parts.append(errors.iloc[np.sort(take)][["approach", "seed", "id", "true", "predicted"]])
    return pd.concat(parts, ignore_index=True).astype({"approach": str, "true": str, "predicted": str})


def error_distribution(sample: pd.DataFrame, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Errors of ``sample`` per true class (display names) and approach: Figure 3's bars."""
    classes = list(classes or PAPER_TAXONOMY.names)
    approaches = [a for a in APPROACHES if a in set(sample["approach"])]
    counts = pd.crosstab(sample["true"], sample["approach"]).reindex(index=classes, columns=approaches,
                                                                      fill_value=0)
    counts.index = [PAPER_TAXONOMY.display(c) for c in classes]
    return counts.rename_axis("class").reset_index()


def table7(predictions: pd.DataFrame, dataset: pd.DataFrame, model: str, setting: str = "with-llm",
           n_per_approach: int = 2, random_state: int = 0) -> pd.DataFrame:
    """Misclassified test titles per approach, and the paper's Table 7 examples with our model's predictions.

    Columns: ``source`` (``ours`` or ``paper``), ``approach``, ``id``, ``text``, ``true``,
    ``predicted`` (our ``model``; for the paper's rows its prediction on the same test title, by
    the majority over seeds, empty where that title is not among the scored items) and
    ``predicted (paper)``. ``true`` is the released label; the paper's printed one is ``true (paper)``.
    """
    texts = dataset.set_index("id")["text"]
    labels = dataset.set_index("id")["display_label"]
    ours = error_sample(predictions, model, setting, n_per_approach, random_state)
    rows = [{"source": "ours", "approach": r.approach, "id": r.id, "text": texts[r.id],
             "true": PAPER_TAXONOMY.display(r.true), "predicted": PAPER_TAXONOMY.display(r.predicted),
             "true (paper)": None, "predicted (paper)": None} for r in ours.itertuples()]
    chosen = _one(predictions, model, setting)
    test = dataset[dataset["split"] == "test"]
    keys = test.assign(key=test["text"].map(normalize_title)).set_index("key")["id"]
    for approach, text, true, predicted in PAPER_TABLE7:
        test_id = keys.get(normalize_title(text))
        test_id = test_id.iloc[0] if isinstance(test_id, pd.Series) else test_id
        votes = chosen.loc[(chosen["approach"] == approach) & (chosen["id"] == test_id), "predicted"].astype(str)
        rows.append({"source": "paper", "approach": approach, "id": test_id,
                     "text": texts[test_id] if test_id is not None else text,
                     "true": labels[test_id] if test_id is not None else None,
                     "predicted": PAPER_TAXONOMY.display(votes.mode().iloc[0]) if len(votes) else None,
                     "true (paper)": true, "predicted (paper)": predicted})
    return pd.DataFrame(rows)


def table8(predictions: pd.DataFrame, setting: str = "with-llm", classes: Sequence[str] | None = None,
           reference_counts: Mapping[str, int] | None = None, by: str = "true", ddof: int = 1) -> pd.DataFrame:
    """Std across classes of class-normalized test errors per model and approach, beside the paper's.

    See :func:`alsafe.metrics.normalized_error_std` for the normalization and its source in the
    paper; ``reference_counts``, ``by`` and ``ddof`` choose among the readings. One row per
    (model, approach) with ``error_std`` (mean over seeds), ``error_std_std`` (std over seeds),
    the mean per-class error rates (``error % <class>``) and ``error_std (paper)`` (the paper's
    roberta-base row; its rows appear even when roberta-base was not run).
    """
    classes = list(classes or PAPER_TAXONOMY.names)
    chosen = predictions[predictions["setting"] == setting]
    if chosen.empty:
        raise ValueError(f"setting {setting!r} was not run; Table 8 needs its predictions.")
    rows = []
    for (model, approach), group in chosen.groupby(["model", "approach"], observed=True, sort=False):
        stds, rates = [], []
        for _, run in group.groupby("seed", sort=True):
            true, pred = run["true"].astype(str), run["predicted"].astype(str)
            stds.append(normalized_error_std(true, pred, classes, reference_counts, by, ddof))
            rates.append(class_error_rates(true, pred, classes, reference_counts, by))
        row = {"model": model, "approach": approach, "n_seeds": len(stds), "error_std": float(np.mean(stds)),
               "error_std_std": float(np.std(stds, ddof=1)) if len(stds) > 1 else np.nan}
        mean_rates = pd.concat(rates, axis=1).mean(axis=1)
        row |= {f"error % {PAPER_TAXONOMY.display(c)}": mean_rates[c] for c in classes}
        rows.append(row)
    table = pd.DataFrame(rows)
    paper = paper_results("table8").assign(value=lambda t: t["value"].astype(float))
    paper = paper.rename(columns={"value": "error_std (paper)"})[["model", "approach", "error_std (paper)"]]
    table = table.merge(paper, on=["model", "approach"], how="outer")
    table["n_seeds"] = table["n_seeds"].astype("Int64")
    order = {a: i for i, a in enumerate(APPROACHES)}
    ran = list(dict.fromkeys(chosen["model"].astype(str)))
    table["_model"] = table["model"].map(lambda m: ran.index(m) if m in ran else len(ran))
    table["_approach"] = table["approach"].map(order)
    return table.sort_values(["_model", "model", "_approach"]).drop(columns=["_model", "_approach"]).reset_index(
        drop=True)
