"""Runs on a Dask cluster (the ``distributed`` package): ``--executor dask [--scheduler ADDR]``.

Each run is one Dask task, ``run_on_worker``, which runs it exactly as on this machine: in a
fresh child process of the worker with the run's wall-time and memory limits
(``LocalProcessExecutor``). A crash, an out-of-memory or a hang therefore costs one row, not a
worker. A run that needs a GPU asks for the worker resource ``GPU=1``, so a worker started
with ``--resources GPU=1`` serves one GPU run at a time.

A worker that dies mid-run (node lost, worker killed) takes its child run with it (the child
dies with its parent); Dask's scheduler then *retries* the task on another worker, up to its
``distributed.scheduler.allowed-failures`` (3 by default), after which the run becomes a
``failed`` row naming ``KilledWorker``. Either way the run has exactly one row.

Without ``--scheduler`` a ``LocalCluster`` of ``--jobs`` worker processes (one thread each)
starts and stops with the sweep, its scratch in ``DIR/dask-scratch``. Stopping the sweep
(Ctrl-C) cancels the tasks and has each worker kill this sweep's runs (``_stop_sweep``).
Rows travel back through the scheduler; the driver writes
the journal and the table, so DIR need not be shared with the workers, except that each run
writes its artifact to ``DIR/runs/`` from the worker: use a shared DIR on a multi-node cluster.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from dsm_bench.harness.confined import subdir
from dsm_bench.harness.executor import Executor, LocalProcessExecutor, RunInterrupted, Task
from dsm_bench.harness.executors import ExecutorError, needs_gpu
from dsm_bench.schema import Status

__all__ = ["DaskExecutor", "run_on_worker"]


# per sweep, set on every worker when the sweep stops (``_stop_sweep``, through
# ``Client.run``, which runs beside the busy task threads): the runs there are killed at once
_STOPS: dict[str, threading.Event] = {}


def _stop_sweep(sweep: str) -> None:
    _STOPS.setdefault(sweep, threading.Event()).set()


def run_on_worker(task: Task, sweep: str = "") -> dict[str, Any]:
    """The Dask task: one run in a fresh child process of this worker, with its limits."""
    executor = LocalProcessExecutor()
    executor.stopping = _STOPS.setdefault(sweep, threading.Event())
    row = executor.execute(task)
    if not row.get("host"):  # a row the run's parent wrote (killed, failed to start)
        row["host"] = socket.gethostname()
    return row


class DaskExecutor(Executor):
    """Submits each run as a Dask task and waits for its row (one thread of the sweep each)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 1,
                 gpu_for_auto: bool = False, connect_timeout_s: float = 10.0,
                 results_dir: Path | None = None):
        super().__init__()
        self.results_dir = results_dir  # a LocalCluster keeps its scratch in DIR/dask-scratch
        self._futures: set[Any] = set()
        self._sweep = uuid.uuid4().hex  # names this sweep's stop on the workers
        self.scheduler = scheduler
        self.workers = workers
        self.gpu_for_auto = bool(gpu_for_auto)
        self.connect_timeout_s = float(connect_timeout_s)
        self.client = None
        self._cluster = None
        self._gpu_workers = False
        self._lock = threading.Lock()

    @property
    def slots(self) -> int:
        """Runs handed to the scheduler at once: all of them (Dask queues and places them)."""
        return 1_000

    def start(self) -> DaskExecutor:
        """Connect (or start the LocalCluster); an unreachable scheduler is ExecutorError."""
        if self.client is not None:
            return self
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ExecutorError(f"--executor dask needs the distributed package "
                                f"(pip install 'dsm-bench[cluster]'): {exc}") from None
        if self.scheduler is None:
            gpus = _local_gpu_count()
            try:
                scratch = None if self.results_dir is None else subdir(self.results_dir,
                                                                       "dask-scratch")
            except OSError as exc:
                raise ExecutorError(f"cannot create the Dask scratch folder in "
                                    f"{self.results_dir}: {exc}") from None
            # dask's own temporary folder too (lock files), not only the workers' scratch
            settings = {} if scratch is None else {"temporary-directory": str(scratch)}
            with dask.config.set(settings):
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, resources={"GPU": 1} if gpus else None,
                    local_directory=None if scratch is None else str(scratch),
                )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(self.scheduler, timeout=f"{self.connect_timeout_s}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(f"cannot reach the Dask scheduler {self.scheduler}: "
                                    f"{type(exc).__name__}: {exc}; start one with "
                                    "`dask scheduler` and pass its tcp://HOST:PORT") from None
        workers = self.client.scheduler_info().get("workers", {})
        self._gpu_workers = any(w.get("resources", {}).get("GPU") for w in workers.values())
        return self

    def execute(self, task: Task) -> dict[str, Any]:
        from dsm_bench.harness.single_run import failed_row

        self.start()
        gpu = needs_gpu(task.run, self.gpu_for_auto)
        if gpu and not self._gpu_workers:
            row = failed_row(task.spec, Status.FAILED,
                             "the run needs a GPU but no Dask worker offers the resource GPU "
                             "(start GPU workers with `dask worker ADDR --resources GPU=1`)")
            return self._stamp(row, None)
        key = f"dsm-bench-{task.config_hash}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            if self.stopping.is_set():
                raise RunInterrupted(task.run.label)
            future = self.client.submit(run_on_worker, task, self._sweep, key=key, pure=False,
                                        resources={"GPU": 1} if gpu else None)
            self._futures.add(future)
        try:
            row = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost task (KilledWorker, ...) is a row
            if self.stopping.is_set():  # cancelled by stop(): no row, it runs again
                raise RunInterrupted(task.run.label) from None
            row = failed_row(task.spec, Status.FAILED, f"dask task {key} lost: "
                                                  f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._futures.discard(future)
        return self._stamp(row, key)

    def stop(self) -> None:
        """Cancel every queued task and kill the runs in flight on the workers (theirs or a
        cluster of your own): their tasks end without a row."""
        with self._lock:
            super().stop()
            futures = list(self._futures)
        if futures and self.client is not None:
            with contextlib.suppress(Exception):  # the scheduler may be gone already
                self.client.cancel(futures, force=True)
                self.client.run(_stop_sweep, self._sweep)

    def _stamp(self, row: dict[str, Any], key: str | None) -> dict[str, Any]:
        row["executor"] = self.name
        row["job_id"] = key
        return row

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client, self._cluster = None, None


def _local_gpu_count() -> int:
    """GPUs of this machine, without initialising CUDA in the driver (0 without torch)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()
