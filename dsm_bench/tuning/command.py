"""``dsm-bench tune --suite FILE --trials N --out DIR``: the command line of the tuning.

Bad input (``--trials 0``, an unknown metric, a suite that names an unknown solver or gives
the solvers of a problem different training seconds) exits 2 with one line naming the valid
choices, before anything is written. Then: the studies (``dsm_bench.tuning.driver``), the
tuned suite and its evaluation on the evaluation seeds (``dsm_bench.tuning.tuned``, unless
``--no-evaluate``). The same command resumes a killed or interrupted tuning.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from dsm_bench.harness.executors import EXECUTORS
from dsm_bench.harness.settings import UsageError
from dsm_bench.tuning.objective import DEFAULT_OBJECTIVE, objective_metrics

__all__ = ["configure_parser", "main"]


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``dsm-bench tune``."""
    p.add_argument("--suite", required=True,
                   help="suite name (benchmarks/suites/NAME.toml) or path to a .toml file: one "
                        "study per solver, problem and d of it")
    p.add_argument("--trials", required=True, type=int, help="trials of every study (>= 1)")
    p.add_argument("--out", required=True, type=Path,
                   help="results directory: the trials' rows, tuning/journal.log, tuned.toml")
    p.add_argument("--seconds", type=float, default=None,
                   help="training seconds of every trial and evaluation run (default: the "
                        "suite's max_seconds, which must agree between the solvers of a problem)")
    p.add_argument("--metric", default=DEFAULT_OBJECTIVE,
                   help=f"the objective, minimised (default {DEFAULT_OBJECTIVE}; one of "
                        f"{', '.join(objective_metrics())})")
    p.add_argument("--prune-every", type=int, default=50, metavar="ITERS",
                   help="report the training monitor to the median pruner every ITERS "
                        "iterations (default 50; 0: no pruning)")
    p.add_argument("--prune-startup", type=int, default=5, metavar="K",
                   help="finished trials before the pruner may stop one (default 5)")
    p.add_argument("--seed", type=int, default=0, help="the TPE sampler's seed (default 0)")
    p.add_argument("--no-evaluate", action="store_true",
                   help="do not run the tuned suite on the evaluation seeds at the end")
    p.add_argument("--jobs", type=int, default=1, help="trials in parallel (default 1)")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUE[,VALUE...]",
                   help="tune only the suite's runs that match (as for run)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where trials run: local processes, a Dask cluster, Slurm jobs")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="--executor dask: a running cluster's scheduler (default: a "
                        "LocalCluster of --jobs workers)")
    p.add_argument("--executor-config", type=Path, metavar="FILE.toml",
                   help="executor settings, e.g. an [executor.slurm] table")
    p.add_argument("-v", "--verbose", action="store_true", help="show each run's output")


def _check_arguments(args: argparse.Namespace) -> None:
    if args.trials < 1:
        raise UsageError(f"--trials must be an integer >= 1 (got {args.trials})")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be an integer >= 1 (got {args.jobs})")
    if args.metric not in objective_metrics():
        raise UsageError(f"unknown --metric {args.metric!r}; valid metrics: "
                         f"{', '.join(objective_metrics())}")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise UsageError(f"--seconds must be a number > 0 (got {args.seconds})")
    for flag, value in (("--prune-every", args.prune_every), ("--prune-startup",
                                                             args.prune_startup)):
        if value < 0:
            raise UsageError(f"{flag} must be an integer >= 0 (got {value})")


def main(args: argparse.Namespace) -> int:
    """0 when every study has its trials (and the evaluation ran ok), 1 when an evaluation
    run failed or an I/O error stopped the tuning, 2 on bad input, 128 + N on signal N."""
    from dsm_bench.harness.executors import ExecutorError, load_executor_config, make_executor
    from dsm_bench.harness.runner import ensure_results_dir, results_dir_problems, run_suite
    from dsm_bench.harness.store import ResultsDirBusy, ResultsError
    from dsm_bench.harness.suites import SuiteError, load_suite, parse_selection

    _check_arguments(args)
    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"dsm-bench tune needs optuna (pip install 'dsm-bench[tune]'): "
                         f"{exc}") from None
    from dsm_bench.tuning.driver import TuneSettings, run_studies
    from dsm_bench.tuning.plan import plan_studies
    from dsm_bench.tuning.storage import load_study
    from dsm_bench.tuning.tuned import write_tuned

    problems = results_dir_problems(args.out)
    if problems:
        raise UsageError("; ".join(problems))
    plugins = getattr(args, "plugin", None)
    try:
        suite = load_suite(args.suite, plugins=plugins)
        selection = parse_selection(args.only)
        if selection:
            suite = suite.select(selection)
        plans, notes = plan_studies(suite, args.seconds)
        settings = load_executor_config(args.executor_config, suite.executor, args.executor)
        executor = make_executor(args.executor, jobs=args.jobs, scheduler=args.scheduler,
                                 settings=settings, results_dir=args.out)
    except (SuiteError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    for note in notes:
        print(f"note: {note}")
    tune = TuneSettings(trials=args.trials, metric=args.metric, prune_every=args.prune_every,
                        prune_startup=args.prune_startup, seed=args.seed, jobs=args.jobs)
    print(f"tuning {len(plans)} stud{'y' if len(plans) == 1 else 'ies'} x {args.trials} trials "
          f"({', '.join(p.name for p in plans)}), {tune.metric}, "
          f"{plans[0].budget['max_seconds']:g} s a trial, into {args.out}", flush=True)
    closed = False
    try:
        ensure_results_dir(args.out)
        summary = run_studies(plans, suite, args.out, tune, executor, verbose=args.verbose)
        print(summary)
        if summary.exit_status or args.no_evaluate:
            return summary.exit_status
        studies = {p.name: load_study(args.out, p.name) for p in plans}
        path, left_out = write_tuned(Path(args.out), suite.name, suite.plugins, plans, studies)
        for note in left_out:
            print(f"note: {note}")
        if path is None:
            return 1
        print(f"tuned suite: {path} (dsm-bench run --suite {path} --out DIR); evaluating it "
              "on the evaluation seeds", flush=True)
        closed = True  # run_suite closes the executor
        result = run_suite(load_suite(path), args.out, executor=executor, jobs=args.jobs,
                           progress=False)
        print(result)
        return result.exit_status
    except (ResultsDirBusy, ExecutorError, ResultsError, SuiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if not closed:
            executor.close()
