"""asv benchmarks of the Crank-Nicolson propagation itself: the authors' bosons n = 3 case
(50^3 points on [-1.5, 1.5]^3, dt = 1e-3) by solve method, 100 of its 1000 steps (times scale
linearly: ``python -m speed.grid_speed`` runs all 1000), and harmonic d = 3 on the default
160^3 grid (moments only).
"""

from reference import grid
from reference.problems import get_problem


class BosonsThreeParticles:
    """100 CN steps of 3 interacting bosons on 50^3 points: split by axis vs unsplit (Jacobi)."""

    params = (["split", "jacobi"],)
    param_names = ["method"]
    number = repeat = rounds = min_run_count = 1
    warmup_time = 0
    timeout = 300

    def setup(self, method):
        self.problem = get_problem("bosons", d=3, n_steps=100, T=0.1)

    def _solve(self, method):
        return grid.solve(self.problem, 50, method=method, store_psi=False, n_store_times=11)

    def time_steps(self, method):
        self._solve(method)

    def peakmem_steps(self, method):
        self._solve(method)

    def track_energy_drift(self, method):
        result = self._solve(method)
        energy = result.energy_values
        return float(abs(energy - energy[0]).max() / abs(energy[0]))

    track_energy_drift.unit = "relative"


class HarmonicThreeDimensions:
    """harmonic d = 3 on the default grid (160^3, 8th order, split): the full T = 1."""

    number = repeat = rounds = min_run_count = 1
    warmup_time = 0
    timeout = 600

    def setup(self):
        self.problem = get_problem("harmonic", d=3)

    def time_solve(self):
        grid.solve(self.problem, store_psi=False)
