"""Regression gate: ``dsm-bench check --suite smoke --baseline benchmarks/baselines/smoke.csv``.

Runs the suite (or reads a results directory given with ``--results``), matches its rows with
the committed baseline by config hash, and compares every error metric with a tolerance that
follows from how the number is made. Each solver declares the relative band its training
needs (``Solver.tolerance``), and whether it is deterministic or a sampler; the results row
records these facts, and the gate reads them from there:

* deterministic solvers (the grid: Crank-Nicolson in float64, no randomness): their own
  tolerance (1e-6 relative). Re-running gives the same bits on one machine; between machines
  BLAS / thread-count changes reorder float64 sums (relative 1e-12 on the state), which shifts
  an error of 1e-4 or more by far less than 1e-6 of itself. Anything larger is a code change.
* samplers and metrics with a trial spread (``*_std``): the baseline value may move by 3
  standard deviations of one sampling trial (the metric is the mean over trials; 3
  single-trial sigmas is a loose, > 99 % band for a re-draw of the samples), and by at least
  5 % relative for the metrics without a spread;
* on top of that, the solver's declared tolerance: training is seeded and bit-reproducible on
  one machine, but float reorderings between machines grow chaotically over iterations (DSM
  declares 10 %, the PINN, unconverged at smoke budgets, 25 %).

A row without facts (a table written before they were recorded) gets a lenient 25 %.
Definitions and reasons: ``docs/metrics.md``.

Only worse values fail (an improvement beyond the band is reported as "improved: update the
baseline"). A run that was ok in the baseline and is not ok now, a metric that became NaN, and
a baseline run missing from the results are regressions too. Costs (time, memory) are not
gated: they depend on the machine; asv tracks them.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dsm_bench.harness.store import ResultsDirBusy, ResultsError
from dsm_bench.harness.suites import SuiteError, load_suite
from dsm_bench.schema import Status, gated_metrics

__all__ = ["GATED_METRICS", "Comparison", "compare", "configure_parser", "main", "tolerance"]

DEFAULT_BASELINE = Path(__file__).resolve().parents[2] / "benchmarks" / "baselines" / "smoke.csv"

GATED_METRICS: dict[str, str | None] = gated_metrics()
BASELINE_COLUMNS = ["solver", "problem", "d", "seed", "config_hash", "status", "n_trials",
                    *[c for m, s in GATED_METRICS.items() for c in (m, s) if c]]

SAMPLING_SIGMAS = 3.0
SAMPLING_REL = 0.05
ABS_FLOOR = 1e-12  # metrics that are exactly 0 (e.g. a conserved quantity) stay comparable
LENIENT_REL = 0.25  # a row without declared facts (a table from before they were recorded)


@dataclass
class Comparison:
    key: str
    metric: str
    baseline: float | None
    value: float | None
    allowed: float | None
    verdict: str  # ok | improved | REGRESSION | new | n/a
    reason: str = ""


def tolerance(facts: dict[str, Any], metric: str, baseline: float,
              spread: float | None) -> float:
    """Largest increase of ``metric`` over ``baseline`` that is not a regression (see the
    module docstring). ``facts``: the solver's declared facts as the results row records them
    (``solver_tolerance``, ``solver_deterministic``, ``solver_sampler``)."""
    rel = _float(facts.get("solver_tolerance"))
    if rel is None:
        rel = LENIENT_REL
    if _flag(facts.get("solver_deterministic")):
        return rel * abs(baseline) + ABS_FLOOR
    band = rel * abs(baseline)
    if _flag(facts.get("solver_sampler")) or spread is not None:
        if spread is not None and math.isfinite(spread):
            band += SAMPLING_SIGMAS * spread
        else:
            band += SAMPLING_REL * abs(baseline)
    return band + ABS_FLOOR


def _flag(value: Any) -> bool:
    """A boolean fact read back from parquet or csv (True, 'True', 1.0; NaN is False)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "1.0")
    try:
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    except (TypeError, ValueError):
        return False


