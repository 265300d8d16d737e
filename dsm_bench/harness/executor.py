"""Executing one run in isolation, with a wall-time and a memory limit.

The sweep runner hands a ``Task`` to an ``Executor`` and gets back a complete results row,
whatever happened: ``ok``, ``failed`` (an exception, a crash, the memory limit) or
``timeout``. ``LocalProcessExecutor`` runs each task in a fresh Python process
(``python -m dsm_bench.harness.executor TASK.json``, the task file in a folder of ``DIR/tmp/``
removed with the run), so a crash, a leak or a CUDA context cannot
touch the sweep or the next run. The cluster executors (``dsm_bench.harness.executors``: Dask,
Slurm) run this same executor on the worker or inside the job, so the limits hold there too.

Limits, enforced by the parent:

* wall time: the child's process group is killed (SIGKILL) after ``timeout_s``;
* memory: the resident set size (RSS) of the child's process tree is polled every
  ``poll_s`` seconds and the group killed above ``memory_mb``. RSS is watched rather than
  ``RLIMIT_AS`` because CUDA and the torch allocator reserve far more address space than they
  touch, so an address-space limit fails healthy GPU runs. A very fast allocation can
  overshoot between polls; the kernel's OOM killer then ends the child (SIGKILL). A child
  killed by SIGKILL is blamed on the OOM killer only on memory evidence: the cgroup's
  ``oom_kill`` count rose, or its resident memory had come near the limit; otherwise the row
  says it was killed from outside.

``Executor.stop`` (a sweep's Ctrl-C) kills the runs in flight: their ``execute`` raises
``RunInterrupted`` and they get no row.

The child starts in the results directory, so that a relative path option (a checkpoint,
declared ``RunPath``) lands inside it.

The child measures its own resident high-water mark (``solvers.base.peak_memory``, which
``run_one`` records as ``peak_rss_mb``; the solver's cost carries ``peak_gpu_mb`` on a GPU) and
writes the run's artifact to ``DIR/runs/<config_hash>.json`` itself, so only the row travels
back.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dsm_bench.harness.confined import open_nofollow, subdir
from dsm_bench.harness.store import atomic_write, file_mode
from dsm_bench.harness.suites import Limits, SuiteRun
from dsm_bench.schema import Status

__all__ = ["Executor", "LocalProcessExecutor", "RunInterrupted", "Task", "write_json_atomic"]

# the verdict of a run killed because the sweep is stopping (no row: it runs again)
STOPPED = ("interrupted", "the sweep was stopped")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20


@dataclass
class Task:
    """One run to execute: the suite entry and where its outputs go."""

    run: SuiteRun
    results_dir: Path
    verbose: bool = False

    @property
    def spec(self):
        return self.run.to_spec()

    @property
    def config_hash(self) -> str:
        return self.spec.config_hash()

    @property
    def artifact_relpath(self) -> str:
        return f"runs/{self.config_hash}.json"


class RunInterrupted(Exception):
    """The sweep was stopped (Ctrl-C, SIGTERM) before or while this run ran: it has no row,
    and the same command runs it again."""


class Executor:
    """Runs a task to completion and returns its results row (never raises for a bad run,
    only ``RunInterrupted`` once ``stop`` was called).

    The sweep calls ``start`` before the first run and ``close`` at the end; ``stop`` (from
    another thread, on a signal) must make every ``execute`` in flight return promptly by
    raising ``RunInterrupted``, its run stopped. An executor that submits the whole sweep at
    once (Slurm job arrays) sets ``batches`` and implements ``execute_all``; one that leaves
    rows on disk for ``--collect`` implements ``collect``. The defaults do nothing."""

    name = "executor"
    batches = False  # True: ``execute_all(tasks, record, store)`` instead of ``execute``
    slots = 1  # runs it accepts at once, whatever --jobs says (Dask queues them itself)

    def __init__(self) -> None:
        self.stopping = threading.Event()

    def start(self) -> Executor:
        return self

    def execute(self, task: Task) -> dict[str, Any]:
        raise NotImplementedError

    def execute_all(self, tasks: list[Task], record: Callable[[SuiteRun, dict[str, Any]], None],
                    store: Any) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Start nothing more and stop the runs in flight (their ``execute`` raises
        ``RunInterrupted``)."""
        self.stopping.set()

    def close(self) -> None:
        return None

    def collect(self, store: Any) -> list[dict[str, Any]]:
        """Rows that finished jobs left in the results directory and the journal lacks."""
        return []


