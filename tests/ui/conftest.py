"""The widget tests' store: six pool items, five selected in round 1, two variations of p0; and a widget on it."""

from __future__ import annotations

import pandas as pd
import pytest

from alsafe.paper.reference import PAPER_TAXONOMY
from alsafe.store import RunStore
from alsafe.ui.widget import LabelingWidget

ITEMS = [f"p{i}" for i in range(5)]


def variation(seed, index, text, label="self-harm", status="accepted", reason=None, round=1):
    return {"seed_id": seed, "sample_index": index, "text": text, "label": label, "relation": "same_label",
            "backend": "replay", "model": "test", "prompt_hash": f"h-{label}", "status": status, "reason": reason,
            "round": round}


@pytest.fixture
def path(tmp_path):
    """A store with six pool items, five of them selected in round 1, and two variations of p0."""
    path = tmp_path / "run.sqlite"
    with RunStore.create(path, PAPER_TAXONOMY) as store:
        store.add_items(pd.DataFrame({"id": [f"p{i}" for i in range(6)], "text": [f"text {i}" for i in range(6)]}),
                        role="pool")
        store.start_round(1, "cluster", pd.DataFrame({
            "item_id": ITEMS, "cluster": [0, 1, 2, 3, 4], "score": [0.9, 0.8, 0.7, 0.6, 0.5],
            "predicted_label": ["discard", "self-harm", "discard", "legal-advice", "discard"]}))
        store.add_variations([variation("p0", 0, "I want it all to stop"), variation("p0", 1, "can't go on")])
    return path


@pytest.fixture
def widget(path):
    view = LabelingWidget(path, annotator="ann")
    yield view
    view.close()
