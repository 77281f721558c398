"""The ``replay`` backend: the paper's own GPT-3.5 variations, served offline from the released splits.

Each training split (random, topn, coreset, cluster) holds 100 human originals and, before them, the
variations GPT-3.5-turbo wrote for each (``origin == 'llm'`` rows whose ``seed_id`` names the original).
Replaying a split over its own originals reproduces the paper's generations exactly. Seeds are matched
by their normalised text (and by id where a title occurs twice); a seed the split has no record for
is an error (or goes to ``fallback``), never an invented answer.
"""

from __future__ import annotations

import json
import time
import unicodedata

import pandas as pd

from alsafe.exceptions import ReplayMissing
from alsafe.generate.backends.base import Backend, Completion, Request, describe


def normalise(text: str) -> str:
    """The key a seed is looked up by: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


class ReplayBackend(Backend):
    """Serve the released variations of one training split.

    Parameters
    ----------
    split : ``cluster`` (the paper's method, default), ``random``, ``topn`` or ``coreset``.
    table : the split's canonical table (``alsafe.paper.data.load_split``); loaded on first use when None.
    fallback : a backend that answers for seeds the split does not hold; None makes them an error.
    """

    name = "replay"
    style = "chat"
    max_concurrency = 64
    default_filters = ()  # the paper's outputs are served as they were released, unfiltered

    def __init__(self, split: str = "cluster", table: pd.DataFrame | None = None, fallback: Backend | None = None):
        from alsafe.paper.data import TRAINING_SPLITS

        if split not in TRAINING_SPLITS:
            raise ValueError(f"split must be one of {', '.join(TRAINING_SPLITS)}, not {split!r}.")
        self.split = split
        self.table = table
        self.fallback = fallback
        self.model = f"gpt-3.5-turbo (paper, {split} split)"
        self._index = None

    def __repr__(self) -> str:
        return f"ReplayBackend(split={self.split!r}, fallback={self.fallback!r})"

    def index(self) -> tuple[dict[str, tuple[str, list[str]]], dict[str, list[str]]]:
        """(original id -> (normalised text, its released variations), normalised text -> original ids)."""
        if self._index is None:
            table = self.table
            if table is None:
                from alsafe.paper.data import load_split

                table = load_split(self.split)
            missing = {"id", "text", "origin", "seed_id"} - set(table.columns)
            if missing:
                raise ValueError(f"ReplayBackend(table=...) lacks the column(s) {', '.join(sorted(missing))}; "
                                 "pass alsafe.paper.data.load_split(split).")
            texts = dict(zip(table["id"], table["text"]))
            by_id: dict[str, tuple[str, list[str]]] = {}
            by_text: dict[str, list[str]] = {}
            generated = table[table["origin"] == "llm"]
            for seed_id, block in generated.groupby("seed_id", sort=False):
                key = normalise(texts[seed_id])
                by_id[seed_id] = (key, block["text"].tolist())
                by_text.setdefault(key, []).append(seed_id)
            self._index = (by_id, by_text)
        return self._index

    def block_for(self, seed_text: str, seed_id: str | None = None) -> str | None:
        """The released original whose variations answer this seed, or None.

        Some titles occur twice in a split with different variations (GPT-3.5 was asked again in a
        later round); a seed carrying the split's own id gets its own block, any other the first.
        """
        by_id, by_text = self.index()
        key = normalise(seed_text)
        if seed_id in by_id and by_id[seed_id][0] == key:
            return seed_id
        return by_text[key][0] if key in by_text else None

    def resolve(self, seed_text: str, seed_id: str | None = None) -> Backend:
        if self.block_for(seed_text, seed_id) is not None:
            return self
        if self.fallback is not None:
            return self.fallback.resolve(seed_text, seed_id)
        raise ReplayMissing(f"The paper's {self.split} split has no variations for the seed "
                            f"{describe(seed_text)!r}; pass ReplayBackend(fallback=...) to generate for it.")

    def seed_params(self, seed_text: str, seed_id: str | None = None) -> dict:
        # Which released block answers is what decides the answer, so it is part of the cache key.
        return {"paper_seed": self.block_for(seed_text, seed_id)}

    def validate(self) -> None:
        self.index()

    def check(self) -> None:
        self.index()

    async def acomplete(self, request: Request) -> Completion:
        started = time.perf_counter()
        block = self.block_for(request.seed_text, request.seed_id)
        if block is None:
            raise ReplayMissing(f"The paper's {self.split} split has no variations for the seed "
                                f"{describe(request.seed_text)!r}.")
        chunk = self.index()[0][block][1][request.offset:request.offset + request.asked]
        # Cost and tokens were the paper's; nothing is spent here.
        return Completion(text=json.dumps(chunk, ensure_ascii=False), finish_reason="stop", cost_usd=0.0,
                          prompt_tokens=0, completion_tokens=0, latency_s=time.perf_counter() - started)


PAPER_BACKENDS = ("replay",)  # backends the paper wing adds to the tool's (alsafe.names.BACKENDS)


def make_paper_generator(backend: str = "replay", n_variations: int = 5, split: str = "cluster",
                         fallback=None, **params):
    """:func:`alsafe.generate.make_generator` that also knows ``replay`` (the paper's GPT-3.5 outputs of ``split``)."""
    from alsafe.generate.factory import make_generator

    if backend == "replay":
        backend = ReplayBackend(split=split, fallback=fallback)
        params = {k: v for k, v in params.items() if k not in ("model", "base_url", "random_state")}
    return make_generator(backend, n_variations, **params)
