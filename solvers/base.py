"""The solver interface: ``Solver.fit(problem) -> Solution``, in the style of scikit-learn.

A solver knows nothing about metrics, asv or reports. Its Solution offers what the method
naturally yields, and says so through two flags:

* ``is_sampler``: the method simulates trajectories (DSM, the oracle). It implements
  ``sample(n, seed, times) -> (n, n_times, d)``; metrics estimate moments and marginals from
  the samples (with sampling trials).
* otherwise the method yields a density (grid, PINN). It implements ``moments(times)`` and
  ``marginal_density(x, times)``, integrated by the method itself (on its grid, or by
  importance sampling above d = 3).

Optional capabilities, probed with ``has``: ``drift(x, t) -> (u, v)`` (osmotic and current
velocities at points), ``energy(times)``, ``center_of_mass_moments(times)``,
``marginal_quantile(q, times)``.

Every Solution carries a ``Cost`` record and a training ``history`` (a pandas DataFrame with
at least the columns ``iter`` and ``wall_s``, plus one column per loss term; empty for methods
that do not train).
"""

from __future__ import annotations

import dataclasses
import os
import resource
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from reference.problems import Problem
from solvers.options import Option

__all__ = ["Cost", "Monitor", "Solution", "Solver", "SolverConfigError", "peak_memory"]


Monitor = Callable[["Solution"], dict[str, float]]


class SolverConfigError(ValueError):
    """A solver option is unknown or has an invalid value (the message names the valid ones)."""


@dataclass
class Cost:
    """What a solve cost. Times in seconds, memory in MiB (None where not measured)."""

    train_s: float = 0.0
    iters: int = 0
    s_per_iter: float | None = None
    eval_s: float | None = None
    peak_rss_mb: float | None = None
    peak_gpu_mb: float | None = None
    n_params: int | None = None
    device: str = "cpu"
    dtype: str = "float64"
    threads: int = field(default_factory=lambda: compute_threads())
    stop_reason: str = "completed"  # completed | max_iters | time_budget | ...

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def compute_threads() -> int:
    """Threads the run computes with: torch's intra-op threads once torch is loaded; otherwise
    (numpy / scipy only, e.g. the grid) what the BLAS reads at start-up, OMP_NUM_THREADS or
    OPENBLAS_NUM_THREADS, else one per CPU."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def peak_memory(device: str = "cpu") -> tuple[float, float | None]:
    """(peak host RSS, peak GPU memory allocated by torch) of this process in MiB; the GPU
    figure is None off CUDA. ru_maxrss is in KiB on Linux: the resident high-water mark."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    gpu = None
    if str(device).startswith("cuda"):
        import torch

        gpu = torch.cuda.max_memory_allocated(device) / 2**20
    return rss, gpu