class LocalProcessExecutor(Executor):
    """One fresh process per run on this machine, with the task's limits enforced."""

    name = "local"

    def __init__(self, poll_s: float = 0.05, python: str | None = None):
        super().__init__()
        self.poll_s = poll_s
        self.python = python or sys.executable

    def execute(self, task: Task) -> dict[str, Any]:
        row = self._execute(task)
        row["executor"] = self.name
        if not row.get("host"):  # rows written here (limits, crashes) lack the child's
            row["host"] = socket.gethostname()
        return row

    def _execute(self, task: Task) -> dict[str, Any]:
        from dsm_bench.harness.single_run import failed_row

        spec, limits = task.spec, task.run.limits
        if task.run.unavailable:
            return failed_row(spec, Status.INFEASIBLE, task.run.unavailable)
        if self.stopping.is_set():
            raise RunInterrupted(task.run.label)
        # the run's outputs and its scratch go under DIR, never through a link planted there
        workdir = Path(os.path.realpath(task.results_dir))
        subdir(workdir, "runs")
        log_path = subdir(workdir, "logs") / f"{task.config_hash}.log"
        with tempfile.TemporaryDirectory(prefix="run-", dir=subdir(workdir, "tmp")) as tmp:
            task_path, result_path = Path(tmp) / "task.json", Path(tmp) / "result.json"
            task_path.write_text(json.dumps({
                "spec": asdict(spec),
                "fault": task.run.fault,
                "threads": limits.threads,
                "progress": task.verbose,
                "artifact_path": str(workdir / task.artifact_relpath),
                "artifact_relpath": task.artifact_relpath,
                "result_path": str(result_path),
                "parent_pid": os.getpid(),
            }, default=str))
            started, oom_kills = time.monotonic(), _oom_kills()
            log_fd = open_nofollow(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode())
            with os.fdopen(log_fd, "w") as log:
                output = None if task.verbose else log
                proc = subprocess.Popen(
                    [self.python, "-m", "dsm_bench.harness.executor", str(task_path)],
                    stdout=output, stderr=output, env=_child_env(limits), cwd=workdir,
                    start_new_session=True,  # its own process group: killed as a whole
                )
                verdict, peak_mb = self._watch(proc, limits, started)
            wall_s = time.monotonic() - started
            result = _read_json(result_path)
        if verdict == STOPPED:
            raise RunInterrupted(task.run.label)
        if verdict is None and result is not None and "row" in result:
            return result["row"]
        if verdict is not None:
            status, message = verdict
        elif result is not None and "error" in result:
            status, message = Status.FAILED, result["error"]
        else:
            oom = _oom_kills()
            status, message = Status.FAILED, _death_message(
                proc.returncode, log_path, peak_mb, limits.memory_mb,
                oom_killed=None if oom is None or oom_kills is None else oom > oom_kills)
        stop_reason = (result or {}).get("stop_reason")
        extra = {**((result or {}).get("cost") or {}), "wall_s": wall_s}
        if peak_mb:
            extra["peak_rss_mb"] = round(max(peak_mb, extra.get("peak_rss_mb") or 0.0), 1)
        if stop_reason:
            extra["stop_reason"] = stop_reason
        return failed_row(spec, status, message, **extra)

    def _watch(self, proc: subprocess.Popen, limits: Limits,
               started: float) -> tuple[tuple[str, str] | None, float]:
        """Wait for the child; kill it on a limit. (verdict or None, peak tree RSS in MiB)."""
        peak = 0.0
        try:
            while proc.poll() is None:
                if self.stopping.is_set():
                    _kill_group(proc)
                    return STOPPED, peak
                rss = _tree_rss_mb(proc.pid)
                peak = max(peak, rss)
                if rss > limits.memory_mb:
                    _kill_group(proc)
                    return (Status.FAILED, f"memory limit exceeded: resident {rss:.0f} MiB > "
                                      f"limit {limits.memory_mb:.0f} MiB (killed)"), peak
                if time.monotonic() - started > limits.timeout_s:
                    _kill_group(proc)
                    return (Status.TIMEOUT, f"wall-time limit of {limits.timeout_s:g} s exceeded "
                                       "(killed)"), peak
                time.sleep(self.poll_s)
        except BaseException:
            # the sweep itself is being stopped (Ctrl-C): take the run down with it
            _kill_group(proc)
            raise
        return None, peak


