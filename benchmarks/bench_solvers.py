"""asv benchmarks over the smoke suite (solver x problem x d): solve time, peak memory and
the error metrics. Kept thin on purpose: asv registers every time_/track_/peakmem_/mem_ name
in this module, so the helpers live in benchmarks.suites (asv_*) and benchmarks.run.

Run: ``asv machine --yes`` once, then ``asv run --python=same --quick`` (see README).
"""

import math
import tempfile

from benchmarks.suites import asv_parameters, asv_setup, asv_skipped

SUITE = "smoke"
SOLVERS, PROBLEMS, DIMS = asv_parameters(SUITE)


class Solve:
    """Training cost of one smoke-suite solve (the fit only; evaluation is not timed)."""

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
        self.solver.fit(self.problem, budget=dict(self.budget))

    def peakmem_solve(self, solver, problem, d):
        self.solver.fit(self.problem, budget=dict(self.budget))


def _cached_metrics():
    from benchmarks.run import read_results, run_suite
    from benchmarks.suites import load_suite

    with tempfile.TemporaryDirectory(prefix="dsm-bench-asv-") as out:
        run_suite(load_suite(SUITE), out, progress=False)
        table = read_results(out)
    return {f"{r['solver']}/{r['problem']}/{r['d']}": r for r in table.to_dict("records")}


class Errors:
    """Error metrics of the smoke suite's runs (each run once, isolated, in setup_cache)."""

    params = (SOLVERS, PROBLEMS, DIMS)
    param_names = ["solver", "problem", "d"]
    skip_params = asv_skipped(SUITE)
    timeout = 120

    def setup_cache(self):
        return _cached_metrics()

    setup_cache.timeout = 1800

    def setup(self, cache, solver, problem, d):
        self.row = cache.get(f"{solver}/{problem}/{d}")
        if self.row is None or self.row["status"] != "ok":
            raise NotImplementedError(f"no ok smoke run for {solver}/{problem}/{d}")

    def _metric(self, name):
        value = self.row.get(name)
        return float(value) if value is not None and math.isfinite(float(value)) else math.nan

    def track_mean_err(self, cache, solver, problem, d):
        return self._metric("mean_err")

    track_mean_err.unit = "relative L2 over time"

    def track_var_err(self, cache, solver, problem, d):
        return self._metric("var_err")

    track_var_err.unit = "relative L2 over time"

    def track_w1_err(self, cache, solver, problem, d):
        return self._metric("w1_err")

    track_w1_err.unit = "length (1-Wasserstein)"

    def track_energy_drift(self, cache, solver, problem, d):
        return self._metric("energy_drift")

    track_energy_drift.unit = "relative"

    def track_u_err(self, cache, solver, problem, d):
        return self._metric("u_err")

    track_u_err.unit = "relative L2 under rho"

    def track_v_err(self, cache, solver, problem, d):
        return self._metric("v_err")

    track_v_err.unit = "relative L2 under rho"

    def track_com_var_err(self, cache, solver, problem, d):
        return self._metric("com_var_err")

    track_com_var_err.unit = "relative L2 over time"
