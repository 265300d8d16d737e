"""Where the studies live: one Optuna journal file in the results directory.

``DIR/tuning/journal.log`` is Optuna's ``JournalStorage`` over a ``JournalFileBackend``: an
append-only log of operations that any number of processes may append to. Appends are
serialised by ``JournalFileSymlinkLock``, a lock taken by creating a symbolic link with
``link``/``symlink``, which is atomic on local disks and on NFS (v2 and later), unlike
``fcntl`` locks (SQLite's), so the trials' own processes (pruning reports), on Dask workers or
Slurm nodes sharing DIR, write to the same file as the driver. A lock left by a process that
died holding it is broken after its grace period (30 s).

The driver of the results directory (``DIR/.lock``, ``dsm_bench.harness.store.driver_lock``)
is the only process that asks for and tells trials; run processes only report intermediate
values and read the pruner's verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

__all__ = ["JOURNAL", "TUNING_DIR", "journal_path", "load_study", "open_storage", "pruner",
           "sampler", "study_name", "trial_handle"]

TUNING_DIR = "tuning"
JOURNAL = "journal.log"


def journal_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / TUNING_DIR / JOURNAL


def open_storage(results_dir: str | Path) -> JournalStorage:
    """The journal storage of ``results_dir`` (created on first use)."""
    path = journal_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileSymlinkLock(str(path))))


def study_name(solver: str, problem: str, d: int) -> str:
    """One study per (solver, problem, d): the name the rows' ``study`` column holds."""
    return f"{solver}/{problem}/d={d}"


def sampler(seed: int, trials: int) -> optuna.samplers.TPESampler:
    """A seeded TPE sampler: the same study, run with one job, draws the same trials. Its
    random start is half the trials (at most 10, Optuna's default), so short studies still
    get model-guided trials."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, trials // 2)))


def pruner(startup_trials: int, warmup_steps: int) -> optuna.pruners.BasePruner:
    """The median pruner: a trial stops when its monitored error at a step is worse than the
    median of the earlier trials' at that step (after ``startup_trials`` finished trials and
    ``warmup_steps`` iterations)."""
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials,
                                       n_warmup_steps=warmup_steps)


def load_study(results_dir: str | Path, name: str, **kwargs: Any) -> optuna.Study:
    """The study ``name`` of ``results_dir``, created (minimising) where it does not exist."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, storage=open_storage(results_dir),
                               direction="minimize", load_if_exists=True, **kwargs)


def trial_handle(study: optuna.Study, number: int) -> optuna.trial.Trial:
    """Trial ``number`` of ``study`` as a live ``optuna.Trial`` (to report to, to set
    attributes on), from any process."""
    storage = study._storage  # noqa: SLF001 - Optuna looks a trial up by number only here
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), number)
    return optuna.trial.Trial(study, trial_id)
