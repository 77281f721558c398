"""The run store's LLM-call ledger: the content-addressed generation cache and what each call cost.

A part of :class:`alsafe.store.RunStore` (its ``llm_calls`` table, :mod:`alsafe.schema`), kept apart because
generation is its only reader and writer: a call is looked up by its cache key before it is made, and
recorded with its tokens, cost and latency once it has answered.
"""

from __future__ import annotations

import json
import time

import pandas as pd


class LLMLedger:
    """Cache and cost ledger methods of a run store (needs ``_db`` and ``transaction()``)."""

    def cached_response(self, cache_key: str) -> str | None:
        """The stored response for ``cache_key``, or None if this exact request was never made."""
        row = self._db.execute("SELECT response FROM llm_calls WHERE cache_key = ?", (cache_key,)).fetchone()
        return None if row is None else row[0]

    def record_llm_call(self, cache_key: str, backend: str, model: str, prompt: str, params: dict, response: str,
                        prompt_tokens: int | None = None, completion_tokens: int | None = None,
                        cost_usd: float | None = None, latency_s: float | None = None) -> None:
        """Store one completed LLM call (the cache entry and its cost line)."""
        with self.transaction() as db:
            db.execute(
                """INSERT OR IGNORE INTO llm_calls(cache_key, backend, model, prompt, params, response,
                   prompt_tokens, completion_tokens, cost_usd, latency_s, created_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (cache_key, backend, model, prompt, json.dumps(params, sort_keys=True, default=str), response,
                 prompt_tokens, completion_tokens, cost_usd, latency_s, time.time()),
            )

    def llm_calls(self) -> pd.DataFrame:
        """The ledger: one row per answered call (``params``: what was sent besides the prompt, as a dict)."""
        calls = pd.read_sql_query(
            "SELECT id, cache_key, backend, model, params, prompt_tokens, completion_tokens, cost_usd, latency_s, "
            "created_at FROM llm_calls ORDER BY id",
            self._db,
        )
        calls["params"] = calls["params"].map(json.loads)
        return calls

    def cost_summary(self) -> dict:
        """Calls, tokens and dollars spent so far."""
        calls, prompt, completion, cost = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0), "
            "COALESCE(SUM(cost_usd),0) FROM llm_calls"
        ).fetchone()
        return {"calls": calls, "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": cost}
