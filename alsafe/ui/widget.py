"""The labeling widget: a round's selected items, one at a time, each label committed to the run store at once.

Keyboard: number keys pick a label, Enter saves it, Escape cancels a pick, Backspace cancels a pick or else
undoes the latest label (of this round or the previous one), ``s`` skips; they are read by a
:class:`alsafe.ui.keys.KeyStrip`, which takes the focus when drawn and gets it back after every click and after
Enter in the note box. A key acts only on the item that was on screen when it was pressed. A note belongs to
the item it was typed for, and is saved with that item's label.

Variations wait for review until someone accepts or rejects them, across rounds and restarts; an undo
takes the undone label's variations with it (:meth:`alsafe.store.RunStore.variations`, ``current``).

Nothing here waits on the user or on a callback: the ``on_labeled`` and ``on_round_complete`` callbacks
(generation, retraining) run one at a time on a worker thread, reported in the activity line; a failure
stays there until what it reports is resolved (:mod:`alsafe.ui.messages`).
"""

from __future__ import annotations

import html
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

import ipywidgets as widgets

from alsafe.ui.item_view import ink, item_html
from alsafe.ui.keys import KeyStrip
from alsafe.ui.messages import OpenFailures, action_failure
from alsafe.ui.queue import LabelQueue
from alsafe.ui.reviews import STYLE, ReviewList, snippet
from alsafe.store import RunStore, StoreError

