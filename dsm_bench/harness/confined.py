"""Writing into a results directory that others can write too, without following their links.

A results directory on a shared file system may be writable by other people and by Slurm
jobs. Whoever can write DIR can plant a symbolic link where the driver will write
(``DIR/.lock``, ``DIR/results.jsonl``, ``DIR/logs/<config_hash>.log``: the hash follows from
the suite), and the driver would truncate or append to the link's target. So:

* every file the driver or a run opens for writing in DIR is opened with ``O_NOFOLLOW``
  (``open_nofollow``): a link there is refused (``UnsafePath``), never followed;
* every sub-directory of DIR that is written (``runs/``, ``logs/``, ``slurm/``, ...) is
  created if missing and then checked to be a real directory whose real path is inside
  DIR's (``subdir``);
* before a sweep starts, ``problems`` lists every link or foreign file type among the names
  the sweep will write, so that the command line refuses with exit 2 before anything runs.

``--out`` itself may be a link: DIR is its real path. Replacing a file by rename (the tables,
the artifacts) replaces a link rather than writing through it, so those need no flag.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

__all__ = ["SUBDIRS", "UnsafePath", "open_nofollow", "problems", "subdir"]

# the directories a sweep writes into, relative to DIR (each checked with ``subdir``)
SUBDIRS = ("runs", "logs", "tmp", "slurm", "slurm/rows", "slurm/logs", "dask-scratch")
# written by submitit and Slurm themselves (which make links of their own there): only the
# folder is checked
SCHEDULER_OWNED = ("slurm/logs",)
# the files the driver writes by opening them (journal, lock) or by rename (the tables)
FILES = (".lock", "results.jsonl", "results.parquet", "results.csv", "slurm/jobs.json")


class UnsafePath(OSError):
    """A path in the results directory is a link or lies outside it: refused, not followed."""

    def __init__(self, message: str):
        super().__init__(errno.ELOOP, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _link_text(path: Path) -> str:
    try:
        return f"{path} is a symbolic link (to {os.readlink(path)})"
    except OSError:
        return f"{path} is a symbolic link"


def open_nofollow(path: str | Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a link at ``path`` (UnsafePath naming it) instead of
    following it."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{_link_text(Path(path))}: refused, not written through; "
                             "remove the link") from None
        raise


def subdir(root: str | Path, name: str) -> Path:
    """``root/name``, created if missing, checked to be a real directory inside ``root``'s
    real path (UnsafePath if it is a link or resolves elsewhere)."""
    real_root = Path(os.path.realpath(root))
    real_root.mkdir(parents=True, exist_ok=True)
    path = real_root
    for part in Path(name).parts:  # one level at a time: never mkdir through a link
        path = path / part
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        problem = _dir_problem(real_root, path)
        if problem:
            raise UnsafePath(problem)
    return path


def _dir_problem(real_root: Path, path: Path) -> str | None:
    if path.is_symlink():
        return f"{_link_text(path)}: refused, runs would write outside {real_root}"
    real = Path(os.path.realpath(path))
    if real != real_root and real_root not in real.parents:
        return f"{path} resolves to {real}, outside {real_root}: refused"
    if not real.is_dir():
        return f"{path} is not a directory"
    return None


def problems(root: str | Path) -> list[str]:
    """Every link, or file of the wrong kind, where a sweep into ``root`` would write: the
    journal, lock and tables, the sub-directories and the files in them. [] when ``root`` is
    missing (it will be created) or safe."""
    real_root = Path(os.path.realpath(root))
    if not real_root.is_dir():
        return []
    found: list[str] = []
    for name in FILES:
        path = real_root / name
        if path.is_symlink():
            found.append(f"{_link_text(path)}: refused, the driver writes there; remove it")
        elif path.exists() and not stat.S_ISREG(path.stat().st_mode):
            found.append(f"{path} is not a regular file; remove it")
    for name in SUBDIRS:
        path = real_root / name
        if not (path.exists() or path.is_symlink()):
            continue
        problem = _dir_problem(real_root, path)
        if problem:
            found.append(problem)
            continue
        if name in SCHEDULER_OWNED:
            continue
        with os.scandir(path) as entries:
            links = sorted(e.path for e in entries if e.is_symlink())
        found += [f"{_link_text(Path(p))}: refused, a run writes there; remove it"
                  for p in links]
    return found
