"""The run store's variations: what the LLM wrote for each labeled item, the filters' verdicts, people's reviews.

A part of :class:`alsafe.store.RunStore` (its ``variations`` table, :mod:`alsafe.schema`), as the LLM-call
ledger is: generation writes them, the review list and the training set read them.
"""

from __future__ import annotations

import time

import pandas as pd

from alsafe.exceptions import StoreError
from alsafe.schema import CURRENT_VARIATION, SEED_LABEL_SQL


class VariationLog:
    """Variation methods of a run store (needs ``_db``, ``transaction()`` and ``_check_labels()``)."""

    def add_variations(self, rows: pd.DataFrame | list[dict]) -> int:
        """Record generated variations with their verdicts (all in one transaction).

        Each row needs ``seed_id, sample_index, text, label, relation, backend, model, prompt_hash,
        status`` (``accepted``/``rejected``) and, for rejections, a ``reason``. Rows already present
        (same seed, relation, label, prompt and sample) are left as they are.
        """
        records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
        for record in records:
            if record.get("status") not in ("accepted", "rejected"):
                raise StoreError(f"Variation of {record.get('seed_id')!r} has status {record.get('status')!r}; "
                                 "use 'accepted' or 'rejected'.")
            if record["status"] == "rejected" and not record.get("reason"):
                raise StoreError(f"Rejected variation of {record.get('seed_id')!r} needs a reason.")
        self._check_labels([r["label"] for r in records])
        now = time.time()
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                """INSERT OR IGNORE INTO variations(seed_id, round, sample_index, text, label, relation, backend,
                   model, prompt_hash, status, reason, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                [(r["seed_id"], r.get("round"), int(r["sample_index"]), r["text"], r["label"], r["relation"],
                  r["backend"], r["model"], r["prompt_hash"], r["status"], r.get("reason"), now) for r in records],
            )
            added = db.total_changes - before
        return added

    def review_variation(self, variation_id: int, accepted: bool, reviewer: str, reason: str | None = None) -> None:
        """A human's verdict on one variation (the check of the relation R)."""
        if not accepted and not reason:
            raise StoreError(f"Rejecting variation {variation_id} needs a reason.")
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE variations SET status = ?, reason = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ?",
                ("accepted" if accepted else "rejected", reason, reviewer, time.time(), variation_id),
            ).rowcount
        if not changed:
            raise StoreError(f"No variation with id {variation_id}.")

    def variations(self, seed_id: str | None = None, status: str | None = None,
                   current_only: bool = False) -> pd.DataFrame:
        """Every stored variation, with its seed's ``seed_text``, ``seed_label`` (current human label or None) and
        ``current`` (it still belongs to that label: :data:`alsafe.schema.CURRENT_VARIATION`; ``current_only``)."""
        query = (f"SELECT v.*, (SELECT i.text FROM items i WHERE i.id = v.seed_id) AS seed_text, "
                 f"({SEED_LABEL_SQL}) AS seed_label, ({CURRENT_VARIATION}) AS current FROM variations v WHERE 1 = 1")
        params: list = []
        if seed_id is not None:
            query += " AND v.seed_id = ?"
            params.append(seed_id)
        if status is not None:
            query += " AND v.status = ?"
            params.append(status)
        if current_only:
            query += f" AND ({CURRENT_VARIATION})"
        table = pd.read_sql_query(query + " ORDER BY v.id", self._db, params=params)
        table["current"] = table["current"].astype(bool)
        return table
