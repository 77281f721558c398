"""Progress of a long loop inside a notebook kernel, shown on the terminal of the process running the pipeline.

:func:`alsafe.reproduce.run_plan` names a fresh file in the ``ALSAFE_PROGRESS_FILE`` environment variable
before it starts each notebook; the kernel inherits the variable. Package code wraps its long loops in
:func:`tracked` (or calls :func:`report`), which replaces that file atomically with a small JSON object
``{"done": 12, "total": 45, "what": "runs"}``. A :class:`Watcher` thread in the pipeline's process reads it
and draws a second bar: ``05_transfer_experiments: runs 12/45 |███   | 09:41<26:39`` (elapsed<remaining,
from the mean time per item so far). Without the variable (a notebook opened in Jupyter, a script)
reporting does nothing.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from alsafe.files import write_atomically

VARIABLE = "ALSAFE_PROGRESS_FILE"
T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    what: str


def report(done: int, total: int, what: str) -> None:
    """Record that ``done`` of ``total`` ``what`` are finished; a no-op unless ``ALSAFE_PROGRESS_FILE`` is set."""
    path = os.environ.get(VARIABLE, "").strip()
    if not path:
        return
    text = json.dumps({"done": int(done), "total": int(total), "what": str(what)})
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError:
        pass  # a progress bar must never stop the computation it describes


def tracked(items: Iterable[T], what: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items``, reporting ``0/total`` first and ``i/total`` after the body of the i-th item has run."""
    total = len(items) if total is None else total  # type: ignore[arg-type]
    report(0, total, what)
    done = 0
    for item in items:
        yield item
        done += 1
        report(done, total, what)


def read(path: str | Path) -> Progress | None:
    """The last report written to ``path``; None when nothing (or nothing readable) is there yet."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
        return Progress(int(value["done"]), int(value["total"]), str(value["what"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Watcher:
    """Poll a progress file from a thread while a notebook runs, and mirror it in a tqdm bar.

    ``with Watcher(path, "05_transfer_experiments", parent=bar):`` -- the bar is named
    ``<name>: <what>``; a report of another ``what`` or ``total`` starts a new bar. ``parent`` (the
    pipeline's own bar) is redrawn on every poll on a terminal, so its elapsed time keeps moving, and
    only when the loop moves in a log file.
    """

    def __init__(self, path: str | Path, name: str, parent=None, interval: float = 0.5, disable: bool = False,
                 position: int = 1):
        self.path, self.name, self.parent, self.interval = Path(path), name, parent, interval
        self.disable, self.position = disable, position
        self.bar = None
        self.last: Progress | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"progress of {name}", daemon=True)

    def __enter__(self) -> "Watcher":
        if not self.disable:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.disable:
            self._stop.set()
            self._thread.join()
            self.update()  # the last report, written just before the kernel finished
        if self.bar is not None:
            self.bar.close()

    def _poll(self) -> None:
        # On a terminal the parent's elapsed time ticks every poll; in a log file it moves with the loop only.
        ticking = self.parent is not None and _is_terminal(self.parent)
        while not self._stop.wait(self.interval):
            moved = self.update()
            if self.parent is not None and (ticking or moved):
                self.parent.refresh()

    def update(self) -> bool:
        """Read the file once and move the bar to what it says; whether it moved."""
        from tqdm.auto import tqdm

        state = read(self.path)
        if state is None or state == self.last:
            return False
        if self.bar is None or self.last is None or (state.what, state.total) != (self.last.what, self.last.total) \
                or state.done < self.bar.n:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=state.total, desc=f"{self.name}: {state.what}", position=self.position, leave=False,
                            bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}", dynamic_ncols=True,
                            mininterval=0, miniters=1, smoothing=0)  # polling spaces the updates: draw each one;
            # the estimate is from the mean time per item so far (runs of several models differ in length)
        self.bar.update(state.done - self.bar.n)
        self.last = state
        return True


def _is_terminal(bar) -> bool:
    try:
        return bool(bar.fp.isatty())
    except (AttributeError, ValueError):
        return False
