"""The export step of a labeling session: it waits for the budget to be spent, or for the user to ask.

Run All in widget mode reaches the export cell at once; exporting then would fine-tune a classifier on
the few texts labeled so far. :class:`ExportPanel` instead says how far the run is, offers an "Export
now" button, and exports by itself when the session's last round is done. Without a session (a
simulated annotator, papermill) it exports at once, in the cell.
"""

from __future__ import annotations

import threading
from pathlib import Path

import ipywidgets as widgets
from IPython.display import Markdown

from alsafe import export
from alsafe.store import RunStore


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
        self.store, self.folder = store, Path(folder)
        self.test_fraction, self.random_state = test_fraction, random_state
        self.classifier_params = classifier_params
        self.paths_: dict | None = None
        self.error_: BaseException | None = None
        self._lock = threading.Lock()
        self.message = widgets.HTML()
        self.button = widgets.Button(description="Export now", icon="download", layout=widgets.Layout(width="160px"))
        self.button.on_click(lambda _: self._export_in_background())
        self.card = widgets.Output()
        super().__init__(children=[self.message, self.button, self.card])
        self.add_class("alsafe-export")
        if session is None or session.finished:
            self.export()
        else:
            status = session.status_
            self.message.value = (f"Waiting for labeling to finish ({status.rounds_done} of {status.rounds_total} "
                                  "rounds done): the dataset and classifier are exported when the budget is "
                                  "spent, or now with the button.")
            session.on_round(self._round_done)

    def export(self) -> dict:
        """Write the dataset and train, score and save the classifier now; returns :attr:`paths_`."""
        with self._lock:
            self.button.disabled = True
            self.message.value = "Exporting the dataset and training the classifier…"
            try:
                paths = export.export_dataset(self.store, self.folder, test_fraction=self.test_fraction,
                                              random_state=self.random_state)
                paths["classifier"] = export.export_classifier(
                    self.store, self.folder / "classifier", test_fraction=self.test_fraction,
                    random_state=self.random_state, **self.classifier_params)
            except Exception as error:
                self.error_ = error
                self.message.value = f"<span style='color:#b00020'>The export failed: {error}</span>"
                self.button.disabled = False
                raise
            self.paths_ = paths
            self.message.value = f"Exported to <code>{self.folder}</code> (dataset and classifier)."
            self.button.description = "Export again"
            self.button.disabled = False
            self.card.clear_output()
            self.card.append_display_data(Markdown((paths["classifier"] / "README.md").read_text(encoding="utf-8")))
            return paths

    def _export_in_background(self) -> None:
        threading.Thread(target=self._quiet_export, name="alsafe-export", daemon=True).start()

    def _quiet_export(self) -> None:
        try:
            self.export()
        except Exception:  # noqa: BLE001 - shown in the panel, kept in error_
            pass

    def _round_done(self, session) -> None:
        if session.finished and self.paths_ is None:
            self._quiet_export()
