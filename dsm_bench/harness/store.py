"""The results directory on disk: the journal, the tables rebuilt from it, and its lock.

* ``DIR/results.jsonl``: the journal and the source of truth. Append-only: one row a line,
  each made durable (``flush`` + ``fsync``) before the next run is counted. A write that fails
  part-way (disk full) is cut back to the last whole line; a torn last line left by a kill
  mid-write is skipped on reading and the next row starts on a fresh line.
* ``DIR/results.parquet`` and ``DIR/results.csv``: the table, derived from the journal
  (temp file + rename, so readers never see a partial file). Where the journal holds several
  rows of a config hash (retries), the last one is the table's. ``load_table`` rebuilds a
  missing, unreadable or out-of-date table from the journal and says so.
* ``DIR/.lock``: one driver per results directory. ``driver_lock`` takes an OS lock
  (``fcntl.flock``, released by the kernel when the driver dies, however it dies) and writes
  the holder's pid, host and start time into the file, so that a second driver can name it.

Nothing is written through a symbolic link: the journal and the lock are opened with
``O_NOFOLLOW``, the tables replaced by rename (``dsm_bench.harness.confined``).

Files are created with mode ``0666 & ~umask`` (0644 under the usual umask 022), the mode
``open()`` gives the journal and the logs: results are meant to be read by collaborators and
by the cluster's nodes, and they hold no secret. ``tempfile.mkstemp`` names temporary files
unpredictably but creates them 0600, so they are chmod-ed before the rename.

Fault injection (tests only, off unless set): the environment variable
``DSM_BENCH_INJECT_IO_ERROR=enospc:N`` makes every journal append of this process after its
N-th raise ``OSError(ENOSPC)``, as a full disk would.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from dsm_bench.harness.confined import open_nofollow
from dsm_bench.table import (
    CSV,
    JOURNAL,
    PARQUET,
    ResultsError,
    journal_rows,
    latest_rows,
    read_without_journal,
    results_frame,
    table_file_problem,
)

__all__ = ["CSV", "JOURNAL", "LOCK", "PARQUET", "ResultsDirBusy", "ResultsError", "ResultsStore",
           "atomic_write", "driver_lock", "file_mode", "load_table", "read_results",
           "results_frame"]

LOCK = ".lock"
INJECT_ENV = "DSM_BENCH_INJECT_IO_ERROR"


class ResultsDirBusy(RuntimeError):
    """Another driver holds the results directory's lock; the message names it."""


def file_mode() -> int:
    """The mode ``open()`` would create a file with: 0666 minus the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """``write(tmp)`` a temporary file next to ``path``, make it durable, rename it onto
    ``path``: a reader sees the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_injected_appends = 0


def _inject_io_error() -> None:
    """The ``DSM_BENCH_INJECT_IO_ERROR`` test hook (module doc); a no-op when unset."""
    global _injected_appends
    spec = os.environ.get(INJECT_ENV, "")
    if not spec.startswith("enospc:"):
        return
    _injected_appends += 1
    if _injected_appends > int(spec.split(":", 1)[1]):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + " (injected)")