_UNCHECKED = object()  # a key from a test or a script, not from the strip: no item to compare


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
    failures : background failures still open in the previous round's widget (its :attr:`failures`), shown
        here until resolved.
    on_change : ``f()``, run after every click or key that wrote to the store (a label, an undo, a review),
        so what else shows the run (the export panel) can redraw.

    Undo reaches back into the previous round: an item whose label is undone comes back on screen and is
    labeled again under its own round.
    """

    def __init__(self, store: RunStore | str | Path, annotator: str, round: int | None = None,
                 on_labeled: Callable[[str, str], object] | None = None,
                 on_round_complete: Callable[[int], object] | None = None,
                 failures: dict[tuple, str] | None = None, on_change: Callable[[], object] | None = None):
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
        self.on_labeled, self.on_round_complete, self.on_change = on_labeled, on_round_complete, on_change
        self.taxonomy = self.store.taxonomy
        self.errors_: list[tuple[str, BaseException]] = []
        self._guard = threading.RLock()  # the worker thread touches widgets and the connection too
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alsafe-widget")
        self._futures: list[Future] = []
        self._selected: str | None = None
        self._note_item: str | None = None  # the item whose note the note box holds
        self._status_text = ""
        self._running: list[str] = []  # background work under way, in order
        self._failures = OpenFailures(path, failures)
        self._closed = False
        self._queue = LabelQueue(self.store, self.annotator, self.round, rounds)
        super().__init__(children=self._build(), layout=widgets.Layout(max_width="980px", padding="4px"))
        self.add_class("alsafe-labeling")
        self._failures.drop_resolved(self.store, self.round)
        self._set_activity()
        self.review_list.add(self.review_list.unreviewed(), {}, recheck=False)  # earlier rounds' reviews too
        self._render()

    # -- state ---------------------------------------------------------------------------
    @property
    def current(self) -> dict | None:
        """The item on screen (``item_id, text, round, cluster, score, predicted_label, position``; ``round``:
        the round it was selected in), or None when done."""
        item_id = self._queue.current
        return None if item_id is None else dict(self._queue.items[item_id])

    @property
    def progress(self) -> dict:
        """``done``, ``total`` and ``per_class`` (label -> count) of this annotator's labels in this round."""
        return self._queue.progress(self.taxonomy.names)

    @property
    def failures(self) -> dict[tuple, str]:
        """The background failures not resolved yet, by what they are about (pass them to the next round's widget)."""
        with self._guard:
            return dict(self._failures.items)

    def round_of(self, item_id: str) -> int:
        """The round ``item_id`` was selected in (its labels are recorded under it)."""
        return self._queue.round_of[item_id]

    # -- actions (what buttons and keys call) --------------------------------------------
    def label(self, label: str, note: str | None = None) -> int:
        """Label the current item (committed at once) and show the next one; returns the label's id."""
        with self._guard:
            item_id = self._queue.current
            if item_id is None:
                raise StoreError(f"Round {self.round} has no item left for {self.annotator!r} to label.")
            if label not in self.taxonomy:
                raise StoreError(f"Unknown label {label!r}; this run's taxonomy has {', '.join(self.taxonomy.names)}.")
            if note is None:  # the note box holds the note of the item on screen, the one labeled here
                note = self.note.value.strip() or None
            label_id = self.store.add_label(item_id, label, self.annotator, note=note,
                                            round=self._queue.round_of[item_id])
            self._queue.labeled(label_id, label, note)
            self._selected, self.note.value, self._note_item = None, "", None
            self._failures.resolve(("item", item_id))  # its variations are asked for again, for this label
            text = snippet(self._queue.items[item_id]["text"])
            self._set_status(f"Saved {self.taxonomy.display(label)} for “{text}”.")
            self._render()
            # The item's variations (already there, or made by on_labeled) are fetched on the worker too.
            self._submit(f"writing variations of “{text}”", self.on_labeled, (item_id, label), refresh=item_id,
                         key=("item", item_id), safe="the label is saved, its variations are not", label_id=label_id)
            if self._queue.current is None and self.on_round_complete is not None:
                self._submit(f"training the learner on round {self.round} and picking the next items",
                             self.on_round_complete, (self.round,), key=("round", self.round),
                             safe=f"every label of round {self.round} is saved; run the labeling cell again to "
                                  "go on from there")
            return label_id

    def select(self, label: str) -> None:
        """Pick ``label`` for the current item without saving it; :meth:`confirm` saves it."""
        with self._guard:
            if label not in self.taxonomy:
                raise StoreError(f"Unknown label {label!r}; this run's taxonomy has {', '.join(self.taxonomy.names)}.")
            if self._queue.current is None:
                raise StoreError(f"Round {self.round} has no item left for {self.annotator!r} to label.")
            self._selected = label
            self._set_status(f"{self.taxonomy.display(label)} picked: press Enter to save it, Escape to cancel.")
            self._render_buttons()

    def cancel_pick(self) -> None:
        """Forget the label picked with :meth:`select` (the Escape key); nothing was saved, nothing is undone."""
        with self._guard:
            if self._selected is None:
                self._set_status("No label is picked, so there is nothing to cancel.")
                return
            picked, self._selected = self._selected, None
            self._set_status(f"{self.taxonomy.display(picked)} unpicked: nothing was saved. Backspace now undoes "
                             "the last saved label.")
            self._render_buttons()

    def back(self) -> str | None:
        """Backspace and the undo button: cancel a pick if there is one (nothing saved is touched), else
        :meth:`undo`; returns the undone item's id, or None when only a pick was cancelled."""
        with self._guard:
            if self._selected is not None:
                self.cancel_pick()
                return None
            return self.undo()

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
            if self._queue.current is None:
                raise StoreError(f"Round {self.round} has no item left to skip.")
            self._queue.skip()  # its note goes with it (see _show_note)
            self._selected = None
            self._set_status("Skipped: the item comes back after the others.")
            self._render()

    def undo(self) -> str:
        """Retract this annotator's latest label (of this round or the previous one) and show that item again;
        returns its id. The retracted label and its variations leave the training set at once."""
        with self._guard:
            if not self._queue.history:
                rounds = self._queue.rounds
                raise StoreError(f"{self.annotator!r} has no label in round{'s' if len(rounds) > 1 else ''} "
                                 f"{' and '.join(map(str, rounds))} left to undo.")
            try:
                self.store.retract_label(self._queue.history[-1]["label_id"])  # its variations go in the same write
            except StoreError:  # undone meanwhile elsewhere (another tab on this run): it no longer counts either
                pass
            last = self._queue.undone()  # only now: after a failed write the label is still there to undo
            item_id = last["item_id"]
            self._selected = None
            self._failures.resolve(("item", item_id), ("fetch", item_id))  # moot for an undone label
            self._set_activity()
            self.review_list.drop_stale()
            text = snippet(self._queue.items[item_id]["text"])
            undone = f"Undid {self.taxonomy.display(last['label'])} for “{text}”"
            if self._queue.round_of[item_id] != self.round:
                r = self._queue.round_of[item_id]
                self._set_status(f"{undone} from round {r}: its variations are withdrawn and the next training "
                                 f"goes without it. Label it again (it stays in round {r}).")
            else:
                self._set_status(f"{undone}; its variations are withdrawn. Label it again.")
            self._render()
            return item_id

    def review(self, variation_id: int, accepted: bool, reason: str | None = None) -> None:
        """Accept or reject (with a reason) one generated variation: the human check of the relation R."""
        with self._guard:
            self.store.review_variation(variation_id, accepted, self.annotator, reason or None)
            self.review_list.remove(variation_id)
            self._set_status(f"Variation {variation_id} {'accepted' if accepted else 'rejected'}.")
            self.review_list.render()

    def accept_rest(self) -> int:
        """Accept the variations on screen that the filters passed (the explicit bulk review); returns how many.
        Those not shown yet wait: nobody has read them."""
        with self._guard:
            chosen = self.review_list.passed_shown()
            try:
                for vid in chosen:
                    self.store.review_variation(vid, True, self.annotator)
                    self.review_list.remove(vid)
            finally:  # after a failed write the rows still listed are exactly the ones not accepted
                self.review_list.render()
            waiting = len(self.review_list.waiting)
            self._set_status(f"Accepted {len(chosen)} variation(s) the filters passed"
                             + (f"; {waiting} more wait for review." if waiting else "."))
            return len(chosen)

    @property
    def pending_reviews(self) -> list[int]:
        """Ids of the variations waiting for a person's review, oldest first."""
        return sorted(self.review_list.waiting)

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
    def _submit(self, description: str, function: Callable | None, args: tuple, refresh: str | None = None,
                key: tuple | None = None, safe: str = "", label_id: int | None = None) -> None:
        """Run ``function(*args)`` on the worker, then fetch ``refresh``'s new variations. A failure is shown
        under ``key`` until resolved, with ``safe`` (what is still saved); ``label_id``: the label it is for."""
        if function is not None:
            self._running.append(description)
            self._set_activity()
        self._futures = [future for future in self._futures if not future.done()]
        self._futures.append(self._executor.submit(self._work, description, function, args, refresh, key, safe,
                                                   label_id))

    def _work(self, description: str, function: Callable | None, args: tuple, refresh: str | None,
              key: tuple | None, safe: str, label_id: int | None) -> None:
        """Run on the worker thread: the callback, then the new review rows; the guard is held only briefly."""
        error = None
        if function is not None:
            try:
                function(*args)
            except Exception as caught:  # shown to the user; the widget goes on
                error = caught
        fresh: dict[int, dict] = {}
        with self._guard:
            if self._closed:
                return
            if function is not None:
                self._running.remove(description)
            if error is not None:
                self.errors_.append((description, error))
                # a failure for a label undone meanwhile reports nothing that is still true
                if label_id is None or self._queue.holds(label_id):
                    self._failures.report(key or ("job", description), description[:1].upper() + description[1:],
                                          error, safe)
            elif function is not None and key is not None:
                self._failures.resolve(key)
            if refresh is not None:
                try:
                    fresh = self.review_list.unreviewed([refresh])
                    self._failures.resolve(("fetch", refresh))
                except Exception as caught:
                    self.errors_.append((f"fetching the variations of {refresh}", caught))
                    self._failures.report(("fetch", refresh), "Fetching the variations of "
                                          f"“{snippet(self._queue.items[refresh]['text'])}”", caught,
                                          "they are stored and show when this widget is opened again")
            self._set_activity()
        # Building widgets is the slow part; done outside the guard, labeling meanwhile stays quick.
        rows = {vid: self.review_list.row(vid, row) for vid, row in fresh.items() if vid not in self.review_list.rows}
        with self._guard:
            if not self._closed and fresh:
                self.review_list.add(fresh, rows)

    # -- the view --------------------------------------------------------------------------
    def _build(self) -> list[widgets.Widget]:
        self.header = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=max(len(self._queue.own), 1),
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
            button.style.text_color = ink(entry.colour)
            button.style.font_weight = "bold"
            button.style.font_size = "15px"
            button.add_class(f"alsafe-label-{number}")
            button.on_click(lambda _, name=entry.name: self._from_ui(self.label, name))
            self.buttons[entry.name] = button
        self.note = widgets.Text(placeholder="optional note on this item, saved with its label (Enter saves)",
                                 layout=widgets.Layout(flex="1 1 200px", min_width="160px"))
        self.note.add_class("alsafe-note")
        self.note.add_class("alsafe-typing")
        with warnings.catch_warnings():  # ipywidgets 8 deprecates on_submit but has no other Enter event
            warnings.simplefilter("ignore", DeprecationWarning)
            # Enter saves, then the keys come back: the next number key picks instead of typing here
            self.note.on_submit(lambda _: self._from_ui(self.confirm, reclaim=True))
        self.skip_button = widgets.Button(description="Skip (s)", icon="forward", layout=widgets.Layout(width="120px"))
        self.undo_button = widgets.Button(description="Undo (⌫)", icon="undo", layout=widgets.Layout(width="120px"))
        self.skip_button.on_click(lambda _: self._from_ui(self.skip))
        self.undo_button.on_click(lambda _: self._from_ui(self.back))
        keys = f"1–{min(len(self.taxonomy), 9)}"
        self.hotkeys = KeyStrip(self._on_key, active_text=f"⌨ keys on: {keys} pick · Enter save · Esc unpick · "
                                                          "Backspace undo · s skip")
        self.hotkeys.add_class("alsafe-hotkeys")
        self.status = widgets.HTML()
        self.status.add_class("alsafe-status")
        self.activity = widgets.HTML()
        self.activity.add_class("alsafe-activity")
        self._set_activity()
        self.review_list = ReviewList(self.store, self.taxonomy,
                                      on_review=lambda *args: self._from_ui(self.review, *args))
        self.reviews, self.reviews_title = self.review_list.box, self.review_list.title
        self.accept_rest_button = self.review_list.accept_rest_button
        self.accept_rest_button.on_click(lambda _: self._from_ui(self.accept_rest))
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
            f"<span style='background:{entry.colour};color:{ink(entry.colour)};border-radius:10px;"
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
            self.item.value = item_html(item, self.taxonomy, self.round)
        self._show_note(None if item is None else item["item_id"])
        # Only after the item is drawn: a key pressed before names the item it replaced, and is refused.
        self.hotkeys.item = "" if item is None else str(item["item_id"])
        for control in [*self.buttons.values(), self.skip_button]:
            control.disabled = item is None
        self._render_buttons()

    def _show_note(self, item_id: str | None) -> None:
        """Put the note typed for the item leaving the screen aside, and show the one of ``item_id``."""
        if item_id == self._note_item:
            return
        notes = self._queue.notes
        if self._note_item is not None and self.note.value.strip():
            notes[self._note_item] = self.note.value
        elif self._note_item is not None:
            notes.pop(self._note_item, None)
        self.note.value = notes.pop(item_id, "") if item_id is not None else ""
        self._note_item = item_id

    def _render_buttons(self) -> None:
        for name, button in self.buttons.items():
            button.layout.border = "3px solid #222" if name == self._selected else ""
        self.undo_button.disabled = not self._queue.history and self._selected is None

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
        self.activity.value = text + self._failures.html()

    # -- events --------------------------------------------------------------------------
    def _from_ui(self, action: Callable, *args, reclaim: bool = False) -> None:
        """Run a button's or key's action; what goes wrong shows in the status line, never only in a log.
        ``reclaim``: give the keys back even from this widget's text box (after Enter in the note)."""
        writes = self.store.writes
        try:
            action(*args)
            if self.on_change is not None and self.store.writes != writes:
                self.on_change()
        except ValueError as error:  # a refused request (StoreError is one): its sentence says what to do
            self._set_status(str(error), warning=True)
        except Exception as error:  # the store failing (disk, lock) or a bug: what failed, what is safe
            self.errors_.append((action.__name__, error))
            self._set_status(action_failure(action.__name__, error, self.store.path), warning=True)
        self.hotkeys.focus(reclaim=reclaim)

    def _on_key(self, key: str, item: str | None | object = _UNCHECKED) -> None:
        """A key from the strip, pressed while ``item`` was on screen ("" when none was); tests and scripts
        leave ``item`` out."""
        with self._guard:
            shown = self._queue.current
            if item is not _UNCHECKED and item != ("" if shown is None else str(shown)):
                on_screen = f"round {self.round} is done" if shown is None else \
                    f"“{snippet(self._queue.items[shown]['text'])}” is on screen now"
                self._set_status(f"A key pressed on another item was ignored (nothing was saved): {on_screen}.",
                                 warning=True)
                return
        if key == "Escape":
            self._from_ui(self.cancel_pick)
        elif key == "Backspace":
            self._from_ui(self.back)
        elif key == "Enter":
            self._from_ui(self.confirm)
        elif key in ("s", "S"):
            self._from_ui(self.skip)
        elif key.isdigit() and 1 <= int(key) <= min(len(self.taxonomy), 9):
            self._from_ui(self.select, self.taxonomy.names[int(key) - 1])
        else:
            self._set_status(f"The key {key!r} does nothing here; use 1-{min(len(self.taxonomy), 9)}, "
                             "Enter, Escape, Backspace or s.", warning=True)