def _float(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _key(row: dict[str, Any]) -> str:
    d, seed = _float(row.get("d")), _float(row.get("seed"))
    d_text = "" if d is None else f" d={int(d)}"
    seed_text = "" if seed is None else f" seed={int(seed)}"
    return f"{row.get('solver')}/{row.get('problem')}{d_text}{seed_text}"


def compare(results: pd.DataFrame, baseline: pd.DataFrame) -> list[Comparison]:
    """Every (run, metric) of the baseline against the results; see the module docstring."""
    current = {r["config_hash"]: r for r in results.to_dict("records")}
    out: list[Comparison] = []
    for base in baseline.to_dict("records"):
        key = _key(base)
        row = current.pop(base["config_hash"], None)
        if row is None:
            out.append(Comparison(key, "run", None, None, None, "REGRESSION",
                                  "missing from the results (or its config changed: "
                                  "run with --update-baseline if intended)"))
            continue
        if base.get("status") == Status.OK and row.get("status") != Status.OK:
            out.append(Comparison(key, "status", None, None, None, "REGRESSION",
                                  f"{row.get('status')}: {str(row.get('message'))[:200]}"))
            continue
        if base.get("status") != Status.OK:
            verdict = "improved" if row.get("status") == "ok" else "n/a"
            out.append(Comparison(key, "status", None, None, None, verdict,
                                  f"baseline {base.get('status')}, now {row.get('status')}"))
            continue
        for metric, spread_col in GATED_METRICS.items():
            b, v = _float(base.get(metric)), _float(row.get(metric))
            if b is None:
                if v is not None:
                    out.append(Comparison(key, metric, None, v, None, "new"))
                continue
            if v is None:
                out.append(Comparison(key, metric, b, None, None, "REGRESSION",
                                      "was finite, now missing or NaN"))
                continue
            spread = _float(base.get(spread_col)) if spread_col else None
            allowed = tolerance(row, metric, b, spread)
            if v > b + allowed:
                verdict, reason = "REGRESSION", f"worse by {v - b:.3g} > allowed {allowed:.3g}"
            elif v < b - allowed:
                verdict, reason = "improved", "better than the baseline: update it"
            else:
                verdict, reason = "ok", ""
            out.append(Comparison(key, metric, b, v, allowed, verdict, reason))
    for row in current.values():
        out.append(Comparison(_key(row), "run", None, None, None, "new",
                              "not in the baseline"))
    return out


def format_table(comparisons: list[Comparison]) -> str:
    def num(x: float | None) -> str:
        return "" if x is None else f"{x:.4g}"

    rows = [(c.key, c.metric, num(c.baseline), num(c.value), num(c.allowed), c.verdict,
             c.reason) for c in comparisons]
    header = ("run", "metric", "baseline", "now", "allowed +", "verdict", "note")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for r in [header, *rows]:
        lines.append("  ".join(str(r[i]).ljust(widths[i]) for i in range(len(widths)))
                     + "  " + r[-1])
    return "\n".join(lines)


def baseline_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The committed form of a results table: identity, status and the gated metrics."""
    return results[BASELINE_COLUMNS].sort_values(["solver", "problem", "d", "seed"],
                                                 na_position="first")


def read_baseline(path: Path) -> pd.DataFrame:
    """The committed baseline; ValueError naming the file and what is wrong with it."""
    try:
        baseline = pd.read_csv(path, dtype={"config_hash": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"baseline {path} is not a CSV table: {exc}") from None
    missing = [c for c in ("solver", "problem", "config_hash", "status") if c not in baseline]
    if missing:
        raise ValueError(f"baseline {path} lacks the column(s) {', '.join(missing)}; it must "
                         "be written by `dsm-bench check --update-baseline`")
    if baseline.empty:
        raise ValueError(f"baseline {path} has no runs")
    _check_baseline_values(path, baseline)
    return baseline


# the baseline's numeric columns: a value that does not parse would read as "no baseline"
# (shown as new, never a regression) and so switch the gate off
INTEGER_COLUMNS = ("d", "seed")
NUMBER_COLUMNS = ("n_trials", *[c for m, s in GATED_METRICS.items() for c in (m, s) if c])


def _check_baseline_values(path: Path, baseline: pd.DataFrame) -> None:
    """ValueError naming the file, row and column of the first value that is not a number
    (blank is allowed where a metric has no value, never for d and seed)."""
    missing = [c for c in INTEGER_COLUMNS if c not in baseline]
    if missing:
        raise ValueError(f"baseline {path} lacks the column(s) {', '.join(missing)}; it must "
                         "be written by `dsm-bench check --update-baseline`")
    for i, row in enumerate(baseline.to_dict("records"), start=1):
        for column in (*INTEGER_COLUMNS, *NUMBER_COLUMNS):
            if column not in row:
                continue
            value = row[column]
            blank = value is None or (isinstance(value, float) and math.isnan(value))
            if blank and column not in INTEGER_COLUMNS:
                continue
            number = None if blank else _parse_number(value)
            if number is None or (column in INTEGER_COLUMNS and not number.is_integer()):
                kind = "an integer" if column in INTEGER_COLUMNS else "a number or blank"
                raise ValueError(f"baseline {path} row {i} (line {i + 1}), column {column}: "
                                 f"{'blank' if blank else repr(value)} is not {kind}")


def _parse_number(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``dsm-bench check``."""
    p.add_argument("--suite", default="smoke", help="suite to run (default: smoke)")
    p.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE,
                   help="baseline CSV (default: benchmarks/baselines/smoke.csv)")
    p.add_argument("--results", type=Path, default=None,
                   help="compare an existing results directory instead of running the suite")
    p.add_argument("--out", type=Path, default=None,
                   help="where to run the suite (default: a temporary directory)")
    p.add_argument("--update-baseline", action="store_true",
                   help="write the results as the new baseline instead of comparing")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (>= 1)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="list only the comparisons that are not ok")


