"""The review list: the generated variations waiting for a person, one row each, whole, with what the
filters said in words.

A row wraps instead of shrinking at narrow widths (the stylesheet :data:`STYLE`, which the labeling
widget puts on the page once): text and facts on top, then the reason box and Accept / Reject. Only a
screenful of rows is shown, oldest first, and the bulk accept takes only rows on screen.
"""

from __future__ import annotations

import html
from typing import Callable

import ipywidgets as widgets
import pandas as pd

SNIPPET_CHARS = 40
MAX_REVIEW_ROWS = 10


class ReviewList:
    """The variations waiting for review in a run store, and the widgets showing them: :attr:`title`,
    :attr:`accept_rest_button` and :attr:`box` (the rows). The labeling widget calls every method under its
    lock and does the writing (:meth:`alsafe.store.RunStore.review_variation`).

    Parameters
    ----------
    store, taxonomy : the run store and its taxonomy.
    on_review : ``f(variation_id, accepted, reason)``, what a row's Accept / Reject buttons call.
    """

    def __init__(self, store, taxonomy, on_review: Callable[[int, bool, str | None], None]):
        self.store, self.taxonomy, self.on_review = store, taxonomy, on_review
        self.waiting: dict[int, dict] = {}  # by variation id: its record of RunStore.variations
        self.rows: dict[int, widgets.Box] = {}
        self.box = widgets.VBox(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self.box.add_class("alsafe-reviews")
        self.title = widgets.HTML()
        self.accept_rest_button = widgets.Button(description="Accept the rest", icon="check-double",
                                                 layout=widgets.Layout(width="auto", min_width="150px"))
        self.accept_rest_button.add_class("alsafe-accept-rest")

    def unreviewed(self, item_ids: list[str] | None = None) -> dict[int, dict]:
        """The variations of ``item_ids`` (None: of every seed) that still belong to their seed's current
        label and that no one has reviewed yet, by id."""
        if item_ids is not None and not item_ids:
            return {}
        # One seed (after a label) is an indexed lookup; many (start-up) is one scan.
        one = item_ids is not None and len(item_ids) == 1
        variations = self.store.variations(seed_id=item_ids[0] if one else None, current_only=True)
        fresh = variations[variations["reviewed_by"].isna()]
        if item_ids is not None:
            fresh = fresh[fresh["seed_id"].isin(item_ids)]
        return {int(row["id"]): row for row in fresh.to_dict("records")}

    def row(self, variation_id: int, record: dict) -> widgets.Box:
        """A new row for one variation (slow: the worker builds them outside the lock)."""
        return review_row(variation_id, record, self.taxonomy,
                          on_accept=lambda: self.on_review(variation_id, True, None),
                          on_reject=lambda reason: self.on_review(variation_id, False, reason))

    def add(self, fresh: dict[int, dict], rows: dict[int, widgets.Box], recheck: bool = True) -> None:
        """Show ``fresh`` reviews; ``recheck``: an undo may have come since they were fetched, so ask again."""
        current = set(self.unreviewed([*{r["seed_id"] for r in fresh.values()}])) if fresh and recheck else set(fresh)
        for vid, record in fresh.items():
            if vid in current:
                self.waiting.setdefault(vid, record)
        for vid, box in rows.items():
            if vid in self.waiting:
                self.rows.setdefault(vid, box)
        self.render()

    def drop_stale(self) -> None:
        """Forget the waiting reviews whose variations no longer count (their seed's label was undone)."""
        current = set(self.unreviewed([*{r["seed_id"] for r in self.waiting.values()}]))
        for vid in [vid for vid in self.waiting if vid not in current]:
            self.remove(vid)
        self.render()

    def remove(self, variation_id: int) -> None:
        """Take one review off the list (reviewed); :meth:`render` shows the change."""
        self.waiting.pop(variation_id, None)
        self.rows.pop(variation_id, None)

    def shown(self) -> list[int]:
        """The ids on screen: oldest first, and only a screenful (a long backlog would slow every label)."""
        return sorted(self.waiting)[:MAX_REVIEW_ROWS]

    def passed_shown(self) -> list[int]:
        """The ids on screen that the filters passed: what "Accept the rest" accepts."""
        return [vid for vid in self.shown() if self.waiting[vid]["status"] == "accepted"]

    def render(self) -> None:
        shown = self.shown()
        for vid in shown:
            if vid not in self.rows:
                self.rows[vid] = self.row(vid, self.waiting[vid])
        rows = tuple(self.rows[vid] for vid in shown)
        if rows != self.box.children:
            self.box.children = rows
        more, passed = len(self.waiting) - len(rows), len(self.passed_shown())
        self.title.value = (
            f"<b>Variations to review ({len(self.waiting)})</b> · does each keep its seed's label?"
            f"{f' {more} others wait, not shown yet: they appear as these are done.' if more else ''}"
            if rows else "")
        self.accept_rest_button.description = f"Accept the rest ({passed})"
        self.accept_rest_button.tooltip = (f"accept the {passed} variation(s) shown that the filters passed"
                                           + (f"; the {more} not shown wait" if more else ""))
        self.accept_rest_button.layout.display = "" if passed else "none"


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
