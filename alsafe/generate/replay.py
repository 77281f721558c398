"""The ``replay`` backend: the paper's own GPT-3.5 variations, served offline from the released splits.

Each training split (random, topn, coreset, cluster) holds 100 human originals and, before them, the
variations GPT-3.5-turbo wrote for each (``origin == 'llm'`` rows whose ``seed_id`` names the original).
Replaying a split over its own originals reproduces the paper's generations exactly. Seeds are matched
by their normalised text; a seed the split has no record for is an error (or goes to ``fallback``),
never an invented answer.
"""

from __future__ import annotations

import json
import time
import unicodedata

import pandas as pd

from alsafe.generate.base import Backend, Completion, Request, describe


class ReplayMissing(LookupError):
    """The released split has no variations for a seed."""


def normalise(text: str) -> str:
    """The key a seed is looked up by: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


class ReplayBackend(Backend):
    """Serve the released variations of one training split.

    Parameters
    ----------
    split : ``cluster`` (the paper's method, default), ``random``, ``topn`` or ``coreset``.
    table : the split's canonical table (``alsafe.data.load_split``); loaded on first use when None.
    fallback : a backend that answers for seeds the split does not hold; None makes them an error.
    """

    name = "replay"
    style = "chat"
    max_concurrency = 64

    def __init__(self, split: str = "cluster", table: pd.DataFrame | None = None, fallback: Backend | None = None):
        from alsafe.data import TRAINING_SPLITS

        if split not in TRAINING_SPLITS:
            raise ValueError(f"split must be one of {', '.join(TRAINING_SPLITS)}, not {split!r}.")
        self.split = split
        self.table = table
        self.fallback = fallback
        self.model = f"gpt-3.5-turbo (paper, {split} split)"
        self._index: dict[str, list[str]] | None = None

    def __repr__(self) -> str:
        return f"ReplayBackend(split={self.split!r}, fallback={self.fallback!r})"

    def index(self) -> dict[str, list[str]]:
        """Normalised original text -> its released variations, in file order."""
        if self._index is None:
            table = self.table
            if table is None:
                from alsafe.data import load_split

                table = load_split(self.split)
            missing = {"id", "text", "origin", "seed_id"} - set(table.columns)
            if missing:
                raise ValueError(f"ReplayBackend(table=...) lacks the column(s) {', '.join(sorted(missing))}; "
                                 "pass alsafe.data.load_split(split).")
            texts = dict(zip(table["id"], table["text"]))
            index: dict[str, list[str]] = {}
            generated = table[table["origin"] == "llm"]
            for seed_id, block in generated.groupby("seed_id", sort=False):
                # An original repeated in the split keeps the variations of its first occurrence.
                index.setdefault(normalise(texts[seed_id]), block["text"].tolist())
            self._index = index
        return self._index

    def variations_for(self, seed_text: str) -> list[str] | None:
        return self.index().get(normalise(seed_text))

    def resolve(self, seed_text: str) -> Backend:
        if self.variations_for(seed_text) is not None:
            return self
        if self.fallback is not None:
            return self.fallback.resolve(seed_text)
        raise ReplayMissing(f"The paper's {self.split} split has no variations for the seed "
                            f"{describe(seed_text)!r}; pass ReplayBackend(fallback=...) to generate for it.")

    def validate(self) -> None:
        self.index()

    def check(self) -> None:
        self.index()

    async def acomplete(self, request: Request) -> Completion:
        started = time.perf_counter()
        variations = self.variations_for(request.seed_text)
        if variations is None:
            raise ReplayMissing(f"The paper's {self.split} split has no variations for the seed "
                                f"{describe(request.seed_text)!r}.")
        chunk = variations[request.offset:request.offset + request.asked]
        # Cost and tokens were the paper's; nothing is spent here.
        return Completion(text=json.dumps(chunk, ensure_ascii=False), finish_reason="stop", cost_usd=0.0,
                          prompt_tokens=0, completion_tokens=0, latency_s=time.perf_counter() - started)
