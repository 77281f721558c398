"""The export step of a labeling session: it waits for the budget to be spent, or for the user to ask.

Run All in widget mode reaches the export cell at once; exporting then would fine-tune a classifier on
the few texts labeled so far. :class:`ExportPanel` instead says how far the run is, offers an "Export
now" button, and exports by itself when the session's last round is done. Without a session (a
simulated annotator, papermill) it exports at once, in the cell.

Everything it says is read from the store each time it is redrawn (after every round, and on each
button press): rounds done, generated rows no person reviewed, and whether the export on disk still
matches the run. While generated rows wait for review the panel says how many, and its button reads
**Export with them marked**: the person reviews first (the panel waits) or exports them with
``reviewed`` False. When the budget is spent the export runs by itself even if some still wait (the
last round's variations nearly always do, and a person who stops there still gets a dataset and a
classifier), marks them, and says so in red; a review afterwards makes the export stale, and the
panel says that too.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path

import ipywidgets as widgets
from IPython.display import Markdown

from alsafe import export
from alsafe.store import RunStore

WARNING = "color:#b00020"


class ExportPanel(widgets.VBox):
    """Export ``store``'s dataset and classifier to ``folder`` once labeling is done.

    Parameters
    ----------
    store : the run store.
    folder : the export folder (``dataset.*``, ``hf/`` and ``classifier/``).
    session : the :class:`~alsafe.ui.session.LabelingSession` to wait for; None exports now.
    test_fraction, random_state : the export's split.
    **classifier_params : passed to :func:`alsafe.export.export_classifier` (``model``, ``epochs``, ...).

    Attributes
    ----------
    paths_ : dict or None
        What :func:`alsafe.export.export_dataset` wrote, plus ``classifier`` (its folder), once exported.
    """

    def __init__(self, store: RunStore, folder: str | Path, session=None, test_fraction: float = 0.2,
                 random_state: int = 0, **classifier_params):
        self.store, self.folder, self.session = store, Path(folder), session
        self.test_fraction, self.random_state = test_fraction, random_state
        self.classifier_params = classifier_params
        self.paths_: dict | None = None
        self.error_: BaseException | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._thread: threading.Thread | None = None
        self.message = widgets.HTML()
        self.button = widgets.Button(description="Export now", icon="download", layout=widgets.Layout(width="220px"))
        self.button.on_click(lambda _: self._export_in_background())
        self.card = widgets.Output()
        super().__init__(children=[self.message, self.button, self.card])
        self.add_class("alsafe-export")
        self._card_text, self._card_stale = "", None
        if session is not None:
            session.on_round(self._round_done)
            session.on_change(lambda _: self.refresh())  # a label, undo or review can make the export stale
        if session is None or session.finished:
            self.export()
        else:
            self.refresh()

    def status(self) -> dict:
        """Where the run and its export stand, read from the store now: ``rounds_done``, ``rounds_total``,
        ``finished``, ``unreviewed``, ``generated``, ``exported`` (the export's metadata or None), ``stale``."""
        rounds = self.store.rounds()
        done = int((rounds["status"] == "trained").sum())
        total = self.session.loop.n_rounds if self.session is not None else len(rounds)
        unreviewed, generated = export.unreviewed_counts(self.store)
        return {"rounds_done": done, "rounds_total": total, "finished": done >= total, "unreviewed": unreviewed,
                "generated": generated, "exported": export.read_export_meta(self.folder),
                "stale": export.export_is_stale(self.store, self.folder)}

    def refresh(self) -> dict:
        """Redraw the message and buttons from the store; returns :meth:`status`."""
        status = self.status()
        exported, stale, unreviewed = status["exported"], status["stale"], status["unreviewed"]
        lines = []
        if self._busy:
            lines.append("Exporting the dataset and training the classifier…")
        if self.session is not None:
            done, total = status["rounds_done"], status["rounds_total"]
            lines.append(f"The budget is spent ({done} of {total} rounds done)." if status["finished"] else
                         f"Waiting for labeling to finish ({done} of {total} rounds done): the dataset and classifier "
                         "are exported when the budget is spent, or now with the button.")
        if self.error_ is not None:
            lines.append(f"<span style='{WARNING}'>The export failed: {html.escape(str(self.error_))}</span>")
        if exported is not None and stale:
            lines.append(f"<b style='{WARNING}'>The export is stale: {html.escape(stale)}; export again.</b>")
        elif exported is not None:
            lines.append(f"Exported to <code>{html.escape(str(self.folder))}</code> ({self._what_was_exported()}).")
            if exported.get("unreviewed"):
                lines.append(f"<b style='{WARNING}'>{exported['unreviewed']} of its {exported['generated']} generated "
                             "rows were never reviewed by a person</b>: the dataset marks them "
                             "<code>reviewed = False</code>."
                             + (" Review them in the labeling widget, then export again." if self.session else ""))
        if unreviewed and self.session is not None and (exported is None or stale):
            lines.append(f"<b>{unreviewed} of {status['generated']} generated rows were never reviewed by a "
                         "person.</b> Review them in the labeling widget first (the export waits), or press "
                         "<i>Export with them marked</i> to export them with <code>reviewed = False</code>.")
        self.message.value = "<br>".join(lines)
        self.button.description = ("Export with them marked" if unreviewed and (exported is None or stale)
                                   else "Export again" if exported is not None else "Export now")
        self.button.disabled = self._busy
        self._show_card(stale if exported is not None else None)
        return status

    def _show_card(self, stale: str | None) -> None:
        """The classifier's card under the panel, headed by a warning while the run has changed since."""
        if not self._card_text or stale == self._card_stale:
            return
        self._card_stale = stale
        self.card.outputs = ()  # clear_output() clears only inside a kernel with a front end
        if stale:
            self.card.append_display_data(Markdown(f"> **Stale:** {stale}; this card describes the export as it "
                                                   "was made. Export again."))
        self.card.append_display_data(Markdown(self._card_text))

    def export(self) -> dict:
        """Write the dataset and train, score and save the classifier now; returns :attr:`paths_`.

        Generated rows no person reviewed are exported with ``reviewed`` False, and the panel says how many.
        """
        with self._lock:
            self._busy, self.error_ = True, None
            self.refresh()
            try:
                paths = export.export_dataset(self.store, self.folder, test_fraction=self.test_fraction,
                                              random_state=self.random_state)
                paths["classifier"] = export.export_classifier(
                    self.store, self.folder / "classifier", test_fraction=self.test_fraction,
                    random_state=self.random_state, **self.classifier_params)
            except Exception as error:
                self.error_ = error
                raise
            finally:
                self._busy = False
                self.refresh()
            self.paths_ = paths
            self._card_text, self._card_stale = (paths["classifier"] / "README.md").read_text(encoding="utf-8"), ""
            self.refresh()
            return paths

    def _what_was_exported(self) -> str:
        card, meta = self.folder / "classifier" / "README.md", self.folder / export.META_FILE
        # the classifier is trained after the dataset is written: an older card is from an earlier export
        return ("dataset and classifier" if card.exists() and card.stat().st_mtime >= meta.stat().st_mtime
                else "the dataset; the classifier is not trained yet")

    def wait(self, timeout: float | None = None) -> None:
        """Block until an export a button started has finished (for tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _export_in_background(self) -> None:
        self._thread = threading.Thread(target=self._quiet_export, name="alsafe-export", daemon=True)
        self._thread.start()

    def _quiet_export(self) -> None:
        try:
            self.export()
        except Exception:  # noqa: BLE001 - shown in the panel, kept in error_
            pass

    def _round_done(self, session) -> None:
        if session.finished and self.paths_ is None:
            self._quiet_export()
        else:
            self.refresh()
