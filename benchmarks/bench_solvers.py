"""asv benchmarks over a suite (solver x problem x d; ``smoke`` unless
``DSM_BENCH_ASV_SUITE`` names another): solve time, peak memory and every gated error metric.

Kept thin on purpose: asv registers every time_/track_/peakmem_/mem_ name in this module, so
the helpers live in ``dsm_bench.harness.asv``. The ``track_*`` benchmarks are generated from
``dsm_bench.schema.METRIC_TABLE``: a new metric there is tracked here too.

Run: ``asv machine --yes`` once, then ``asv run --python=same --quick`` (see docs/usage.md).
"""

import math
import tempfile

from dsm_bench.harness.asv import asv_parameters, asv_setup, asv_skipped, asv_suite
from dsm_bench.schema import METRIC_TABLE, Status

SUITE = asv_suite()
SOLVERS, PROBLEMS, DIMS = asv_parameters(SUITE)


class Solve:
    """Training cost of one suite solve (the fit only; evaluation is not timed)."""

    params = (SOLVERS, PROBLEMS, DIMS)
    param_names = ["solver", "problem", "d"]
    skip_params = asv_skipped(SUITE)
    # a solve is long and deterministic in cost: one sample, no warm-up
    number = repeat = rounds = min_run_count = 1
    warmup_time = 0
    timeout = 300

    def setup(self, solver, problem, d):
        self.problem, self.solver, self.budget = asv_setup(SUITE, solver, problem, d)

    def time_solve(self, solver, problem, d):
        self.solver.run(self.problem, self.budget)

    def peakmem_solve(self, solver, problem, d):
        self.solver.run(self.problem, self.budget)


def _cached_metrics():
    from dsm_bench.harness.runner import read_results, run_suite
    from dsm_bench.harness.suites import load_suite

    with tempfile.TemporaryDirectory(prefix="dsm-bench-asv-") as out:
        run_suite(load_suite(SUITE), out, progress=False)
        table = read_results(out)
    return {f"{r['solver']}/{r['problem']}/{r['d']}": r for r in table.to_dict("records")}


class Errors:
    """Error metrics of the suite's runs (each run once, isolated, in setup_cache)."""

    params = (SOLVERS, PROBLEMS, DIMS)
    param_names = ["solver", "problem", "d"]
    skip_params = asv_skipped(SUITE)
    timeout = 120

    def setup_cache(self):
        return _cached_metrics()

    setup_cache.timeout = 1800

    def setup(self, cache, solver, problem, d):
        self.row = cache.get(f"{solver}/{problem}/{d}")
        if self.row is None or self.row["status"] != Status.OK:
            raise NotImplementedError(f"no ok run for {solver}/{problem}/{d}")

    def _metric(self, name):
        value = self.row.get(name)
        return float(value) if value is not None and math.isfinite(float(value)) else math.nan


def _tracker(name):
    def track(self, cache, solver, problem, d):
        return self._metric(name)

    return track


for _metric in METRIC_TABLE:
    if _metric.gated:
        _track = _tracker(_metric.name)
        _track.__name__ = f"track_{_metric.name}"
        _track.unit = _metric.unit
        setattr(Errors, _track.__name__, _track)
