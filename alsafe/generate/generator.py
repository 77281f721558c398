"""The generator the active-learning loop calls: render, call (through the cache), parse, filter, record.

For each seed (a human-labeled title) it renders the template, asks the backend for
``n_variations`` variations in ``ceil(n_variations / variations_per_call)`` calls, parses the answers,
runs the filters and writes every variation, accepted or rejected with its reason, to the run store.

Every call goes through a content-addressed cache in the store (``llm_calls``), keyed by backend,
model, rendered prompt, sampling parameters and call index, and is written as soon as it returns, so
a crash loses no paid call. A rerun makes zero calls, returns identical text, and keeps the verdicts
already stored (the store's UNIQUE constraint on seed, relation, label, prompt hash and sample index).
"""

from __future__ import annotations

from collections import Counter
import asyncio
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alsafe.generate.backends.base import Backend, Completion, Request, cache_key, request_hash, run_sync
from alsafe.exceptions import GenerationError
from alsafe.generate.filters import Candidate, FilterContext, default_filters, reason_kind
from alsafe.generate.templates import Parsed, Template, parse_variations
from alsafe.taxonomy import Taxonomy

VARIATION_COLUMNS = ["seed_id", "round", "sample_index", "text", "label", "relation", "backend", "model",
                     "prompt_hash", "status", "reason"]
REPORT_COLUMNS = ["seed_id", "label", "target_label", "backend", "calls", "cached_calls", "asked", "returned",
                  "accepted", "rejected", "reasons", "error"]


@dataclass
class _Call:
    request: Request
    key: str
    completion: Completion | None = None
    error: str | None = None


@dataclass
class _Plan:
    seed_id: str
    text: str
    label: str
    target: str
    backend: Backend
    prompt_hash: str
    calls: list = field(default_factory=list)


