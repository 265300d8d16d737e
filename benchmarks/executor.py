"""Executing one run in isolation, with a wall-time and a memory limit.

The sweep runner hands a ``Task`` to an ``Executor`` and gets back a complete results row,
whatever happened: ``ok``, ``failed`` (an exception, a crash, the memory limit) or
``timeout``. ``LocalProcessExecutor`` runs each task in a fresh Python process
(``python -m benchmarks.executor TASK.json``), so a crash, a leak or a CUDA context cannot
touch the sweep or the next run. Other executors (a batch scheduler, a remote GPU) implement
the same one-method protocol.

Limits, enforced by the parent:

* wall time: the child's process group is killed (SIGKILL) after ``timeout_s``;
* memory: the resident set size (RSS) of the child's process tree is polled every
  ``poll_s`` seconds and the group killed above ``memory_mb``. RSS is watched rather than
  ``RLIMIT_AS`` because CUDA and the torch allocator reserve far more address space than they
  touch, so an address-space limit fails healthy GPU runs. A very fast allocation can
  overshoot between polls; the kernel's OOM killer then ends the child (SIGKILL) and the row
  says so.

The child measures its resident high-water mark with ``getrusage`` (``run_one`` records it
as ``peak_rss_mb``; the solver's cost carries ``peak_gpu_mb`` on a GPU) and writes the run's
artifact to ``DIR/runs/<config_hash>.json`` itself, so only the row travels back.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks.suites import Limits, SuiteRun

__all__ = ["Executor", "LocalProcessExecutor", "Task", "write_json_atomic"]

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


class Executor(Protocol):
    """Runs a task to completion and returns its results row (never raises for a bad run)."""

    def execute(self, task: Task) -> dict[str, Any]: ...


class LocalProcessExecutor:
    """One fresh process per run on this machine, with the task's limits enforced."""

    def __init__(self, poll_s: float = 0.05, python: str | None = None):
        self.poll_s = poll_s
        self.python = python or sys.executable

    def execute(self, task: Task) -> dict[str, Any]:
        from benchmarks.single_run import failed_row

        spec, limits = task.spec, task.run.limits
        if task.run.unavailable:
            return failed_row(spec, "failed", task.run.unavailable)
        workdir = Path(task.results_dir)
        (workdir / "runs").mkdir(parents=True, exist_ok=True)
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        log_path = workdir / "logs" / f"{task.config_hash}.log"
        with tempfile.TemporaryDirectory(prefix="dsm-bench-run-") as tmp:
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
            started = time.monotonic()
            with open(log_path, "w") as log:
                output = None if task.verbose else log
                proc = subprocess.Popen(
                    [self.python, "-m", "benchmarks.executor", str(task_path)],
                    stdout=output, stderr=output, env=_child_env(limits),
                    start_new_session=True,  # its own process group: killed as a whole
                )
                verdict, peak_mb = self._watch(proc, limits, started)
            wall_s = time.monotonic() - started
            result = _read_json(result_path)
        if verdict is None and result is not None and "row" in result:
            return result["row"]
        if verdict is not None:
            status, message = verdict
        elif result is not None and "error" in result:
            status, message = "failed", result["error"]
        else:
            status, message = "failed", _death_message(proc.returncode, log_path)
        return failed_row(spec, status, message, wall_s=wall_s,
                          peak_rss_mb=round(peak_mb, 1) if peak_mb else None)

    def _watch(self, proc: subprocess.Popen, limits: Limits,
               started: float) -> tuple[tuple[str, str] | None, float]:
        """Wait for the child; kill it on a limit. (verdict or None, peak tree RSS in MiB)."""
        peak = 0.0
        try:
            while proc.poll() is None:
                rss = _tree_rss_mb(proc.pid)
                peak = max(peak, rss)
                if rss > limits.memory_mb:
                    _kill_group(proc)
                    return ("failed", f"memory limit exceeded: resident {rss:.0f} MiB > "
                                      f"limit {limits.memory_mb:.0f} MiB (killed)"), peak
                if time.monotonic() - started > limits.timeout_s:
                    _kill_group(proc)
                    return ("timeout", f"wall-time limit of {limits.timeout_s:g} s exceeded "
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


def _death_message(returncode: int | None, log_path: Path) -> str:
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (likely the system OOM killer)" if -returncode == signal.SIGKILL else ""
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
    """Write JSON so that a reader never sees a partial file (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, allow_nan=False, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------- child side


def _inject_fault(fault: str | None) -> None:
    """Test-only faults (``_fault`` in a suite group), executed before the run."""
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
        from benchmarks.single_run import RunSpec, _jsonable, run_one

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
        })
        return 1


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
