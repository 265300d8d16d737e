"""Runs as Slurm jobs through ``submitit``: ``--executor slurm``.

Settings come from the suite's ``[executor.slurm]`` table, overridden by ``--executor-config
FILE.toml`` (keys: ``SLURM_KEYS``). The runs are grouped by what they ask of a node (GPUs,
CPUs, memory, time: ``ResourceClass``) and each group is submitted as one job array. Each job
runs its run exactly as on this machine, in a fresh child process with the run's limits
(``LocalProcessExecutor``), and writes its row to ``DIR/slurm/rows/<config_hash>.json`` and its
artifact to ``DIR/runs/``: DIR must be on a file system the nodes share with the driver.

The driver records every job id in ``DIR/slurm/jobs.json`` before it waits, then appends the
rows to the journal as their files appear. A job that leaves the queue without a row (killed
at its time limit, out of memory, node failure) becomes a ``timeout`` or ``failed`` row with
Slurm's reason (``scontrol show job``) and its log's tail. Killing the driver loses nothing:
the same command again submits no run whose job finished, is queued or is running; it waits
for those (a job is judged lost only when out of the queue with no row a poll later) and
collects the rows that arrived meanwhile. ``--collect`` takes every row file the journal
lacks, also one that came after its job was recorded as lost. The queue is read with ``squeue``, not
``sacct``, so a cluster without accounting (slurmdbd) works.

``cluster = "local"`` runs the same code path on submitit's ``LocalExecutor`` (jobs are
processes of this machine), for a machine without Slurm.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dsm_bench.harness.confined import subdir
from dsm_bench.harness.executor import Executor, LocalProcessExecutor, Task, write_json_atomic
from dsm_bench.harness.executors import ExecutorError, check_keys, resource_class
from dsm_bench.schema import Status

__all__ = ["SLURM_KEYS", "SlurmExecutor", "run_in_job"]

SLURM_KEYS = {
    "partition", "account", "qos",
    "time",               # minutes or "[D-]HH:MM:SS"; default: the run's timeout_s + a margin
    "mem",                # MB or "16G"; default: the run's memory_mb + a margin
    "cpus_per_task",      # default: the run's threads
    "gpus_per_node",      # for GPU runs (default 1)
    "array_parallelism",  # at most this many jobs of an array at once
    "setup",              # shell lines run before the job, e.g. ["module load cuda"]
    "gpu_for_auto",       # device = "auto" runs count as GPU runs
    "cluster",            # "slurm" (default) or "local": submitit's LocalExecutor
    "poll_s",             # how often the driver looks for finished rows
}
CLUSTERS = ("slurm", "local")


def run_in_job(task: Task, rows_dir: str, executor: str) -> dict[str, Any]:
    """The job: one run in a fresh child process with its limits; its row goes to a file."""
    import submitit

    row = LocalProcessExecutor().execute(task)
    row.update(executor=executor, job_id=submitit.JobEnvironment().job_id, suite=task.run.suite)
    if not row.get("host"):
        row["host"] = socket.gethostname()
    write_json_atomic(Path(rows_dir) / f"{task.config_hash}.json", row)
    return row


class SlurmExecutor(Executor):
    """Submits a sweep's runs as job arrays and collects their rows from the shared DIR."""

    name = "slurm"
    batches = True

    def __init__(self, settings: dict[str, Any]):
        super().__init__()
        check_keys(settings, SLURM_KEYS, "[executor.slurm]")
        self.settings = _normalised(settings)
        self.cluster = self.settings.pop("cluster", "slurm")
        self.poll_s = float(self.settings.pop("poll_s", 1.0))
        self.label = "slurm" if self.cluster == "slurm" else "submitit-local"
        self._jobs: dict[str, Any] = {}  # submitit jobs of this session, by job id

    def start(self) -> SlurmExecutor:
        """Check that jobs can be submitted from here (ExecutorError if not)."""
        if self.cluster == "slurm":
            missing = [c for c in ("sbatch", "squeue", "scontrol") if shutil.which(c) is None]
            if missing:
                raise ExecutorError(
                    f"--executor slurm: {', '.join(missing)} not found on PATH; run on a Slurm "
                    "submit host, or set cluster = \"local\" in [executor.slurm] to run the "
                    f"jobs on this machine (valid clusters: {', '.join(CLUSTERS)})")
        try:
            import submitit  # noqa: F401
        except ImportError as exc:
            raise ExecutorError(f"--executor slurm needs submitit "
                                f"(pip install 'dsm-bench[cluster]'): {exc}") from None
        return self

    def stop(self) -> None:
        """Stop waiting: queued and running jobs go on, and the same command collects them."""
        super().stop()

    # ------------------------------------------------------------------ the sweep

    def execute_all(self, tasks: list[Task], record: Callable[[Any, dict[str, Any]], None],
                    store: Any) -> None:
        """Submit what is neither finished nor queued, then record every task's row. A task
        whose job was submitted by an earlier driver is waited for, whatever the queue says
        at first: it is judged lost only when it is out of the queue and has left no row a
        poll later (``_collect_loop``)."""
        if not tasks:
            return
        folder = subdir(tasks[0].results_dir, "slurm")
        rows_dir, jobs_path = subdir(folder, "rows"), folder / "jobs.json"
        recorded = _read_json(jobs_path) or {}
        in_journal = {r.get("job_id") for r in store.rows() if r.get("job_id")}
        waiting: dict[str, tuple[Task, str]] = {}
        submit: list[Task] = []
        for task in tasks:
            rec = recorded.get(task.config_hash)
            if rec is None or rec["job_id"] in in_journal:
                submit.append(task)  # never submitted, or its row is in (and is re-run)
            else:
                waiting[task.config_hash] = (task, rec["job_id"])
        arrays: dict[Any, list[Task]] = {}
        for task in submit:
            arrays.setdefault(resource_class(task.run, self.settings), []).append(task)
        for cls, members in arrays.items():
            if self.stopping.is_set():
                break
            jobs = self._submit(cls, members, folder, rows_dir)
            for task, job in zip(members, jobs, strict=True):
                waiting[task.config_hash] = (task, job.job_id)
                recorded[task.config_hash] = {"job_id": job.job_id, "cluster": self.cluster,
                                              "array": cls.label}
            write_json_atomic(jobs_path, recorded)  # before waiting: a re-run must see them
        self._collect_loop(waiting, rows_dir, folder, record)

    def _submit(self, cls, tasks: list[Task], folder: Path, rows_dir: Path) -> list[Any]:
        import submitit

        executor = submitit.AutoExecutor(folder=folder / "logs", cluster=self.cluster)
        params: dict[str, Any] = {
            "name": f"dsm-bench-{tasks[0].run.suite}-{cls.label}",
            "timeout_min": cls.time_min, "cpus_per_task": cls.cpus,
            "slurm_mem": f"{cls.mem_mb}M",
        }
        if cls.gpus:
            params["gpus_per_node"] = cls.gpus
        for key in ("partition", "account", "qos", "array_parallelism", "setup"):
            if key in self.settings:
                params[f"slurm_{key}"] = self.settings[key]
        executor.update_parameters(**params)
        pickles = set((folder / "logs").glob("*.pkl"))
        try:
            # submitit prints sbatch's complaint itself: it goes into the one error line
            with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                jobs = [executor.submit(run_in_job, task, str(rows_dir), self.label)
                        for task in tasks]
        except (submitit.core.utils.FailedJobError, OSError) as exc:
            for path in set((folder / "logs").glob("*.pkl")) - pickles:
                path.unlink(missing_ok=True)  # the calls of jobs that do not exist
            said = [line.removeprefix("sbatch: error: ").strip()
                    for line in str(exc).splitlines() if line.strip()]
            raise ExecutorError(f"the scheduler refused array {cls.label}: "
                                f"{'; '.join(said) or type(exc).__name__}") from None
        for job in jobs:
            self._jobs[job.job_id] = job
        return jobs

    def _collect_loop(self, waiting: dict[str, tuple[Task, str]], rows_dir: Path,
                      folder: Path, record: Callable[[Any, dict[str, Any]], None]) -> None:
        gone_once: set[str] = set()
        while waiting and not self.stopping.is_set():
            for config_hash, (task, job_id) in list(waiting.items()):
                row = _row_file(rows_dir, task, job_id)
                if row is not None:
                    record(task.run, row)
                    del waiting[config_hash]
            if not waiting:
                break
            self.stopping.wait(self.poll_s)  # a row written just now needs no queue query
            alive = self._alive({job_id for _, job_id in waiting.values()})
            for config_hash, (task, job_id) in list(waiting.items()):
                if job_id in alive:
                    continue
                # a job leaves the queue just after writing its row: look once more, a poll
                # later, before calling it lost (shared file systems lag)
                if job_id in gone_once and _row_file(rows_dir, task, job_id) is None:
                    record(task.run, self._lost_row(task, job_id, folder))
                    del waiting[config_hash]
                gone_once.add(job_id)

    def _alive(self, job_ids: set[str]) -> set[str]:
        """Which of ``job_ids`` are queued or running."""
        if not job_ids:
            return set()
        if self.cluster == "slurm":
            out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True,
                                 text=True, check=False)
            if out.returncode != 0:  # the controller is unreachable: assume nothing ended
                return set(job_ids)
            return job_ids & set(out.stdout.split())
        return {j for j in job_ids if not self._jobs[j].done()} if all(
            j in self._jobs for j in job_ids) else {j for j in job_ids if _local_job_alive(j)}

    def _lost_row(self, task: Task, job_id: str, folder: Path) -> dict[str, Any]:
        """The row of a job that ended without writing one, with the scheduler's reason."""
        from dsm_bench.harness.single_run import failed_row

        state = self._job_state(job_id)
        tail = _log_tail(folder / "logs", job_id)
        text = f"{state} {tail}".upper()
        status = Status.TIMEOUT if "TIMEOUT" in text or "TIME LIMIT" in text else Status.FAILED
        reason = state or "no state: the scheduler no longer knows the job"
        message = f"{self.label} job {job_id} ended without a row ({reason})"
        if tail:
            message += f"; log tail: {tail}"
        row = failed_row(task.spec, status, message)
        row.update(executor=self.label, job_id=job_id, suite=task.run.suite)
        return row

    def _job_state(self, job_id: str) -> str:
        if self.cluster == "slurm":
            out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                                 text=True, check=False)
            fields = dict(re.findall(r"(JobState|Reason|ExitCode)=(\S+)", out.stdout))
            return " ".join(f"{k}={v}" for k, v in fields.items())
        job = self._jobs.get(job_id)
        return f"state={job.state}" if job is not None else ""

    # ------------------------------------------------------------------ --collect

    def collect(self, store: Any) -> list[dict[str, Any]]:
        """Every row in ``DIR/slurm/rows/`` that the journal lacks (runs nothing): also the
        row of a job an earlier driver gave up on, whose lost-job row is in the journal."""
        rows_dir = store.dir / "slurm" / "rows"
        if not rows_dir.is_dir():
            return []
        in_journal = {_row_key(r) for r in store.rows()}
        rows = []
        for path in sorted(subdir(store.dir, "slurm/rows").glob("*.json")):
            row = _read_json(path)
            if isinstance(row, dict) and row.get("config_hash") and _row_key(row) not in in_journal:
                rows.append(row)
        return rows


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What tells one job's row from another's, and from the row written when it was lost."""
    return tuple(row.get(k) for k in ("config_hash", "job_id", "status", "finished_at"))


def _local_job_alive(job_id: str) -> bool:
    """A submitit-local job of an earlier driver: its id is its process id."""
    try:
        cmdline = Path(f"/proc/{int(job_id)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"submitit" in cmdline


def _row_file(rows_dir: Path, task: Task, job_id: str) -> dict[str, Any] | None:
    row = _read_json(rows_dir / f"{task.config_hash}.json")
    return row if row is not None and row.get("job_id") == job_id else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _log_tail(logs: Path, job_id: str, n_chars: int = 400) -> str:
    text = ""
    for path in sorted(logs.glob(f"{job_id}_*_log.err")):
        with contextlib.suppress(OSError):
            text += path.read_text(errors="replace")
    return " ".join(text.strip()[-n_chars:].split())


def _normalised(settings: dict[str, Any]) -> dict[str, Any]:
    """Check the values of an [executor.slurm] table; time in minutes, mem in MB."""
    out = dict(settings)
    where = "[executor.slurm]"
    if "time" in out:
        out["time"] = _minutes(out["time"], where)
    if "mem" in out:
        out["mem"] = _megabytes(out["mem"], where)
    for key in ("cpus_per_task", "gpus_per_node", "array_parallelism"):
        if key in out and (isinstance(out[key], bool) or not isinstance(out[key], int)
                           or out[key] < (0 if key == "gpus_per_node" else 1)):
            raise ExecutorError(f"{where}.{key}: {out[key]!r} must be a positive integer")
    for key in ("partition", "account", "qos"):
        if key in out and not isinstance(out[key], str):
            raise ExecutorError(f"{where}.{key}: {out[key]!r} must be a string")
    if "setup" in out:
        setup = [out["setup"]] if isinstance(out["setup"], str) else out["setup"]
        if not isinstance(setup, list) or not all(isinstance(s, str) for s in setup):
            raise ExecutorError(f"{where}.setup: must be a list of shell lines")
        out["setup"] = setup
    if out.get("cluster", "slurm") not in CLUSTERS:
        raise ExecutorError(f"{where}.cluster: {out['cluster']!r}; valid clusters: "
                            f"{', '.join(CLUSTERS)}")
    if "gpu_for_auto" in out and not isinstance(out["gpu_for_auto"], bool):
        raise ExecutorError(f"{where}.gpu_for_auto: must be true or false")
    if "poll_s" in out and not (isinstance(out["poll_s"], (int, float)) and out["poll_s"] > 0):
        raise ExecutorError(f"{where}.poll_s: must be a number > 0")
    return out


def _minutes(value: Any, where: str) -> int:
    """Slurm's time formats: minutes, "MM", "HH:MM:SS", "D-HH:MM[:SS]" -> whole minutes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
    if not match or isinstance(value, bool):
        raise ExecutorError(f"{where}.time: {value!r}; expected minutes or \"[D-]HH:MM:SS\"")
    days, a, b, c = (int(x) if x else 0 for x in match.groups())
    if match.group(3) is None and match.group(1) is None:
        seconds = a * 60  # "MM"
    elif match.group(4) is None and match.group(1) is None:
        seconds = a * 60 + b  # "MM:SS"
    else:
        seconds = days * 86400 + a * 3600 + b * 60 + c
    if seconds <= 0:  # Slurm reads 0 as no limit: a run's limit is never that
        raise ExecutorError(f"{where}.time: {value!r} must be longer than 0; expected minutes "
                            "or \"[D-]HH:MM:SS\"")
    return -(-seconds // 60)


def _megabytes(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MGT]?)B?", str(value).strip().upper())
    if not match or isinstance(value, bool):
        raise ExecutorError(f"{where}.mem: {value!r}; expected megabytes or \"16G\"")
    scale = {"": 1, "M": 1, "G": 1024, "T": 1024**2}[match.group(2)]
    megabytes = int(float(match.group(1)) * scale)
    if megabytes < 1:  # Slurm reads mem=0 as the whole node
        raise ExecutorError(f"{where}.mem: {value!r} must be at least 1 MB; expected "
                            "megabytes or \"16G\"")
    return megabytes