class Solution(ABC):
    """A solved problem. See the module docstring for the capabilities."""

    is_sampler: ClassVar[bool] = False

    def __init__(self, problem: Problem, cost: Cost, history: pd.DataFrame | None = None):
        self.problem = problem
        self.cost = cost
        self.history = history if history is not None else pd.DataFrame({"iter": [], "wall_s": []})

    # sample-based methods
    def sample(self, n: int, seed: int, times: np.ndarray) -> np.ndarray:
        """n trajectories observed at ``times`` (a subset of the problem's time grid),
        shape (n, len(times), d), float. Deterministic for a given seed."""
        raise NotImplementedError(f"{type(self).__name__} does not sample trajectories")

    # density-based methods
    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var) of every coordinate, each of shape (len(times), d)."""
        raise NotImplementedError(f"{type(self).__name__} does not integrate moments")

    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """1-D marginal density of every coordinate on the points x, (len(times), d, len(x))."""
        raise NotImplementedError(f"{type(self).__name__} has no marginal density")

    @property
    def horizon(self) -> float:
        """The last time the solution covers: T, unless a time-marching method's budget
        stopped it earlier (it is then scored on [0, horizon] and its row is a ``timeout``)."""
        return float(self.problem.T)

    def has(self, capability: str) -> bool:
        """Whether an optional capability (``drift``, ``energy``, ...) is implemented."""
        method = getattr(type(self), capability, None)
        base = getattr(Solution, capability, None)
        return method is not None and method is not base

    # optional capabilities (override to provide)
    def drift(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) at points x (n, d) and times t (n,), each (n, d)."""
        raise NotImplementedError(f"{type(self).__name__} has no drift")

    def energy(self, times: np.ndarray) -> np.ndarray:
        """E(t) = <psi|H|psi>, shape (len(times),)."""
        raise NotImplementedError(f"{type(self).__name__} has no energy")

    def center_of_mass_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E X_c, Var X_c) of X_c = mean_i x_i, each (len(times),)."""
        raise NotImplementedError(f"{type(self).__name__} has no centre-of-mass moments")


class Solver(ABC):
    """A method. Construct with options (validated at once), then ``fit(problem)``.

    Every fact about a solver is declared here, on its class, once; the harness, the
    regression gate and the reports read these and never test a solver's name:

    * ``name``: the registry key; ``label`` (legends, tables), ``short_label`` (narrow panel
      titles; default ``label``) and ``color`` (None: a colour-blind-safe palette picks one);
    * ``is_floor``: the solver is a sampling floor (the oracle), drawn as a band under the
      other samplers; ``is_reference``: its solution is the grid reference itself, so it is
      not scored against the reference;
    * ``deterministic`` (same input, same bits), ``trained`` (it trains through
      ``solvers.training``), ``sampler`` (metrics are estimated from sampled paths);
    * ``tolerance``: the relative regression band its metrics need between runs on two
      machines (see ``dsm_bench.harness.check``);
    * ``option_specs``: every option with its default, constraint and help
      (``solvers.options``); ``defaults`` is derived from it.

    ``config()`` returns every option with its value, recorded with the results so that a
    row can be reproduced. ``budget`` caps the work: a dict with optional keys ``max_iters``
    and ``max_seconds``.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    short_label: ClassVar[str | None] = None
    color: ClassVar[str | None] = None
    is_floor: ClassVar[bool] = False
    is_reference: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    trained: ClassVar[bool] = False
    sampler: ClassVar[bool] = False
    tolerance: ClassVar[float] = 0.25
    option_specs: ClassVar[dict[str, Option]] = {}
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "option_specs" in cls.__dict__:
            cls.defaults = {key: spec.default for key, spec in cls.option_specs.items()}

    def __init__(self, **options: Any):
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise SolverConfigError(
                f"{self.name}: unknown option(s) {', '.join(sorted(unknown))}; "
                f"valid options: {', '.join(sorted(self.defaults))}"
            )
        self.options = {**self.defaults, **options}
        for key, spec in self.option_specs.items():
            problem = spec.check(self.name, key, self.options[key])
            if problem is not None:
                raise SolverConfigError(problem)
        self.validate()

    @classmethod
    def facts(cls) -> dict[str, Any]:
        """The declared facts as the results row records them (``dsm_bench.schema``)."""
        return {
            "solver_label": cls.label,
            "solver_short_label": cls.short_label or cls.label,
            "solver_color": cls.color or "",
            "solver_floor": bool(cls.is_floor),
            "solver_deterministic": bool(cls.deterministic),
            "solver_trained": bool(cls.trained),
            "solver_sampler": bool(cls.sampler),
            "solver_tolerance": float(cls.tolerance),
        }

    def validate(self) -> None:
        """Checks that involve more than one option or the machine (each option's own
        constraint is checked before); raise SolverConfigError naming the valid values."""

    def config(self) -> dict[str, Any]:
        return {"solver": self.name, **self.options}

    @abstractmethod
    def fit(
        self,
        problem: Problem,
        budget: dict[str, Any] | None = None,
        monitor: Monitor | None = None,
        progress: bool = False,
    ) -> Solution:
        """Solve ``problem``.

        budget: ``max_iters`` and/or ``max_seconds`` (training wall time); the Solution's
        ``cost.stop_reason`` says which ended training ("completed", "max_iters",
        "time_budget"). monitor: called as ``monitor(solution_so_far)`` every
        ``budget["monitor_every"]`` iterations (default: never); it returns a dict of floats
        (e.g. errors from dsm_bench.metrics) that is appended to the history row of that
        iteration; the time it takes is excluded from ``train_s``. progress: show a progress
        bar (tqdm) on long work.
        """

    def supports(self, problem: Problem) -> str | None:
        """None when the method can solve ``problem``; otherwise the reason it cannot (used by
        the harness to record a row as infeasible before running it)."""
        return None

    @classmethod
    def variant_label(cls, options: dict[str, Any], context: dict[str, Any] | None = None
                      ) -> str:
        """How a configuration reads in legends and tables ("Hutchinson (1 probe)").

        ``options``: the options that tell this configuration apart from the others shown,
        with their values as run (the report picks them); ``context``: every option as run,
        for an override that needs a neighbour's value. Default: "key = value" pairs, a None
        read as "default". Override to name configurations in the method's own words."""
        def text(value: Any) -> str:
            if value is None:
                return "default"
            if isinstance(value, float):
                return f"{value:g}"
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
                return f"{value:,}"
            return str(value)

        return ", ".join(f"{key} = {text(value)}" for key, value in options.items())