def main(args: argparse.Namespace) -> int:
    """0: no regression; 1: regressions (each named); 2: bad input."""
    from dsm_bench.harness.runner import read_results, results_dir_problems, run_suite

    if args.jobs < 1:
        print(f"error: --jobs must be >= 1 (got {args.jobs})", file=sys.stderr)
        return 2
    if args.update_baseline and args.baseline.exists() and not args.baseline.is_file():
        print(f"error: --update-baseline: {args.baseline} exists and is not a file",
              file=sys.stderr)
        return 2
    if not args.update_baseline and not args.baseline.is_file():
        print(f"error: baseline {args.baseline} not found (create it with --update-baseline)",
              file=sys.stderr)
        return 2
    if args.results is not None:
        try:
            results = read_results(args.results)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        if args.out is not None and (problems := results_dir_problems(args.out)):
            print("error: " + "; ".join(problems), file=sys.stderr)
            return 2
        try:
            suite = load_suite(args.suite, plugins=getattr(args, "plugin", None))
        except SuiteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix=f"dsm-bench-check-{suite.name}-") as tmp:
            out = args.out or Path(tmp)
            try:
                summary = run_suite(suite, out, jobs=args.jobs)
            except (ResultsDirBusy, ResultsError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(summary)
            if summary.signal:
                return summary.exit_status
            results = read_results(out)
    if args.update_baseline:
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        baseline_frame(results).to_csv(args.baseline, index=False)
        print(f"baseline written: {args.baseline} ({len(results)} runs)")
        return 0
    try:
        baseline = read_baseline(args.baseline)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    comparisons = compare(results, baseline)
    shown = [c for c in comparisons if c.verdict != "ok"] if args.quiet else comparisons
    n_ok = sum(c.verdict == "ok" for c in comparisons)
    if shown:
        print(format_table(shown))
    regressions = [c for c in comparisons if c.verdict == "REGRESSION"]
    print(f"{n_ok} metrics within tolerance, {len(regressions)} regression(s), "
          f"{sum(c.verdict == 'improved' for c in comparisons)} improved")
    if regressions:
        print("REGRESSIONS: " + "; ".join(f"{c.key} {c.metric} ({c.reason})"
                                          for c in regressions), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m dsm_bench.harness.check", description=__doc__)
    configure_parser(parser)
    sys.exit(main(parser.parse_args()))
