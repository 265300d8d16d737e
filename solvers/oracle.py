"""The oracle: Nelson's process driven by the EXACT osmotic and current velocities.

It is DSM with perfect networks: the same Euler-Maruyama sampler (``solvers.nelson``) with
u, v from ``reference.exact`` (the Gaussian packet). Its errors are the floor of every
sample-based method at a given sample count and time step: sampling noise plus the
Euler-Maruyama bias. Only problems with a closed-form solution (no interaction) qualify.

Its dtype is DSM's (float32) by default: the sampler then draws the same initial points and
Brownian increments for a given evaluation seed, so DSM and the oracle are compared on
common random numbers and DSM's excess over the oracle is its model error, not another
noise draw (in float64 the floor is a different draw of the same size).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from reference.problems import Problem
from solvers.base import Budget, Cost, Monitor, SamplerSolution, Solver
from solvers.nelson import sample_paths
from solvers.options import Choice, Integer, Option, Real

__all__ = ["OracleSolution", "OracleSolver"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class OracleSolution(SamplerSolution):
    """Samples paths of Nelson's process with the exact drift; drift() is the exact (u, v)."""

    def __init__(self, problem: Problem, cost: Cost, *, nu: float, dtype: str, seed: int,
                 sample_batch: int = 65536):
        super().__init__(problem, cost)
        self.nu = nu
        self.dtype = _DTYPES[dtype]
        self.seed = seed
        self.reference = problem.reference()  # its drift is the exact (u, v)
        self.sample_batch = sample_batch

    def _drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u, v = self.reference.drift(x, t)
        return v + self.nu * u

    def sample(self, n: int, seed: int, times: np.ndarray) -> np.ndarray:
        # the solver's seed and the sampling seed together pick the paths
        paths = sample_paths(self._drift, self.problem, n, seed + 7919 * self.seed, times,
                             nu=self.nu, dtype=self.dtype, device=torch.device("cpu"),
                             batch_size=self.sample_batch)
        return paths

    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        t = np.broadcast_to(np.asarray(t, dtype=float), x.shape[:-1])
        u, v = self.reference.drift(x, t)
        return np.asarray(u), np.asarray(v)


class OracleSolver(Solver):
    """Nelson's process with the exact drift: the sampling floor of the sample-based methods."""

    name = "oracle"
    label = "oracle (exact drift; sampling floor)"
    short_label = "oracle"
    color = "#CC79A7"  # Okabe-Ito reddish purple
    is_floor = True
    # nothing is trained: between runs only the sampling noise moves its metrics, and the
    # gate's sampling band (trial spread) covers that; no extra band on top
    tolerance = 0.0
    option_specs: ClassVar[dict[str, Option]] = {
        "nu": Option(1.0, Real(0, closed="neither"),
                     "noise level of Nelson's process (every nu has |psi|^2 as marginal)"),
        "dtype": Option("float32", Choice(*_DTYPES),
                        "sampling precision; float32 (DSM's) shares DSM's sampling noise"),
        "seed": Option(0, Integer(0), "picks the paths together with the evaluation seed"),
    }

    def supports(self, problem: Problem) -> str | None:
        reference = problem.reference()
        if reference is None or not callable(getattr(reference, "drift", None)):
            return (f"oracle needs the exact drift; {problem.name} declares no reference "
                    "with one")
        return None

    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> OracleSolution:
        cost = Cost(iters=0, n_params=0, device="cpu", dtype=self.options["dtype"],
                    threads=torch.get_num_threads())
        return OracleSolution(problem, cost, nu=float(self.options["nu"]),
                              dtype=self.options["dtype"], seed=int(self.options["seed"]))
