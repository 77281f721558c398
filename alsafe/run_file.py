"""The run file on disk: created whole, copied safely, locked beside itself (the rules are in :mod:`alsafe.store`).

Nothing here opens the run file with Python: only SQLite does, and the loop lock is a separate file.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import IO

from alsafe.schema import remove_files


def try_lock(lock_path: Path) -> IO | None:
    """Take an exclusive ``flock`` on ``lock_path`` (created if missing) without waiting; the open handle,
    to close to release it, or None when another handle holds it."""
    import fcntl

    handle = open(lock_path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def backup(connection: sqlite3.Connection, target: Path) -> Path:
    """Copy the database behind ``connection`` to ``target`` with SQLite's backup API, whole or not at all."""
    if target.exists():
        raise FileExistsError(f"{target} already exists; choose another file for the copy.")
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    remove_files(partial)
    copy = sqlite3.connect(partial)
    try:
        connection.backup(copy)
        copy.close()
        link_without_replacing(partial, target)
    finally:
        copy.close()
        remove_files(partial)
    return target


def link_without_replacing(source: Path, target: Path) -> None:
    """Put the finished file ``source`` at ``target`` in one step, refusing if ``target`` appeared meanwhile
    (a rename would replace a run that another process may be labeling in)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise FileExistsError(f"Run store {target} appeared while this one was being written; open it with "
                              "RunStore.open_or_create to continue it.") from None
    except OSError:  # a file system without hard links: check, then rename (a narrow window remains)
        if target.exists():
            raise FileExistsError(f"Run store {target} already exists.") from None
        source.replace(target)


def remove_new_companions(path: Path, existed: dict[str, bool]) -> None:
    """After a failed open of a damaged file, remove the ``-wal``/``-shm`` that the attempt made."""
    for suffix, was_there in existed.items():
        if not was_there:
            Path(str(path) + suffix).unlink(missing_ok=True)


def remove_abandoned_copies(path: Path) -> None:
    """Remove the ``<run>.<pid>.partial`` files of creations whose process is gone (killed mid-way)."""
    for leftover in path.parent.glob(f"{path.name}.*.partial"):
        pid = leftover.name[len(path.name) + 1:-len(".partial")]
        if pid.isdigit() and not _alive(int(pid)):
            remove_files(leftover)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
