"""Where the runs of a sweep execute: ``local`` processes, a ``dask`` cluster, ``slurm`` jobs.

Every executor ends in the same place: each run in a fresh child process with its wall-time
and memory limits (``dsm_bench.harness.executor.LocalProcessExecutor``), on this machine, on a
Dask worker or in a Slurm job, and one complete row per run, whatever happens. This module
holds what they share: the executor settings (``--executor-config`` / ``[executor.NAME]``),
which runs need a GPU, and the resource classes a ``--dry-run`` prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsm_bench.harness.suites import SuiteRun

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["EXECUTORS", "ExecutorError", "ResourceClass", "load_executor_config", "make_executor",
           "needs_gpu", "resource_classes"]

EXECUTORS = ("local", "dask", "slurm")
# settings of the [executor.dask] table (the scheduler address is a command-line setting)
DASK_KEYS = {"gpu_for_auto", "connect_timeout_s"}


class ExecutorError(ValueError):
    """Bad executor input (unreachable scheduler, no sbatch, unknown key): exit 2."""


def needs_gpu(run: SuiteRun, gpu_for_auto: bool = False) -> bool:
    """Whether a run occupies a GPU: its solver's ``device`` is ``cuda``, or ``auto`` where the
    executor settings say ``gpu_for_auto = true`` (``auto`` picks a GPU when it sees one, and
    only the cluster's owner knows whether the nodes have one)."""
    device = run.solver_options.get("device")
    return device == "cuda" or (device == "auto" and gpu_for_auto)


@dataclass(frozen=True)
class ResourceClass:
    """What one run asks of a node; runs with equal classes share a Slurm job array."""

    gpus: int
    cpus: int
    mem_mb: int
    time_min: int

    @property
    def label(self) -> str:
        kind = f"{self.gpus}gpu" if self.gpus else "cpu"
        return f"{kind}-{self.cpus}c-{self.mem_mb}M-{self.time_min}min"


# The job around the run: its Python (the run's parent, ~100 MiB) and its start-up (imports,
# unpickling the task) come on top of the run's own limits.
JOB_MEM_MARGIN_MB = 512
JOB_TIME_MARGIN_S = 120


def resource_class(run: SuiteRun, settings: dict[str, Any]) -> ResourceClass:
    """The resources of ``run`` under the executor ``settings`` (explicit values win)."""
    gpu = needs_gpu(run, bool(settings.get("gpu_for_auto", False)))
    time_min = settings.get("time")
    if time_min is None:
        time_min = math.ceil((run.limits.timeout_s + JOB_TIME_MARGIN_S) / 60)
    return ResourceClass(
        gpus=int(settings.get("gpus_per_node", 1)) if gpu else 0,
        cpus=int(settings.get("cpus_per_task", run.limits.threads or 1)),
        mem_mb=int(settings.get("mem", math.ceil(run.limits.memory_mb) + JOB_MEM_MARGIN_MB)),
        time_min=int(time_min),
    )


def resource_classes(runs: list[SuiteRun], settings: dict[str, Any]
                     ) -> dict[ResourceClass, list[SuiteRun]]:
    """The runs grouped by resource class, in order of first appearance."""
    groups: dict[ResourceClass, list[SuiteRun]] = {}
    for run in runs:
        groups.setdefault(resource_class(run, settings), []).append(run)
    return groups


def plan_text(runs: list[SuiteRun], settings: dict[str, Any], executor: str,
              skipped: int = 0) -> str:
    """The ``--dry-run`` report: job arrays, their resources, and the hours they imply.

    Two figures per array: ``reserved`` is what the scheduler books (time limit x runs, an
    upper bound), ``budget`` what the suite's budgets cap (a run's ``max_seconds`` where it
    sets one, else its wall-time limit, since such a run may use all of it)."""
    groups = resource_classes(runs, settings)
    lines = [f"executor {executor}: {len(runs)} runs to submit ({skipped} already done), "
             f"{len(groups)} job array(s)"]
    tot = {"cpu_res": 0.0, "gpu_res": 0.0, "cpu_bud": 0.0, "gpu_bud": 0.0}
    for cls, members in groups.items():
        reserved_h = len(members) * cls.time_min / 60
        budget_h = sum(r.budget.get("max_seconds", r.limits.timeout_s) for r in members) / 3600
        tot["cpu_res"] += reserved_h * cls.cpus
        tot["cpu_bud"] += budget_h * cls.cpus
        tot["gpu_res"] += reserved_h * cls.gpus
        tot["gpu_bud"] += budget_h * cls.gpus
        solvers = ", ".join(sorted({r.solver for r in members}))
        lines.append(
            f"  array {cls.label}: {len(members)} runs ({solvers}); cpus_per_task={cls.cpus} "
            f"mem={cls.mem_mb}M time={cls.time_min}min gpus_per_node={cls.gpus}; "
            f"{'GPU' if cls.gpus else 'CPU'} hours: budget {budget_h * max(cls.gpus, 1):.1f}, "
            f"reserved {reserved_h * max(cls.gpus, 1):.1f}")
    lines.append(f"total: GPU hours budget {tot['gpu_bud']:.1f} (reserved {tot['gpu_res']:.1f}); "
                 f"CPU hours budget {tot['cpu_bud']:.1f} (reserved {tot['cpu_res']:.1f})")
    return "\n".join(lines)


def load_executor_config(path: str | Path | None, suite_tables: dict[str, Any],
                         executor: str) -> dict[str, Any]:
    """The settings of ``executor``: the suite's ``[executor.NAME]`` table, overridden key by
    key by ``--executor-config FILE.toml`` (an ``[executor.NAME]`` or a ``[NAME]`` table)."""
    settings = dict(suite_tables.get(executor, {}))
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ExecutorError(f"--executor-config {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ExecutorError(f"--executor-config {path}: not UTF-8 text (byte "
                                f"{exc.start}); a TOML file must be UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ExecutorError(f"--executor-config {path}: not valid TOML: {exc}") from None
        tables = data.get("executor", data)
        if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
            raise ExecutorError(f"--executor-config {path}: expected tables such as "
                                f"[executor.{executor}]")
        settings.update(tables.get(executor, {}))
    return settings


def check_keys(settings: dict[str, Any], valid: set[str], where: str) -> None:
    unknown = set(settings) - valid
    if unknown:
        raise ExecutorError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid keys: "
                            f"{', '.join(sorted(valid))}")


def _check_dask_settings(settings: dict[str, Any]) -> None:
    timeout = settings.get("connect_timeout_s", 10.0)
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout) or timeout <= 0):
        raise ExecutorError(f"[executor.dask].connect_timeout_s: {timeout!r} must be a number "
                            "of seconds > 0")
    if not isinstance(settings.get("gpu_for_auto", False), bool):
        raise ExecutorError(f"[executor.dask].gpu_for_auto: {settings['gpu_for_auto']!r}; "
                            "valid values: true, false")


def make_executor(name: str, *, jobs: int = 1, scheduler: str | None = None,
                  settings: dict[str, Any] | None = None, results_dir: Path | None = None):
    """The executor called ``name`` with its settings checked (raises ExecutorError). A Dask
    LocalCluster keeps its scratch in ``results_dir``/dask-scratch."""
    settings = dict(settings or {})
    if name == "local":
        from dsm_bench.harness.executor import LocalProcessExecutor

        check_keys(settings, set(), "[executor.local]")
        if scheduler is not None:
            raise ExecutorError("--scheduler is a setting of --executor dask")
        return LocalProcessExecutor()
    if name == "dask":
        from dsm_bench.harness.executors.dask import DaskExecutor

        check_keys(settings, DASK_KEYS, "[executor.dask]")
        _check_dask_settings(settings)
        return DaskExecutor(scheduler=scheduler, workers=jobs, results_dir=results_dir,
                            **settings)
    if name == "slurm":
        from dsm_bench.harness.executors.slurm import SlurmExecutor

        if scheduler is not None:
            raise ExecutorError("--scheduler is a setting of --executor dask")
        return SlurmExecutor(settings)
    raise ExecutorError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