class Generator:
    """Generate label-keeping (or contrasting) variations of seeds, as in Algorithm 1's "Distill S".

    Parameters
    ----------
    backend : an :class:`~alsafe.generate.backends.openai.OpenAIBackend`,
        :class:`~alsafe.generate.backends.local.LocalBackend` or :class:`~alsafe.paper.replay.ReplayBackend`.
    template : the prompt and relation (default: :class:`Template` with :class:`SameLabel`).
    filters : filters run in order (default :func:`~alsafe.generate.filters.default_filters`).
    n_variations : variations per seed (the paper: 5).
    variations_per_call : variations asked for in one call; 1 means one call per sample index. None
        takes the backend's preference (the local backend asks one per call, a 135M model loses count),
        else all in one call as the paper did.
    max_tokens_per_variation : token allowance per variation asked for (plus 32 for the wrapping).
    on_error : ``raise`` (default: seeds whose calls failed are left out, everything else is saved, then
        :class:`GenerationError` names the failures) or ``skip`` (left out and shown in ``report_``).

    Attributes
    ----------
    report_ : per seed of the last call, what was asked, returned, accepted, and why the rest were rejected.
    """

    def __init__(self, backend: Backend, template: Template | None = None, filters: list | None = None,
                 n_variations: int = 5, variations_per_call: int | None = None, max_tokens_per_variation: int = 48,
                 on_error: str = "raise"):
        if n_variations < 1:
            raise ValueError(f"n_variations must be at least 1, not {n_variations}.")
        if variations_per_call is not None and variations_per_call < 1:
            raise ValueError(f"variations_per_call must be at least 1 or None, not {variations_per_call}.")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}.")
        self.backend = backend
        self.template = template or Template()
        self.filters = default_filters() if filters is None else list(filters)
        self.n_variations = n_variations
        self.variations_per_call = variations_per_call
        self.max_tokens_per_variation = max_tokens_per_variation
        self.on_error = on_error

    # -- public --------------------------------------------------------------------------
    def generate(self, store, seeds: pd.DataFrame, round: int | None = None, learner=None) -> pd.DataFrame:
        """Generate, filter and record variations of ``seeds`` (columns ``id, text, label``).

        Returns the seeds' variations as stored (``id`` plus :data:`VARIATION_COLUMNS`), in seed and
        sample order; ``report_`` summarises them per seed.
        """
        if store is None:
            raise ValueError("generate() needs a run store to record into; use preview() to look without one.")
        if round is not None and not isinstance(round, (int, np.integer)):
            raise TypeError(f"round must be an int or None, not {type(round).__name__}.")
        rows, _ = self._run(store, seeds, round, learner, write=True, taxonomy=store.taxonomy)
        return rows

    def preview(self, seeds: pd.DataFrame, store=None, learner=None, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
        """Prompt, raw answer and verdict of every variation of a few seeds, without recording variations.

        Calls still go through the store's cache when ``store`` is given (a later :meth:`generate` of
        the same seeds then makes no call); without a store nothing is cached and ``taxonomy`` names
        the labels.
        """
        if store is not None:
            taxonomy = store.taxonomy
        elif taxonomy is None:
            raise ValueError("preview() without a store needs the taxonomy of the seeds' labels.")
        _, detail = self._run(store, seeds, None, learner, write=False, taxonomy=taxonomy)
        return detail

    # -- pipeline ------------------------------------------------------------------------
    def _run(self, store, seeds, round, learner, write: bool, taxonomy: Taxonomy) -> tuple[pd.DataFrame, pd.DataFrame]:
        seeds = self._check_seeds(store, seeds, taxonomy)
        plans = self._plan(seeds, taxonomy)
        cache = _StoreCache(store) if store is not None else _MemoryCache()
        for plan in plans:
            for call in plan.calls:
                call.completion = cache.get(call.key)
        pending = [(plan, call) for plan in plans for call in plan.calls if call.completion is None]
        n_cached = {id(plan): sum(c.completion is not None for c in plan.calls) for plan in plans}
        context = FilterContext(reference=_reference(store, self.template), learner=learner,
                                labeled=store.labeled()[["text", "label"]] if store is not None else None)
        if pending:
            # Filters index the reference texts (a large pool takes a while) while the calls are in flight.
            preparations = [f.prepare for f in self.filters if hasattr(f, "prepare")]
            run_sync(lambda: self._call_all(pending, cache, lambda: [prepare(context) for prepare in preparations]))
        stored = _stored_rows(store, plans)
        new_rows, detail, report = self._judge(plans, stored, context, round, n_cached)
        if write and store is not None and new_rows:
            store.add_variations(new_rows)
        self.report_ = pd.DataFrame(report, columns=REPORT_COLUMNS)
        failed = self.report_[self.report_["error"].notna()]
        if len(failed) and self.on_error == "raise":
            raise GenerationError(f"{len(failed)} of {len(plans)} seeds got no answer (first: seed "
                                  f"{failed['seed_id'].iloc[0]}: {failed['error'].iloc[0]}); the others are saved, "
                                  "and generate() with the same seeds retries only the failed ones.")
        if write and store is not None:
            rows = _stored_rows(store, plans)
        else:
            rows = detail[VARIATION_COLUMNS]
        return rows.reset_index(drop=True), detail

    def _check_seeds(self, store, seeds: pd.DataFrame, taxonomy: Taxonomy) -> pd.DataFrame:
        if not isinstance(seeds, pd.DataFrame):
            raise TypeError(f"seeds must be a DataFrame with columns id, text, label, not {type(seeds).__name__}.")
        missing = [c for c in ("id", "text", "label") if c not in seeds.columns]
        if missing:
            raise ValueError(f"seeds lacks the column(s) {', '.join(missing)}; it needs id, text and label.")
        seeds = seeds.assign(id=seeds["id"].astype(str))
        repeated = seeds["id"][seeds["id"].duplicated()].unique()
        if len(repeated):
            raise ValueError(f"seeds repeats the id(s) {', '.join(repeated[:5])}; give each seed once.")
        empty = seeds["id"][seeds["text"].isna() | (seeds["text"].astype(str).str.strip() == "")]
        if len(empty):
            raise ValueError(f"seeds has empty text for id(s) {', '.join(empty[:5])}.")
        labels = seeds["label"].astype(str)
        targets = set()
        for label in labels:
            targets.add(self.template.relation.target_label(label))
        unknown = sorted((set(labels) | targets) - set(taxonomy.names))
        if unknown:
            raise ValueError(f"seeds or the relation use label(s) {', '.join(map(repr, unknown))} that the taxonomy "
                             f"lacks; it has {', '.join(taxonomy.names)}.")
        if self.template.relation.name == "contrast":
            same = seeds["id"][[self.template.relation.target_label(label) == label for label in labels]]
            if len(same):
                raise ValueError(f"Contrast targets the seed's own label for id(s) {', '.join(same[:5])}; "
                                 "choose a different target label.")
        if store is not None:
            known = set(store.items()["id"])
            absent = [i for i in seeds["id"] if i not in known]
            if absent:
                raise ValueError(f"seeds id(s) {', '.join(absent[:5])} are not items of {store.path}; add them with "
                                 "store.add_items first.")
        return seeds

    def _plan(self, seeds: pd.DataFrame, taxonomy: Taxonomy) -> list[_Plan]:
        plans = []
        # Replay raises here, before any call, for a seed its split does not hold.
        resolved = [self.backend.resolve(str(text), seed_id) for seed_id, text in zip(seeds["id"], seeds["text"])]
        for backend in {id(b): b for b in resolved}.values():
            backend.validate()
        for (seed_id, text, label), backend in zip(seeds[["id", "text", "label"]].itertuples(index=False), resolved):
            per_call = self.variations_per_call or backend.variations_per_call or self.n_variations
            label = str(label)
            target = self.template.relation.target_label(label)
            calls = []
            style = self.template.style or backend.style
            prompt_hash = None
            for call_index in range(math.ceil(self.n_variations / per_call)):
                offset = call_index * per_call
                asked = min(per_call, self.n_variations - offset)
                prompt = self.template.render(str(text), label, asked, taxonomy, style=style)
                params = {**backend.seed_params(str(text), seed_id),
                          "max_tokens": 32 + self.max_tokens_per_variation * asked}
                stop = self.template.stop(style, asked)
                if stop:
                    params["stop"] = stop
                if call_index == 0:
                    prompt_hash = request_hash(backend.name, backend.model, prompt.sent(), params)
                request = Request(prompt=prompt, params=params, asked=asked, call_index=call_index, offset=offset,
                                  seed_text=str(text), seed_id=seed_id, label=label, target_label=target)
                calls.append(_Call(request, cache_key(backend.name, backend.model, prompt.sent(), params, call_index)))
            plans.append(_Plan(seed_id, str(text), label, target, backend, prompt_hash, calls))
        return plans

    async def _call_all(self, pending: list, cache, meanwhile) -> None:
        by_backend: dict[int, tuple[Backend, list]] = {}
        for plan, call in pending:
            by_backend.setdefault(id(plan.backend), (plan.backend, []))[1].append(call)
        # One write at a time, off the event loop: a durable commit waits for the disk.
        write_lock = asyncio.Lock()

        async def one(backend: Backend, call: _Call) -> None:
            try:
                completion = await backend.acomplete(call.request)
            except GenerationError as error:
                call.error = str(error)
                return
            except Exception as error:  # noqa: BLE001 - a backend bug must not lose the other calls
                call.error = f"{type(error).__name__}: {error}"
                return
            async with write_lock:
                await asyncio.to_thread(cache.put, call.key, backend, call.request, completion)
            call.completion = completion

        async def calls_of(backend: Backend, calls: list) -> None:
            async with backend:
                await asyncio.gather(*(one(backend, call) for call in calls))

        await asyncio.gather(asyncio.to_thread(meanwhile),
                             *(calls_of(backend, calls) for backend, calls in by_backend.values()))

    def _judge(self, plans, stored: pd.DataFrame, context: FilterContext, round, n_cached):
        """Parse answers, run the filters, and build the new rows, the detail table and the report."""
        relation = self.template.relation.name
        parsed: dict[int, list[tuple[_Call, Parsed]]] = {}
        candidates: list[Candidate] = []
        origin: list[tuple[_Plan, _Call]] = []
        verdicts: list[str | None] = []
        done = set(zip(stored["seed_id"], stored["prompt_hash"])) if len(stored) else set()
        for plan in plans:
            parsed[id(plan)] = []
            # A seed is judged only when all its calls answered: its rows are written all at once or not at all.
            complete = all(call.completion is not None for call in plan.calls)
            extras = 0
            for call in plan.calls:
                if call.completion is None:
                    continue
                result = parse_variations(call.request.prompt.answer_prefix + call.completion.text,
                                          call.request.asked,
                                          truncated=call.completion.finish_reason == "length")
                parsed[id(plan)].append((call, result))
                if (plan.seed_id, plan.prompt_hash) in done or not complete:
                    continue
                for position, text in enumerate(result.texts):
                    if position < result.asked:
                        sample_index, verdict = call.request.offset + position, None
                    else:  # numbered after all asked-for samples so they never collide with another call's
                        sample_index = self.n_variations + extras
                        verdict = f"extra: beyond the {result.asked} asked for"
                        extras += 1
                    candidates.append(Candidate(plan.seed_id, plan.text, plan.target, text, sample_index,
                                                truncated=result.truncated_last and position == result.returned - 1))
                    origin.append((plan, call))
                    verdicts.append(verdict)
                for item, reason in result.rejected:  # list items that were not strings: kept, with why
                    candidates.append(Candidate(plan.seed_id, plan.text, plan.target, item, self.n_variations + extras))
                    origin.append((plan, call))
                    verdicts.append(f"format: {reason}")
                    extras += 1
        open_positions = [i for i, v in enumerate(verdicts) if v is None]
        for current in self.filters:
            reasons = current.apply([candidates[i] for i in open_positions], context)
            for i, reason in zip(open_positions, reasons):
                verdicts[i] = reason
            open_positions = [i for i in open_positions if verdicts[i] is None]
        new_rows, detail = [], []
        for candidate, (plan, call), reason in zip(candidates, origin, verdicts):
            row = {"seed_id": plan.seed_id, "round": round, "sample_index": candidate.sample_index,
                   "text": candidate.text, "label": plan.target, "relation": relation,
                   "backend": plan.backend.name, "model": plan.backend.model, "prompt_hash": plan.prompt_hash,
                   "status": "rejected" if reason else "accepted", "reason": reason}
            new_rows.append(row)
            detail.append({**row, "seed_text": plan.text, "prompt": call.request.prompt.readable(),
                           "raw_output": call.completion.text})
        for plan in plans:
            if (plan.seed_id, plan.prompt_hash) not in done:
                continue
            mine = stored[(stored["seed_id"] == plan.seed_id) & (stored["prompt_hash"] == plan.prompt_hash)]
            raw = {c.request.offset: c for c in plan.calls}
            for row in mine.to_dict("records"):
                call = max((c for o, c in raw.items() if o <= row["sample_index"]), key=lambda c: c.request.offset)
                detail.append({**{k: row[k] for k in VARIATION_COLUMNS}, "seed_text": plan.text,
                               "prompt": call.request.prompt.readable(),
                               "raw_output": call.completion.text if call.completion else None})
        detail_table = pd.DataFrame(detail, columns=["seed_id", "seed_text", "prompt", "raw_output"]
                                    + [c for c in VARIATION_COLUMNS if c != "seed_id"])
        order = {plan.seed_id: position for position, plan in enumerate(plans)}
        detail_table = (detail_table.assign(_order=detail_table["seed_id"].map(order))
                        .sort_values(["_order", "sample_index"], kind="stable").drop(columns="_order")
                        .reset_index(drop=True))
        verdicts: dict[str, list] = {plan.seed_id: [] for plan in plans}
        for seed_id, status, reason in zip(detail_table["seed_id"], detail_table["status"], detail_table["reason"]):
            verdicts[seed_id].append((status, reason))
        report = [self._seed_report(plan, parsed[id(plan)], verdicts[plan.seed_id], n_cached[id(plan)])
                  for plan in plans]
        return new_rows, detail_table, report

    def _seed_report(self, plan: _Plan, parsed, verdicts: list, cached: int) -> dict:
        kinds = Counter(reason_kind(reason) for status, reason in verdicts if status == "rejected")
        errors = [c.error for c in plan.calls if c.error]
        return {"seed_id": plan.seed_id, "label": plan.label, "target_label": plan.target,
                "backend": plan.backend.name, "calls": len(plan.calls), "cached_calls": cached,
                "asked": sum(c.request.asked for c in plan.calls),
                "returned": sum(p.returned for _, p in parsed),
                "accepted": sum(status == "accepted" for status, _ in verdicts),
                "rejected": sum(status == "rejected" for status, _ in verdicts),
                "reasons": ", ".join(f"{k}: {v}" for k, v in kinds.most_common()),
                "error": errors[0] if errors else None}


# -- cache ---------------------------------------------------------------------------------------
def _encode(completion: Completion) -> str:
    # The finish reason travels with the text: a rerun must see the same truncation as the first run.
    return json.dumps({"text": completion.text, "finish_reason": completion.finish_reason}, ensure_ascii=False)


def _decode(response: str) -> Completion:
    try:
        value = json.loads(response)
    except ValueError:
        value = None
    if isinstance(value, dict) and "text" in value:
        return Completion(text=value["text"], finish_reason=value.get("finish_reason"), cached=True)
    return Completion(text=response, cached=True)


class _StoreCache:
    def __init__(self, store):
        self.store = store

    def get(self, key: str) -> Completion | None:
        response = self.store.cached_response(key)
        return None if response is None else _decode(response)

    def put(self, key: str, backend: Backend, request: Request, completion: Completion) -> None:
        self.store.record_llm_call(key, backend.name, backend.model, request.prompt.sent(),
                                   {**request.params, "call_index": request.call_index, **dict(request.prompt.notes)},
                                   _encode(completion),
                                   completion.prompt_tokens, completion.completion_tokens, completion.cost_usd,
                                   completion.latency_s)


class _MemoryCache:
    def __init__(self):
        self.entries: dict[str, Completion] = {}

    def get(self, key: str) -> Completion | None:
        return self.entries.get(key)

    def put(self, key: str, backend: Backend, request: Request, completion: Completion) -> None:
        self.entries[key] = completion


def _stored_rows(store, plans: list[_Plan]) -> pd.DataFrame:
    """The store's variations of these seeds under these prompts, in seed and sample order."""
    columns = ["id"] + VARIATION_COLUMNS
    if store is None:
        return pd.DataFrame(columns=columns)
    table = store.variations()
    wanted = {(p.seed_id, p.prompt_hash): position for position, p in enumerate(plans)}
    keys = list(zip(table["seed_id"], table["prompt_hash"]))
    table = table.loc[np.array([k in wanted for k in keys], dtype=bool)]
    table = table.assign(_order=[wanted[k] for k in zip(table["seed_id"], table["prompt_hash"])])
    table = table.sort_values(["_order", "sample_index"])[columns].reset_index(drop=True)
    table["reason"] = table["reason"].astype(object).where(table["reason"].notna(), None)
    return table


def _reference(store, template: Template) -> pd.DataFrame:
    """Texts variations must not duplicate: the prompt's examples, every item, accepted variations."""
    # Small models copy the few-shot examples verbatim; such a copy is no new data.
    examples = [text for _, title, variations in template.examples for text in (title, *variations)]
    tables = [pd.DataFrame({"id": [str(i) for i in range(len(examples))], "text": examples, "kind": "prompt example"})]
    if store is not None:
        items = store.items()
        accepted = store.variations(status="accepted", current_only=True)  # an undone label's are gone
        tables += [pd.DataFrame({"id": items["id"], "text": items["text"], "kind": items["role"] + " item"}),
                   pd.DataFrame({"id": accepted["id"].astype(str), "text": accepted["text"], "kind": "variation"})]
    return pd.concat(tables, ignore_index=True)