class ResultsStore:
    """The results directory: an append-only journal plus the table rebuilt from it."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.journal = self.dir / JOURNAL
        self._lock = threading.Lock()
        # runs finishing on parallel threads each rebuild the tables: a rebuild reads the
        # journal and writes under this lock, so the last one written holds every row
        self._tables_lock = threading.Lock()

    def rows(self) -> list[dict[str, Any]]:
        """Every row of the journal in order (a torn line is skipped)."""
        return journal_rows(self.journal)

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last row of every config hash, in order of first appearance."""
        return latest_rows(self.journal)

    def append(self, row: dict[str, Any]) -> None:
        """Make a finished row durable, then rebuild the table."""
        self.append_journal(row)
        self.write_tables()

    def append_journal(self, row: dict[str, Any]) -> None:
        """Append one row to the journal and fsync it. On an I/O error (disk full) the file is
        cut back to its previous length, so no torn line is left, and the error is raised."""
        line = json.dumps(_json_row(row), default=str, allow_nan=False) + "\n"
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = open_nofollow(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, file_mode())
            with os.fdopen(fd, "ab") as f:
                size = f.seek(0, os.SEEK_END)
                torn = size > 0 and not _ends_with_newline(self.journal, size)
                try:
                    _inject_io_error()
                    # a sweep killed mid-write may have left a torn line: start on a fresh one
                    f.write((b"\n" if torn else b"") + line.encode())
                    f.flush()
                    os.fsync(f.fileno())
                except OSError:
                    with contextlib.suppress(OSError):
                        os.truncate(self.journal, size)  # shrinking needs no free space
                    raise

    def table(self) -> pd.DataFrame:
        return results_frame(list(self.latest().values()))

    def write_tables(self, frame: pd.DataFrame | None = None) -> None:
        with self._tables_lock:
            frame = self.table() if frame is None else frame
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.dir / PARQUET, lambda p: frame.to_parquet(p, index=False))
            atomic_write(self.dir / CSV, lambda p: frame.to_csv(p, index=False))

    def repair_tables(self) -> tuple[pd.DataFrame, list[str]]:
        """(the table from the journal, notes): each table file that is missing, unreadable
        or behind the journal is rebuilt from it, with a note saying so."""
        frame = self.table()
        notes = []
        for name in (PARQUET, CSV):
            path = self.dir / name
            problem = table_file_problem(path, frame)
            if problem is None:
                continue
            try:
                atomic_write(path, (lambda p: frame.to_parquet(p, index=False)) if name == PARQUET
                             else (lambda p: frame.to_csv(p, index=False)))
                notes.append(f"{path} {problem}: rebuilt from {JOURNAL}")
            except OSError as exc:
                notes.append(f"{path} {problem}; rebuilding it failed ({exc}): using {JOURNAL}")
        return frame, notes


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def load_table(directory: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """(the results table of ``directory``, notes on what was repaired).

    With a journal the table is the journal's, and broken table files are rebuilt from it
    (``ResultsStore.repair_tables``). Without one, results.parquet or else results.csv is read;
    raises ResultsError naming the file when neither exists or the one there is unreadable
    or lacks the identity columns."""
    directory = Path(directory)
    store = ResultsStore(directory)
    if store.journal.exists():
        return store.repair_tables()
    return results_frame(read_without_journal(directory).to_dict("records")), []


def read_results(directory: str | Path) -> pd.DataFrame:
    """The results table of a results directory; what was repaired is said on stderr."""
    table, notes = load_table(directory)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return table


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()  # numpy scalar
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


# ---------------------------------------------------------------------------- the lock

_held: dict[str, list[Any]] = {}  # resolved dir -> [fd, depth]: re-entrant in one process
_held_lock = threading.Lock()


@contextlib.contextmanager
def driver_lock(directory: str | Path) -> Iterator[None]:
    """Hold ``DIR/.lock`` for the block (creating DIR). A second driver on the same DIR gets
    ``ResultsDirBusy`` naming the holder's pid, host and start time. Re-entrant within one
    process, so the command line may take it before starting an executor and the sweep
    again inside."""
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    key = str(directory.resolve())
    with _held_lock:
        if key in _held:
            _held[key][1] += 1
            fd = None
        else:
            fd = _acquire(directory / LOCK)
            _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _held_lock:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                os.close(_held.pop(key)[0])  # closing the file releases the lock


def _acquire(path: Path) -> int:
    fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ResultsDirBusy(
            f"{path.parent} is in use by another driver ({_holder(path)}); wait for it to end "
            "or stop it, then run the same command (it resumes)") from None
    except BaseException:
        os.close(fd)
        raise
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with contextlib.suppress(OSError):  # the lock holds even if the note cannot be written
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
    return fd


def _holder(path: Path) -> str:
    """'pid P on host H since T' from the lock file (the holder may still be writing it)."""
    for _ in range(20):
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(path.read_text())
            return f"pid {info['pid']} on host {info['host']} since {info['started_at']}"
        time.sleep(0.05)
    return "holder unknown: its lock file is empty"
