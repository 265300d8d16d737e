"""asv benchmarks of the Nelson sampler with DSM's drift (width 64, depth 2, tanh, d = 1):
4096 paths over 100 steps, the sampler against the plain ``nn.Sequential`` loop on the same
networks; ``track_speedup`` is their ratio measured in one call, steadier on a shared machine
than either time. ``python -m speed.sampler_speed`` runs the interleaved comparison.
"""

import dataclasses
import time

import torch

from reference.problems import get_problem
from solvers import get_solver
from solvers.nelson import euler_maruyama, sample_initial
from speed.sampler_speed import plain_loop


class SamplerWidth64:
    """Evaluation's sampler: 4096 paths x 100 steps, width 64, float32."""

    number = repeat = rounds = min_run_count = 1
    warmup_time = 0
    timeout = 120

    def setup(self):
        problem = get_problem("harmonic", d=1)
        self.problem = dataclasses.replace(problem, n_steps=100, T=100 * problem.dt)
        self.nets = get_solver("dsm", width=64).build(self.problem)

    def _x0(self):
        g = torch.Generator().manual_seed(0)
        return sample_initial(self.problem, 4096, g, torch.float32, torch.device("cpu")), g

    def _sampler(self):
        x0, g = self._x0()
        euler_maruyama(self.nets.drift_function(1.0), x0, self.problem, nu=1.0, generator=g,
                       record=torch.tensor([self.problem.n_steps]))

    def _plain(self):
        x0, g = self._x0()
        plain_loop(self.nets, x0, 1.0, g)

    def time_sampler(self):
        self._sampler()

    def track_speedup(self):
        start = time.perf_counter()
        self._plain()
        plain = time.perf_counter() - start
        start = time.perf_counter()
        self._sampler()
        return plain / (time.perf_counter() - start)

    track_speedup.unit = "plain / sampler"
