"""Tables the generation notebook shows: a preview of a few seeds, the cost ledger, the verdict summary."""

from __future__ import annotations

from collections import Counter
import pandas as pd

from alsafe.generate.filters import reason_kind
from alsafe.generate.generator import Generator

PREVIEW_COLUMNS = ["seed_id", "seed_text", "label", "prompt", "raw_output", "sample_index", "text", "status",
                   "reason"]


def preview(generator: Generator, seeds: pd.DataFrame, store=None, learner=None, taxonomy=None) -> pd.DataFrame:
    """For a handful of seeds: the prompt sent, the raw answers, each parsed variation and its verdict.

    Nothing is recorded as a variation; with ``store`` the calls are cached there (a later
    ``generate`` of the same seeds makes no call). ``generator.report_`` holds the per-seed summary.
    """
    return generator.preview(seeds, store=store, learner=learner, taxonomy=taxonomy)[PREVIEW_COLUMNS]


def summary(previews: pd.DataFrame, n_variations: int) -> pd.DataFrame:
    """Per backend and seed: variations asked, returned and accepted (``previews``: :func:`preview` rows with a
    ``backend`` column)."""
    grouped = previews.groupby(["backend", "seed_text", "label"], sort=False)
    table = grouped.agg(returned=("text", "size"), accepted=("status", lambda s: int((s == "accepted").sum())))
    return table.reset_index().assign(asked=n_variations)


def acceptance(summary_table: pd.DataFrame) -> pd.DataFrame:
    """Per backend: variations returned and accepted, and the accepted share in percent."""
    table = summary_table.groupby("backend", sort=False)[["returned", "accepted"]].sum().reset_index()
    return table.assign(accepted_share=(100 * table["accepted"] / table["returned"]).round(1))


def ledger(store) -> pd.DataFrame:
    """Calls, tokens, dollars and latency per backend and model, from the store's ``llm_calls``."""
    calls = store.llm_calls()
    if calls.empty:
        return pd.DataFrame(columns=["backend", "model", "calls", "prompt_tokens", "completion_tokens", "cost_usd",
                                     "mean_latency_s"])
    grouped = calls.groupby(["backend", "model"], sort=False)
    return grouped.agg(calls=("cache_key", "size"), prompt_tokens=("prompt_tokens", "sum"),
                       completion_tokens=("completion_tokens", "sum"),
                       cost_usd=("cost_usd", lambda s: s.sum(min_count=1)),
                       mean_latency_s=("latency_s", "mean")).reset_index()


def verdicts(store, round: int | None = None) -> pd.DataFrame:
    """Per seed: variations stored, accepted, rejected, and the rejection reasons by kind."""
    table = store.variations()
    if round is not None:
        table = table[table["round"] == round]
    rows = []
    for seed_id, group in table.groupby("seed_id", sort=False):
        kinds = Counter(reason_kind(r) for r in group["reason"].dropna())
        rows.append({"seed_id": seed_id, "variations": len(group),
                     "accepted": int((group["status"] == "accepted").sum()),
                     "rejected": int((group["status"] == "rejected").sum()),
                     "reasons": ", ".join(f"{k}: {v}" for k, v in kinds.most_common())})
    return pd.DataFrame(rows, columns=["seed_id", "variations", "accepted", "rejected", "reasons"])
