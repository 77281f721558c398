"""The review list's rows: one generated variation each, whole, with what the filters said in words.

A row wraps instead of shrinking at narrow widths (the stylesheet :data:`STYLE`, which the labeling
widget puts on the page once): text and facts on top, then the reason box and Accept / Reject.
"""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as widgets
import pandas as pd

SNIPPET_CHARS = 40


def review_row(variation_id: int, row: dict, taxonomy, on_accept: Callable[[], None],
               on_reject: Callable[[str], None]) -> widgets.Box:
    """The row of one variation (``row``: a record of :meth:`alsafe.store.RunStore.variations`)."""
    entry = taxonomy[row["label"]] if row["label"] in taxonomy else None
    seed = row.get("seed_text")
    text = widgets.HTML(
        f"<div class='alsafe-variation-words'>{html.escape(row['text'])}</div>"
        f"<div class='alsafe-variation-facts'>"
        f"<span style='color:{entry.colour if entry else '#333'};font-weight:bold'>"
        f"{html.escape(taxonomy.display(row['label']))}</span> · "
        f"{html.escape(verdict_words(row['status'], row.get('reason')))} · variation of "
        f"“{html.escape(snippet(seed) if isinstance(seed, str) else str(row['seed_id']))}” "
        f"(round {_round(row.get('round'))})</div>",
        layout=widgets.Layout(flex="1 1 240px", min_width="0"))
    text.add_class("alsafe-variation-text")
    reason = widgets.Text(placeholder="why reject?", layout=widgets.Layout(flex="1 1 110px", min_width="90px"))
    reason.add_class("alsafe-typing")
    accept = widgets.Button(description="Accept", button_style="success", icon="check",
                            layout=widgets.Layout(flex="0 0 auto", width="96px"))
    reject = widgets.Button(description="Reject", button_style="danger", icon="times",
                            layout=widgets.Layout(flex="0 0 auto", width="96px"))
    accept.on_click(lambda _: on_accept())
    reject.on_click(lambda _: on_reject(reason.value.strip()))
    actions = widgets.HBox([reason, accept, reject], layout=widgets.Layout(flex="1 1 300px", max_width="420px"))
    actions.add_class("alsafe-variation-actions")
    box = widgets.HBox([text, actions])
    box.add_class("alsafe-variation")
    box.add_class(f"alsafe-variation-{variation_id}")
    return box


def verdict_words(status: str, reason) -> str:
    """What the filters said about a variation, in words (``reason`` is the stored ``kind: detail``)."""
    if status == "accepted":
        return "passed the filters"
    if reason is None or pd.isna(reason) or not str(reason).strip():
        return "rejected by the filters"
    return f"rejected by the filters ({reason})"


def snippet(text) -> str:
    """The first words of ``text``, cut with an ellipsis."""
    words = " ".join(str(text).split())
    return words if len(words) <= SNIPPET_CHARS else words[:SNIPPET_CHARS - 1].rstrip() + "…"


def _round(value) -> str:
    return "?" if value is None or pd.isna(value) else str(int(value))


# Rows grow to their content (ipywidgets gives HTML a fixed inline height, which cut each variation's first
# line and gave every row a scrollbar); at 420 px the action buttons wrap under the text instead of shrinking.
STYLE = """
.alsafe-labeling .widget-html-content { height: auto; line-height: 1.4; white-space: normal; overflow: visible; }
.alsafe-labeling .widget-html { height: auto; }
.alsafe-labeling .alsafe-variation { flex-wrap: wrap; align-items: center; gap: 2px 8px; padding: 6px 0;
  border-bottom: 1px solid #e4e4e4; height: auto; overflow: visible; }
.alsafe-labeling .alsafe-variation-words { font-size: 15px; overflow-wrap: anywhere; }
.alsafe-labeling .alsafe-variation-facts { font-size: 12px; color: #555; overflow-wrap: anywhere; }
.alsafe-labeling .alsafe-variation-actions { flex-wrap: nowrap; align-items: center; }
.alsafe-labeling .alsafe-variation-actions .widget-button { min-width: 90px; }
"""
