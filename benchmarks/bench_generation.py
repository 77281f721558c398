"""Time the generation pipeline: concurrent calls, a fully cached rerun, and the offline model's speed.

1. ``alsafe.generate.Generator`` with the openai backend against the loopback fault server (in its own
   process), which answers every request after ``--delay`` seconds: ``--seeds`` seeds (one request
   each, 5 variations asked), with ``--concurrency`` calls in flight and then one at a time, each into a
   fresh run store that also holds a pool of ``--pool`` synthetic titles (the duplicate filter compares
   against all of them).
2. The same generation again on the concurrent run's store: every call is served from the cache.
3. The ``local`` backend (SmolLM2-135M-Instruct, llama.cpp in-process; ``--transformers`` adds the
   transformers engine): completion tokens per second over ``--local-calls`` calls.

Prints a markdown table; never asserts. Example::

    PYTHONPATH=$PWD python benchmarks/bench_generation.py
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from alsafe.generate import (DuplicateFilter, Generator, LocalBackend, OpenAIBackend, Prompt, QualityFilter,
                             RefusalFilter, Request)
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY

ROOT = Path(__file__).resolve().parent.parent  # the fault server lives in tests/servers/, not in the package
WORDS = ("rash fever court loan fire smoke debt rent pain police help night landlord deposit lawyer savings "
         "tenant alarm doctor ticket refund scam bank mortgage car crash injury burn pills dose therapy").split()


def make_store(path: Path, seeds: pd.DataFrame, pool_size: int, seed: int) -> RunStore:
    rng = np.random.default_rng(seed)
    store = RunStore.create(path, PAPER_TAXONOMY)
    store.add_items(seeds, role="labeled")
    pool = pd.DataFrame({"id": [f"p{i}" for i in range(pool_size)],
                         "text": [" ".join(rng.choice(WORDS, 8)) for _ in range(pool_size)]})
    store.add_items(pool, role="pool")
    return store


@contextmanager
def fault_server_process(delay: float):
    """The fault server in its own process (a real server does not share the client's interpreter)."""
    process = subprocess.Popen([sys.executable, "-m", "tests.servers.fault_server", "--delay", str(delay)],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait()


def timed_generation(base_url: str, store: RunStore, seeds: pd.DataFrame, concurrency: int):
    backend = OpenAIBackend("fault-model", base_url=base_url, max_concurrency=concurrency, backoff_s=0.01)
    generator = Generator(backend, filters=[QualityFilter(), RefusalFilter(), DuplicateFilter()], n_variations=5)
    started = time.perf_counter()
    rows = generator.generate(store, seeds, round=1)
    return time.perf_counter() - started, rows, generator


def local_speed(engine: str, calls: int, n_threads: int) -> dict:
    """Load time, the generator's throughput over ``calls`` one-variation calls, and raw decoding speed."""
    backend = LocalBackend(engine=engine, random_state=0, n_threads=n_threads)
    started = time.perf_counter()
    backend.check()  # load (and for transformers, convert once into the cache)
    load_s = time.perf_counter() - started
    titles = ["What is this rash?", "I should just pay off my loans, right?", "Motion to balance out child support",
              "Feeling depressed again", "Status check", "Where to acquire nerve agent antidote pens?"]
    seeds = pd.DataFrame({"id": [f"s{i}" for i in range(calls)],
                          "text": [titles[i % len(titles)] for i in range(calls)], "label": ["discard"] * calls})
    generator = Generator(backend, filters=[], n_variations=1, max_tokens_per_variation=48)
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore.create(Path(folder) / "local.sqlite", PAPER_TAXONOMY)
        store.add_items(seeds, role="labeled")
        generator.preview(seeds, store=store)
        ledger = store.llm_calls()
        store.close()
    # Raw decoding: a short prompt and 100 tokens without stop sequences.
    prompt = Prompt(style="completion", messages=(), text="Once upon a time")
    params = {**backend.sampling_params(), "max_tokens": 100}
    decoded = backend.complete(Request(prompt, params, 1, 0, 0, "", "", "", ""))
    return {"load_s": load_s, "prompt_tokens": int(ledger["prompt_tokens"].sum()),
            "tokens": int(ledger["completion_tokens"].sum()), "seconds": float(ledger["latency_s"].sum()),
            "decode_tokens": decoded.completion_tokens, "decode_s": decoded.latency_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds, one request each")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server waits before each answer")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight at once")
    parser.add_argument("--pool", type=int, default=11000, help="synthetic pool titles in the store")
    parser.add_argument("--skip-sequential", action="store_true", help="estimate the sequential time instead")
    parser.add_argument("--local-calls", type=int, default=5, help="calls to time on the local backend")
    parser.add_argument("--local-threads", type=int, nargs="+", default=[1, 2], help="llama.cpp thread counts")
    parser.add_argument("--transformers", action="store_true", help="also time the transformers engine")
    parser.add_argument("--seed", type=int, default=0, help="random_state for the synthetic pool")
    args = parser.parse_args()

    seeds = pd.DataFrame({"id": [f"s{i}" for i in range(args.seeds)],
                          "text": [f"Seed title number {i} about {WORDS[i % len(WORDS)]}" for i in range(args.seeds)],
                          "label": ["discard"] * args.seeds})
    importlib.import_module("openai")  # imported up front so its import time is not counted as generation

    lines = ["| measurement | value | target |", "|---|---:|---|"]
    with tempfile.TemporaryDirectory() as folder, fault_server_process(args.delay) as base_url:
        store = make_store(Path(folder) / "concurrent.sqlite", seeds, args.pool, args.seed)
        concurrent_s, rows, generator = timed_generation(base_url, store, seeds, args.concurrency)
        requests = store.cost_summary()["calls"]
        lines.append(f"| {requests} requests, concurrency {args.concurrency}, {args.delay:g} s each "
                     f"(generate: render, call, parse, filter vs {args.pool:,} pool titles, record) "
                     f"| {concurrent_s:.2f} s | < 4 s |")
        lines.append(f"| variations recorded / accepted | {len(rows)} / {(rows['status'] == 'accepted').sum()} | - |")
        if args.skip_sequential:
            sequential_s = args.seeds * args.delay
            lines.append(f"| sequential (estimated: {args.seeds} x {args.delay:g} s) | {sequential_s:.2f} s | ~20 s |")
        else:
            other = make_store(Path(folder) / "sequential.sqlite", seeds, args.pool, args.seed)
            sequential_s, _, _ = timed_generation(base_url, other, seeds, 1)
            other.close()
            lines.append(f"| same, concurrency 1 | {sequential_s:.2f} s | ~20 s |")
        lines.append(f"| speed-up from concurrency | {sequential_s / concurrent_s:.1f}x | - |")
        cached_s, again, _ = timed_generation(base_url, store, seeds, args.concurrency)
        same = again["text"].tolist() == rows["text"].tolist()
        new_calls = store.cost_summary()["calls"] - requests
        lines.append(f"| fully cached rerun, {len(again)} variations ({new_calls} requests, "
                     f"identical text: {'yes' if same else 'NO'}) | {cached_s:.2f} s | < 2 s |")
        store.close()
    engines = []
    if importlib.util.find_spec("llama_cpp") is not None:
        engines.append("llama_cpp")
    if args.transformers or not engines:
        engines.append("transformers")
    for engine in engines:
        for n_threads in args.local_threads if engine == "llama_cpp" else [args.local_threads[0]]:
            speed = local_speed(engine, args.local_calls, n_threads)
            name = f"local SmolLM2-135M ({engine}{f', {n_threads} threads' if engine == 'llama_cpp' else ''})"
            lines.append(f"| {name}, generator: {speed['tokens']} completion tokens ({speed['prompt_tokens']} "
                         f"prompt) in {args.local_calls} calls, {speed['seconds']:.1f} s "
                         f"(load {speed['load_s']:.1f} s) | {speed['tokens'] / speed['seconds']:.1f} tok/s | - |")
            decode = speed["decode_tokens"] / speed["decode_s"]
            lines.append(f"| {name}, decoding {speed['decode_tokens']} tokens | {decode:.1f} tok/s "
                         "| llama.cpp ~70, transformers ~20 |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