def _child_env(limits: Limits) -> dict[str, str]:
    env = dict(os.environ)
    if limits.threads is not None:
        # read by OpenMP / MKL / OpenBLAS and by torch (intra-op threads) at start-up
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(limits.threads)
    env.setdefault("DDE_BACKEND", "pytorch")  # DeepXDE must not pick (and write) a backend
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel SIGKILL this run when the runner dies, so a killed sweep leaves
    no orphan run behind (set in the child: ``preexec_fn`` is unsafe with the runner's
    threads)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the runner died before the request took effect
        os._exit(1)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, from /proc (0 where unavailable)."""
    total, stack, seen = 0.0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE_MB
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


# a child killed with a resident set this close to its limit may have been the OOM killer's
# victim between two polls; well below it, memory is no explanation
NEAR_LIMIT = 0.8


def _oom_kills() -> int | None:
    """The kernel's OOM-kill count of this process's cgroup (cgroup v2), None if unknown."""
    try:
        with open("/sys/fs/cgroup/memory.events") as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return None


def _death_message(returncode: int | None, log_path: Path, peak_mb: float = 0.0,
                   limit_mb: float | None = None, oom_killed: bool | None = None) -> str:
    """Why a child ended without a result. A SIGKILL is put down to the OOM killer only on
    memory evidence (``oom_killed``: the cgroup's oom_kill count rose; or a resident set
    near ``limit_mb``)."""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        hint = ""
        if -returncode == signal.SIGKILL:
            if oom_killed:
                hint = " by the kernel's OOM killer (the cgroup's oom_kill count rose)"
            elif limit_mb and peak_mb >= NEAR_LIMIT * limit_mb:
                hint = (f" (likely the system OOM killer: resident {peak_mb:.0f} MiB, near the "
                        f"limit of {limit_mb:.0f} MiB)")
            else:
                hint = (f" from outside the harness (no sign of a memory kill: resident "
                        f"{peak_mb:.0f} MiB at most"
                        + (f", limit {limit_mb:.0f} MiB" if limit_mb else "") + ")")
        head = f"run process killed by {name}{hint}"
    else:
        head = f"run process exited with code {returncode} without a result"
    tail = _log_tail(log_path)
    return f"{head}; log tail: {tail}" if tail else head


def _log_tail(path: Path, n_chars: int = 600) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-n_chars:]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that a reader never sees a partial file (temp file + fsync + rename,
    mode as ``open()`` would give it: ``dsm_bench.harness.store.atomic_write``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, allow_nan=False, default=str)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


# ---------------------------------------------------------------------------- child side


def _inject_fault(fault: str | None) -> None:
    """Test-only faults (``_fault`` in a suite group, off unless a suite sets it; see
    ``dsm_bench.harness.suites``), executed by the run's process before the run: ``raise``,
    ``oom``, ``hang``, ``sleep:SECONDS``, ``enospc`` (the run fails as if its output could
    not be written: a full disk), ``sigkill`` (the process kills itself, as an outside kill
    would)."""
    if fault is None:
        return
    if fault == "raise":
        raise RuntimeError("injected fault: raise")
    if fault == "oom":
        # touch memory in 50 MiB steps until the executor's memory limit kills this process;
        # the pause lets the parent's RSS poll see it before the machine runs short
        hoard = []
        while True:
            block = bytearray(50 * 2**20)
            block[:: 4096] = b"x" * len(block[:: 4096])  # fault every page in
            hoard.append(block)
            time.sleep(0.02)
    if fault == "hang":
        while True:
            time.sleep(3600)
    if fault.startswith("sleep:"):
        time.sleep(float(fault.split(":", 1)[1]))
    if fault == "enospc":
        raise OSError(28, "No space left on device (injected)")
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)


def _cuda_peak_mb() -> float | None:
    """Peak CUDA memory allocated by torch in this process (None: no GPU was used)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _child_main(task_path: str) -> int:
    task = json.loads(Path(task_path).read_text())
    result_path = Path(task["result_path"])
    _die_with_parent(int(task["parent_pid"]))
    try:
        _inject_fault(task["fault"])
        from dsm_bench.harness.single_run import RunSpec, _jsonable, run_one

        result = run_one(RunSpec(**task["spec"]), progress=bool(task["progress"]))
        row = dict(result.row)
        row["artifact"] = task["artifact_relpath"]
        if row.get("peak_gpu_mb") is None:
            row["peak_gpu_mb"] = _cuda_peak_mb()
        artifact = dict(result.artifact)
        artifact["row"] = _jsonable(row)
        write_json_atomic(Path(task["artifact_path"]), _jsonable(artifact))
        write_json_atomic(result_path, {"row": _jsonable(row)})
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a row
        traceback.print_exc()
        write_json_atomic(result_path, {
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            # a training that diverged says so (solvers.training.TrainingDiverged)
            "stop_reason": getattr(exc, "stop_reason", None),
            # a trained solution whose evaluation failed: its iterations, seconds, memory
            "cost": getattr(exc, "training_cost", None),
        })
        return 1


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
