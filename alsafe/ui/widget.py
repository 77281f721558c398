"""The labeling widget: a round's selected items, one at a time, each label committed to the run store at once.

Keyboard: number keys pick a label, Enter saves it, Backspace undoes, ``s`` skips; they are read by a
:class:`alsafe.ui.keys.KeyStrip`, which takes the focus when drawn and gets it back after every click.

Variations wait for review until someone accepts or rejects them, across rounds and restarts; an undo
takes the undone label's variations with it (:meth:`alsafe.store.RunStore.variations`, ``current``).

Nothing here waits on the user or on a callback: the ``on_labeled`` and ``on_round_complete`` callbacks
(generation, retraining) run one at a time on a worker thread, reported in the status line.
"""

from __future__ import annotations

import html
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

import ipywidgets as widgets

from alsafe.ui.keys import KeyStrip
from alsafe.ui.reviews import STYLE, review_row, snippet
from alsafe.store import RunStore, StoreError

MAX_REVIEW_ROWS = 10


class LabelingWidget(widgets.VBox):
    """Label a round's selected items, review their LLM variations, undo, skip, resume.

    Parameters
    ----------
    store : the run store (or its path). The widget opens its own connection to the file, so callbacks
        writing through ``store`` on the worker thread never share a transaction with it.
    annotator : name recorded with every label and review.
    round : round to label (default: the latest). The queue holds the round's items this annotator has not
        labeled yet, so a second annotator sees every item again (for :func:`alsafe.agreement.agreement_report`).
    on_labeled : ``f(item_id, label)``, run on the worker thread after each label (e.g. generate variations).
    on_round_complete : ``f(round)``, run on the worker thread when the queue empties (e.g. retrain).
    """

    def __init__(self, store: RunStore | str | Path, annotator: str, round: int | None = None,
                 on_labeled: Callable[[str, str], object] | None = None,
                 on_round_complete: Callable[[int], object] | None = None):
        if not isinstance(annotator, str) or not annotator.strip():
            raise ValueError("annotator must be a non-empty name; it is stored with every label.")
        path = store.path if isinstance(store, RunStore) else Path(store)
        self.store = RunStore.open(path)
        rounds = self.store.rounds()["round"].tolist()
        if not rounds:
            self.store.close()
            raise StoreError(f"{path} has no rounds yet; select items first (RunStore.start_round).")
        if round is not None and round not in rounds:
            self.store.close()
            raise StoreError(f"Round {round} is not in {path}; its rounds are {', '.join(map(str, rounds))}.")
        self.annotator = annotator.strip()
        self.round = int(rounds[-1] if round is None else round)
        self.on_labeled, self.on_round_complete = on_labeled, on_round_complete
        self.taxonomy = self.store.taxonomy
        self.errors_: list[tuple[str, BaseException]] = []
        self._guard = threading.RLock()  # the worker thread touches widgets and the connection too
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alsafe-widget")
        self._futures: list[Future] = []
        self._selected: str | None = None
        self._status_text = ""
        self._running: list[str] = []  # background work under way, in order
        self._failure: str | None = None  # the latest background failure, shown until the next one
        self._closed = False
        self._load()
        super().__init__(children=self._build(), layout=widgets.Layout(max_width="980px", padding="4px"))
        self.add_class("alsafe-labeling")
        self._add_reviews(self._unreviewed(), {}, recheck=False)  # every pending review, earlier rounds' too
        self._render()

    # -- state ---------------------------------------------------------------------------
    def _load(self) -> None:
        selection = self.store.selections(self.round)
        self._items = {row["item_id"]: row for row in selection.to_dict("records")}
        labels = self.store.labels()
        mine = labels[(labels["annotator"] == self.annotator) & labels["item_id"].isin(list(self._items))]
        # The history of this annotator's active labels makes undo work across items and across restarts.
        self._history = [{"label_id": int(r["id"]), "item_id": r["item_id"], "label": r["label"]}
                         for r in mine.sort_values("id").to_dict("records")]
        done = {row["item_id"] for row in self._history}
        self._queue = [item for item in selection["item_id"] if item not in done]
        self._reviews: dict[int, dict] = {}
        self._review_rows: dict[int, widgets.Box] = {}

    @property
    def current(self) -> dict | None:
        """The item on screen (``item_id, text, cluster, score, predicted_label, position``), or None when done."""
        return dict(self._items[self._queue[0]]) if self._queue else None

    @property
    def progress(self) -> dict:
        """``done``, ``total`` and ``per_class`` (label -> count) of this annotator's labels in this round."""
        latest = {row["item_id"]: row["label"] for row in self._history}
        per_class = {name: 0 for name in self.taxonomy.names}
        for label in latest.values():
            per_class[label] = per_class.get(label, 0) + 1
        return {"done": len(latest), "total": len(self._items), "per_class": per_class}

    # -- actions (what buttons and keys call) --------------------------------------------
    def label(self, label: str, note: str | None = None) -> int:
        """Label the current item (committed at once) and show the next one; returns the label's id."""
        with self._guard:
            if not self._queue:
                raise StoreError(f"Round {self.round} has no item left for {self.annotator!r} to label.")
            if label not in self.taxonomy:
                raise StoreError(f"Unknown label {label!r}; this run's taxonomy has {', '.join(self.taxonomy.names)}.")
            item_id = self._queue[0]
            if note is None:
                note = self.note.value.strip() or None
            label_id = self.store.add_label(item_id, label, self.annotator, note=note, round=self.round)
            self._history.append({"label_id": label_id, "item_id": item_id, "label": label})
            self._queue.pop(0)
            self._selected, self.note.value = None, ""
            text = snippet(self._items[item_id]["text"])
            self._set_status(f"Saved {self.taxonomy.display(label)} for “{text}”.")
            self._render()
            # The item's variations (already there, or made by on_labeled) are fetched on the worker too.
            self._submit(f"writing variations of “{text}”", self.on_labeled, (item_id, label), refresh=item_id)
            if not self._queue and self.on_round_complete is not None:
                self._submit(f"training the learner on round {self.round} and picking the next items",
                             self.on_round_complete, (self.round,))
            return label_id

    def select(self, label: str) -> None:
        """Pick ``label`` for the current item without saving it; :meth:`confirm` saves it."""
        with self._guard:
            if label not in self.taxonomy:
                raise StoreError(f"Unknown label {label!r}; this run's taxonomy has {', '.join(self.taxonomy.names)}.")
            self._selected = label
            self._set_status(f"{self.taxonomy.display(label)} picked: press Enter to save it.")
            self._render_buttons()

    def confirm(self) -> int:
        """Save the label picked with :meth:`select` (the Enter key)."""
        with self._guard:
            if self._selected is None:
                keys = min(len(self.taxonomy), 9)
                raise StoreError(f"No label picked yet; press a number key 1-{keys} or click a label first.")
            return self.label(self._selected)

    def skip(self) -> None:
        """Move the current item to the end of the queue (nothing is written; a new widget shows it in order)."""
        with self._guard:
            if not self._queue:
                raise StoreError(f"Round {self.round} has no item left to skip.")
            self._queue.append(self._queue.pop(0))
            self._selected = None
            self._set_status("Skipped: the item comes back after the others.")
            self._render()

    def undo(self) -> str:
        """Retract this annotator's latest label in this round and show that item again; returns its id."""
        with self._guard:
            if not self._history:
                raise StoreError(f"{self.annotator!r} has no label in round {self.round} left to undo.")
            last = self._history.pop()
            self.store.retract_label(last["label_id"])  # its variations stop counting in the same write
            if all(row["item_id"] != last["item_id"] for row in self._history) and last["item_id"] not in self._queue:
                self._queue.insert(0, last["item_id"])
            self._selected = None
            self._drop_stale_reviews()
            text = snippet(self._items[last["item_id"]]["text"])
            self._set_status(f"Undid {self.taxonomy.display(last['label'])} for “{text}”; its variations are "
                             "withdrawn. Label it again.")
            self._render()
            return last["item_id"]

    def review(self, variation_id: int, accepted: bool, reason: str | None = None) -> None:
        """Accept or reject (with a reason) one generated variation: the human check of the relation R."""
        with self._guard:
            self.store.review_variation(variation_id, accepted, self.annotator, reason or None)
            self._reviews.pop(variation_id, None)
            self._review_rows.pop(variation_id, None)
            self._set_status(f"Variation {variation_id} {'accepted' if accepted else 'rejected'}.")
            self._render_reviews()

    def accept_rest(self) -> int:
        """Accept every pending variation the filters passed (the explicit bulk review); returns how many."""
        with self._guard:
            chosen = [vid for vid, row in self._reviews.items() if row["status"] == "accepted"]
            for vid in chosen:
                self.store.review_variation(vid, True, self.annotator)
                self._reviews.pop(vid, None)
                self._review_rows.pop(vid, None)
            self._set_status(f"Accepted {len(chosen)} variation(s) the filters passed.")
            self._render_reviews()
            return len(chosen)

    @property
    def pending_reviews(self) -> list[int]:
        """Ids of the variations waiting for a person's review, oldest first."""
        return sorted(self._reviews)

    def focus(self) -> None:
        """Give the keyboard to this widget (when no cell or text box is being typed in)."""
        self.hotkeys.focus()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the callbacks started so far; True when all have finished (never call it from a callback)."""
        done, pending = wait(list(self._futures), timeout=timeout)
        return not pending

    def close(self) -> None:
        """Close the widget and its connection; a running callback finishes without updating it."""
        if getattr(self, "_closed", True):  # also when __init__ refused its arguments
            return super().close()
        with self._guard:
            self._closed = True
            self._executor.shutdown(wait=False, cancel_futures=True)
            self.store.close()
        super().close()

    def __enter__(self) -> "LabelingWidget":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- background work -----------------------------------------------------------------
    def _submit(self, description: str, function: Callable | None, args: tuple, refresh: str | None = None) -> None:
        if function is not None:
            self._running.append(description)
            self._set_activity()
        self._futures = [future for future in self._futures if not future.done()]
        self._futures.append(self._executor.submit(self._work, description, function, args, refresh))

    def _work(self, description: str, function: Callable | None, args: tuple, refresh: str | None) -> None:
        """Run on the worker thread: the callback, then the new review rows; the guard is held only briefly."""
        error = None
        if function is not None:
            try:
                function(*args)
            except Exception as caught:  # shown to the user; the widget goes on
                error = caught
        with self._guard:
            if self._closed:
                return
            if function is not None:
                self._running.remove(description)
            if error is not None:
                self.errors_.append((description, error))
                self._failure = f"{description[:1].upper()}{description[1:]} failed: {error}"
            self._set_activity()
            fresh = self._unreviewed([refresh]) if refresh is not None else {}
        # Building widgets is the slow part; done outside the guard, labeling meanwhile stays quick.
        rows = {vid: self._review_row(vid, row) for vid, row in fresh.items() if vid not in self._review_rows}
        with self._guard:
            if not self._closed and fresh:
                self._add_reviews(fresh, rows)

    # -- the view --------------------------------------------------------------------------
    def _build(self) -> list[widgets.Widget]:
        self.header = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=max(len(self._items), 1),
                                       layout=widgets.Layout(width="100%", height="10px"))
        self.item = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.item.add_class("alsafe-item")
        self.buttons = {}
        for number, entry in enumerate(self.taxonomy.labels, start=1):
            shortcut = f"{number} · " if number <= 9 else ""
            button = widgets.Button(description=f"{shortcut}{entry.display_name}", tooltip=entry.description,
                                    layout=widgets.Layout(width="auto", min_width="150px", height="42px",
                                                          margin="3px"))
            button.style.button_color = entry.colour
            button.style.text_color = _ink(entry.colour)
            button.style.font_weight = "bold"
            button.style.font_size = "15px"
            button.add_class(f"alsafe-label-{number}")
            button.on_click(lambda _, name=entry.name: self._from_ui(self.label, name))
            self.buttons[entry.name] = button
        self.note = widgets.Text(placeholder="optional note, saved with the next label (Enter saves)",
                                 layout=widgets.Layout(flex="1 1 200px", min_width="160px"))
        self.note.add_class("alsafe-note")
        self.note.add_class("alsafe-typing")
        with warnings.catch_warnings():  # ipywidgets 8 deprecates on_submit but has no other Enter event
            warnings.simplefilter("ignore", DeprecationWarning)
            self.note.on_submit(lambda _: self._from_ui(self.confirm))
        self.skip_button = widgets.Button(description="Skip (s)", icon="forward", layout=widgets.Layout(width="120px"))
        self.undo_button = widgets.Button(description="Undo (⌫)", icon="undo", layout=widgets.Layout(width="120px"))
        self.skip_button.on_click(lambda _: self._from_ui(self.skip))
        self.undo_button.on_click(lambda _: self._from_ui(self.undo))
        keys = f"1–{min(len(self.taxonomy), 9)}"
        self.hotkeys = KeyStrip(self._on_key, active_text=f"⌨ keys on: {keys} pick · Enter save · Backspace undo · "
                                                          "s skip")
        self.hotkeys.add_class("alsafe-hotkeys")
        self.status = widgets.HTML()
        self.status.add_class("alsafe-status")
        self.activity = widgets.HTML()
        self.activity.add_class("alsafe-activity")
        self._set_activity()
        self.reviews = widgets.VBox(layout=widgets.Layout(max_height="420px", overflow="auto"))
        self.reviews.add_class("alsafe-reviews")
        self.reviews_title = widgets.HTML()
        self.accept_rest_button = widgets.Button(description="Accept the rest", icon="check-double",
                                                 tooltip="accept every waiting variation the filters passed",
                                                 layout=widgets.Layout(width="auto", min_width="150px"))
        self.accept_rest_button.on_click(lambda _: self._from_ui(self.accept_rest))
        self.accept_rest_button.add_class("alsafe-accept-rest")
        wrap = widgets.Layout(align_items="center", width="100%", flex_flow="row wrap")
        return [widgets.HTML(f"<style>{STYLE}</style>", layout=widgets.Layout(display="none")),
                self.header, self.bar, self.item,
                widgets.HBox(list(self.buttons.values()), layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([self.note, self.skip_button, self.undo_button], layout=wrap),
                self.hotkeys, self.status, self.activity,
                widgets.HBox([self.reviews_title, self.accept_rest_button], layout=wrap), self.reviews]

    def _render(self) -> None:
        progress = self.progress
        chips = " ".join(
            f"<span style='background:{entry.colour};color:{_ink(entry.colour)};border-radius:10px;"
            f"padding:1px 8px;margin-right:4px'>{html.escape(entry.display_name)} {progress['per_class'][entry.name]}"
            "</span>" for entry in self.taxonomy.labels)
        self.header.value = (f"<div style='font-size:15px'><b>Round {self.round}</b> · {progress['done']} / "
                             f"{progress['total']} labeled by {html.escape(self.annotator)}"
                             f"<div style='margin-top:4px;font-size:13px'>{chips}</div></div>")
        self.bar.value = progress["done"]
        item = self.current
        if item is None:
            self.item.value = (f"<div style='font-size:22px;padding:18px;background:#eef7ee;border-radius:8px'>"
                               f"✓ Round {self.round} is done: all {progress['total']} items are labeled.</div>")
        else:
            self.item.value = self._item_html(item)
        for control in [*self.buttons.values(), self.skip_button]:
            control.disabled = item is None
        self.undo_button.disabled = not self._history
        self._render_buttons()

    def _item_html(self, item: dict) -> str:
        predicted = item.get("predicted_label")
        colour = self.taxonomy[predicted].colour if predicted in self.taxonomy else "#888"
        facts = [f"item <code>{html.escape(str(item['item_id']))}</code>"]
        if item.get("cluster") is not None and item["cluster"] == item["cluster"]:
            facts.append(f"cluster <b>{int(item['cluster'])}</b>")
        if predicted:
            facts.append(f"learner predicts <b style='color:{colour}'>{html.escape(self.taxonomy.display(predicted))}"
                         "</b>")
        if item.get("score") is not None and item["score"] == item["score"]:
            facts.append(f"uncertainty <b>{item['score']:.2f}</b>")
        return (f"<div style='font-size:13px;color:#555;margin:6px 0 4px'>{' · '.join(facts)}</div>"
                f"<div style='font-size:21px;line-height:1.5;padding:14px 18px;background:#f6f7f9;"
                f"border-left:6px solid {colour};border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere'>"
                f"{html.escape(str(item['text']))}</div>")

    def _render_buttons(self) -> None:
        for name, button in self.buttons.items():
            button.layout.border = "3px solid #222" if name == self._selected else ""

    def _set_status(self, message: str, warning: bool = False) -> None:
        """The line answering what the person just did (background work has its own line)."""
        self._status_text = " ".join(message.split())
        colour = "#b00020" if warning else "#333"
        self.status.value = f"<span style='color:{colour}'>{html.escape(self._status_text, quote=False)}</span>"

    def _set_activity(self) -> None:
        """The line saying what runs in the background, or that nothing does."""
        if self._running:
            line = f"Working: {self._running[0]}…"
            if len(self._running) > 1:
                line += f" (then {len(self._running) - 1} more)"
            text = f"<span style='color:#555'>{html.escape(line, quote=False)}</span>"
        else:
            text = "<span style='color:#555'>✓ Nothing running in the background.</span>"
        if self._failure:
            text += f"<br><span style='color:#b00020'>{html.escape(self._failure, quote=False)}</span>"
        self.activity.value = text

    def _unreviewed(self, item_ids: list[str] | None = None) -> dict[int, dict]:
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

    def _drop_stale_reviews(self) -> None:
        """Forget the waiting reviews whose variations no longer count (their seed's label was undone)."""
        current = set(self._unreviewed([*{row["seed_id"] for row in self._reviews.values()}]))
        for vid in [vid for vid in self._reviews if vid not in current]:
            self._reviews.pop(vid, None)
            self._review_rows.pop(vid, None)
        self._render_reviews()

    def _add_reviews(self, fresh: dict[int, dict], rows: dict[int, widgets.Box], recheck: bool = True) -> None:
        """Show ``fresh`` reviews; ``recheck``: an undo may have come since they were fetched, so ask again."""
        current = set(self._unreviewed([*{row["seed_id"] for row in fresh.values()}])) if fresh and recheck \
            else set(fresh)
        for vid, row in fresh.items():
            if vid in current:
                self._reviews.setdefault(vid, row)
        for vid, box in rows.items():
            if vid in self._reviews:
                self._review_rows.setdefault(vid, box)
        self._render_reviews()

    def _render_reviews(self) -> None:
        # Oldest first, and only a screenful: a long backlog would make every label slower to show.
        shown = sorted(self._reviews)[:MAX_REVIEW_ROWS]
        for vid in shown:
            if vid not in self._review_rows:
                self._review_rows[vid] = self._review_row(vid, self._reviews[vid])
        rows = tuple(self._review_rows[vid] for vid in shown)
        if rows != self.reviews.children:
            self.reviews.children = rows
        more = len(self._reviews) - len(rows)
        passed = sum(row["status"] == "accepted" for row in self._reviews.values())
        self.reviews_title.value = (
            f"<b>Variations to review ({len(self._reviews)})</b> · does each keep its seed's label?"
            f"{f' {more} more appear as these are done.' if more else ''}" if rows else "")
        self.accept_rest_button.description = f"Accept the rest ({passed})"
        self.accept_rest_button.layout.display = "" if passed else "none"

    def _review_row(self, variation_id: int, row: dict) -> widgets.Box:
        return review_row(variation_id, row, self.taxonomy,
                          on_accept=lambda: self._from_ui(self.review, variation_id, True),
                          on_reject=lambda reason: self._from_ui(self.review, variation_id, False, reason))

    # -- events --------------------------------------------------------------------------
    def _from_ui(self, action: Callable, *args) -> None:
        """Run a button's action; a refused request shows in the status line instead of a traceback."""
        try:
            action(*args)
        except (StoreError, ValueError) as error:
            self._set_status(str(error), warning=True)
        self.hotkeys.focus()

    def _on_key(self, key: str) -> None:
        if key == "Backspace":
            self._from_ui(self.undo)
        elif key == "Enter":
            self._from_ui(self.confirm)
        elif key in ("s", "S"):
            self._from_ui(self.skip)
        elif key.isdigit() and 1 <= int(key) <= min(len(self.taxonomy), 9):
            self._from_ui(self.select, self.taxonomy.names[int(key) - 1])
        else:
            self._set_status(f"The key {key!r} does nothing here; use 1-{min(len(self.taxonomy), 9)}, "
                             "Enter, Backspace or s.", warning=True)


def _ink(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (a ``#rrggbb`` hex)."""
    try:
        red, green, blue = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "black"
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "white"

