"""Label-to-next-item latency of the labeling widget, measured through its own callbacks.

Each step is what a browser event triggers in the kernel: a button's click handlers, or a message from the
key strip naming the key and the item on screen (a digit picks, Enter saves). The time runs from the event to
the next item's state being set (the label committed to SQLite with ``synchronous=FULL`` first). The
websocket hop to the browser is not included; ``tests/ui/test_browser.py`` drives the real path. The target
is 50 ms.

Run: ``PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_widget.py [--items 200]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from alsafe.store import RunStore
from alsafe.ui.widget import LabelingWidget
from alsafe.paper.reference import PAPER_TAXONOMY

BUDGET_MS = 50.0


def _store(path: Path, n_items: int) -> Path:
    rng = np.random.default_rng(0)
    with RunStore.create(path, PAPER_TAXONOMY) as store:
        ids = [f"p{i}" for i in range(n_items)]
        words = ["help", "my", "doctor", "said", "lawyer", "money", "fire", "tonight", "pain", "rent"]
        texts = [" ".join(rng.choice(words, size=25)) for _ in ids]
        store.add_items(pd.DataFrame({"id": ids, "text": texts}), role="pool")
        store.start_round(1, "cluster", pd.DataFrame({
            "item_id": ids, "cluster": rng.integers(0, 6, n_items), "score": rng.random(n_items),
            "predicted_label": rng.choice(store.taxonomy.names, n_items)}))
    return path


def _type(widget: LabelingWidget, key: str) -> None:
    """What the key strip sends for ``key`` pressed while the widget's item is on screen."""
    widget.hotkeys._handle_custom_msg({"key": key, "item": widget.hotkeys.item}, [])


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000.0


def measure(path: Path, n_items: int, with_generation: bool) -> dict[str, list[float]]:
    """Label every item (half by click, half by keys), with undos and skips in between; times in ms."""
    def generate(item_id: str, label: str) -> None:
        time.sleep(0.05)  # a slow LLM call, then a write through the callback's own connection
        with RunStore.open(path) as store:
            store.add_variations([{"seed_id": item_id, "sample_index": i, "text": f"variation {i}", "label": label,
                                   "relation": "paraphrase", "backend": "bench", "model": "bench",
                                   "prompt_hash": "h", "status": "accepted"} for i in range(5)])

    widget = LabelingWidget(path, annotator="bench", on_labeled=generate if with_generation else None)
    names = widget.taxonomy.names
    times: dict[str, list[float]] = {"click label": [], "key pick (digit)": [], "key save (Enter)": [],
                                     "undo (Backspace)": [], "skip (s)": []}
    step = 0
    while widget.current is not None:
        label = names[step % len(names)]
        if step % 2 == 0:
            times["click label"].append(_timed(widget.buttons[label].click))
        else:
            digit = str(names.index(label) + 1)
            times["key pick (digit)"].append(_timed(lambda: _type(widget, digit)))
            times["key save (Enter)"].append(_timed(lambda: _type(widget, "Enter")))
        if step % 10 == 5:
            times["undo (Backspace)"].append(_timed(lambda: _type(widget, "Backspace")))
            times["skip (s)"].append(_timed(lambda: _type(widget, "s")))
        step += 1
    widget.wait(timeout=600)
    widget.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200, help="items in the round")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for with_generation in (False, True):
            path = _store(Path(folder) / f"bench-{with_generation}.sqlite", args.items)
            for operation, values in measure(path, args.items, with_generation).items():
                values = np.array(values)
                rows.append({"callbacks": "generation thread" if with_generation else "none",
                             "operation": operation, "n": len(values),
                             "median_ms": np.median(values), "p95_ms": np.percentile(values, 95),
                             "max_ms": values.max(), "p95 / 50 ms": np.percentile(values, 95) / BUDGET_MS})
    table = pd.DataFrame(rows)
    print(f"Labeling widget, round of {args.items} items; target: label-to-next-item under {BUDGET_MS:.0f} ms")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
