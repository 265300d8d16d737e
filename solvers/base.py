"""The solver interface: ``Solver.run(problem, budget) -> Solution``, in the style of
scikit-learn.

A solver knows nothing about metrics, asv or reports. ``run`` is the one entry point: it
checks ``supports`` once (``UnsupportedProblem``), calls the solver's ``fit``, checks that a
Solution of the declared kind came back (``SolutionContractError``) and times the call, so a
solver reports only what only it knows (iterations, stop reason, parameters, pauses).

A Solution is one of two kinds, each with abstract methods, so that an incomplete one cannot
be built:

* ``SamplerSolution``: the method simulates trajectories (DSM, the oracle). It implements
  ``sample(n, seed, times) -> (n, n_times, d)``; metrics estimate moments and marginals from
  the samples (with sampling trials).
* ``DensitySolution``: the method yields a density (grid, PINN). It implements
  ``moments(times)`` and ``marginal_density(x, times)``, integrated by the method itself (on
  its grid, or by importance sampling above d = 3).

The kind a solver returns is declared once, by the return annotation of its ``fit``; the
``sampler`` fact of the results table is derived from it.

Optional capabilities, probed with ``has``: ``drift(x, t) -> (u, v)`` (osmotic and current
velocities at points), ``energy(times)``, ``center_of_mass_moments(times)``,
``marginal_quantile(q, times)``.

Every Solution carries a ``Cost`` record and a training ``history`` (a pandas DataFrame with
at least the columns ``iter`` and ``wall_s``, plus one column per loss term; empty for methods
that do not train).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import resource
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dsm_bench.schema import SolverFacts
from reference.problems import Problem
from solvers.budget import Budget
from solvers.options import DeclaredOptions

__all__ = ["Budget", "Cost", "DensitySolution", "Monitor", "SamplerSolution", "Solution",
           "SolutionContractError", "Solver", "SolverConfigError", "UnsupportedProblem",
           "peak_memory"]


Monitor = Callable[["Solution"], dict[str, float]]


class SolverConfigError(ValueError):
    """A solver option is unknown or has an invalid value (the message names the valid ones)."""


class UnsupportedProblem(ValueError):
    """The solver cannot solve this problem (``Solver.supports`` gave the reason)."""


class SolutionContractError(SolverConfigError):
    """A solver breaks the interface at run time: its ``fit`` returned something other than
    the Solution class it declares (the command line exits with status 2, as for a plugin
    that breaks it at import)."""


@dataclass
class Cost:
    """What a solve cost. Times in seconds, memory in MiB (None where not measured).

    ``Solver.run`` fills ``train_s`` (the wall time of ``fit``, less ``paused_s``, plus
    ``resumed_s``), ``s_per_iter`` and the peak host memory; the solver fills the rest.
    paused_s: seconds inside ``fit`` that are not the method's work (monitor calls,
    checkpoints); resumed_s: training seconds of an earlier process this run resumed.
    """

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
    paused_s: float = 0.0
    resumed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def compute_threads() -> int:
    """Threads the run computes with: torch's intra-op threads once torch is loaded; otherwise
    (numpy / scipy only, e.g. the grid) what the BLAS reads at start-up, OMP_NUM_THREADS or
    OPENBLAS_NUM_THREADS, else one per CPU."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _resident_high_water_mib() -> float:
    """VmHWM of /proc/self/status where there is one (Linux), else ru_maxrss. On Linux
    ru_maxrss survives execve: a run's process started by a runner (fork, then exec) would
    report the runner's high-water mark whenever that is larger. VmHWM belongs to the
    address space, which exec replaces."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    scale = 1024.0 if sys.platform != "darwin" else 2.0**20  # KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def peak_memory(device: str = "cpu") -> tuple[float, float | None]:
    """(peak host RSS, peak GPU memory allocated by torch) of this process in MiB; the GPU
    figure is None off CUDA. The host figure is this process's resident high-water mark."""
    rss = _resident_high_water_mib()
    gpu = None
    if str(device).startswith("cuda"):
        import torch

        gpu = torch.cuda.max_memory_allocated(device) / 2**20
    return rss, gpu




class Solution(ABC):
    """A solved problem, of one of the two kinds below (see the module docstring)."""

    def __init__(self, problem: Problem, cost: Cost, history: pd.DataFrame | None = None):
        self.problem = problem
        self.cost = cost
        self.history = history if history is not None else pd.DataFrame({"iter": [], "wall_s": []})

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

    @abstractmethod
    def _kind(self) -> str:
        """"sampler" or "density": implemented by the two kinds only, so that a Solution
        that is neither cannot be built."""

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


class SamplerSolution(Solution):
    """Trajectories: the metrics estimate moments and marginals from sampled paths."""

    def _kind(self) -> str:
        return "sampler"

    @abstractmethod
    def sample(self, n: int, seed: int, times: np.ndarray) -> np.ndarray:
        """n trajectories observed at ``times`` (a subset of the problem's time grid),
        shape (n, len(times), d), float. Deterministic for a given seed."""


class DensitySolution(Solution):
    """A density: the method integrates its own moments and marginals."""

    def _kind(self) -> str:
        return "density"

    @abstractmethod
    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var) of every coordinate, each of shape (len(times), d)."""

    @abstractmethod
    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """1-D marginal density of every coordinate on the points x, (len(times), d, len(x))."""


SOLUTION_KINDS = (SamplerSolution, DensitySolution)


class Solver(DeclaredOptions, ABC):
    """A method. Construct with options (validated at once), then ``run(problem, budget)``.

    Every fact about a solver is declared here, on its class, once; the harness, the
    regression gate and the reports read these and never test a solver's name:

    * ``name``: the registry key; ``label`` (legends, tables), ``short_label`` (narrow panel
      titles; default ``label``) and ``color`` (None: a colour-blind-safe palette picks one);
    * ``is_floor``: the solver is a sampling floor (the oracle), drawn as a band under the
      other samplers; ``is_reference``: its solution is the grid reference itself, so it is
      not scored against the reference;
    * ``deterministic`` (same input, same bits), ``trained`` (it trains through
      ``solvers.training``);
    * ``tolerance``: the relative regression band its metrics need between runs on two
      machines (see ``dsm_bench.harness.check``);
    * ``option_specs``: every option with its default, constraint and help
      (``solvers.options``); ``defaults`` is derived from it;
    * the return annotation of ``fit``: the Solution class it returns, whose kind
      (``SamplerSolution`` or ``DensitySolution``) is the ``sampler`` fact.

    ``config()`` returns every option with its value, recorded with the results so that a
    row can be reproduced.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    short_label: ClassVar[str | None] = None
    color: ClassVar[str | None] = None
    is_floor: ClassVar[bool] = False
    is_reference: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    trained: ClassVar[bool] = False
    tolerance: ClassVar[float] = 0.25
    def __init__(self, **options: Any):
        self.options = self._merged_options(
            options, SolverConfigError,
            lambda extra: f"{self.name}: unknown option(s) {', '.join(extra)}; "
                          f"valid options: {', '.join(sorted(self.defaults))}")
        self._check_options(self.options, SolverConfigError)
        self.validate()

    @classmethod
    def solution_class(cls) -> type[Solution] | None:
        """The Solution class ``fit`` declares it returns (its return annotation), or None
        where the annotation is missing or names no Solution."""
        annotation = getattr(cls.fit, "__annotations__", {}).get("return")
        if isinstance(annotation, str):  # postponed annotations: resolve in fit's module
            try:
                annotation = eval(annotation, cls.fit.__globals__)  # as typing.get_type_hints does
            except Exception:  # noqa: BLE001 - an unresolvable annotation declares nothing
                return None
        ok = isinstance(annotation, type) and issubclass(annotation, SOLUTION_KINDS)
        return annotation if ok else None

    @classmethod
    def declared_facts(cls) -> SolverFacts:
        """The declared facts (``dsm_bench.schema.SolverFacts``, whose fields are the row's
        ``solver_*`` columns); ``sampler`` is the kind of Solution ``fit`` declares."""
        solution = cls.solution_class()
        return SolverFacts(
            label=cls.label, short_label=cls.short_label or cls.label, color=cls.color or "",
            floor=bool(cls.is_floor), deterministic=bool(cls.deterministic),
            trained=bool(cls.trained),
            sampler=solution is not None and issubclass(solution, SamplerSolution),
            tolerance=float(cls.tolerance))

    @classmethod
    def facts(cls) -> dict[str, Any]:
        """The declared facts as the results row records them (``solver_label``, ...)."""
        return cls.declared_facts().as_row()

    def validate(self) -> None:
        """Checks that involve more than one option or the machine (each option's own
        constraint is checked before); raise SolverConfigError naming the valid values."""

    def config(self) -> dict[str, Any]:
        return {"solver": self.name, **self.options}

    def supports(self, problem: Problem) -> str | None:
        """None when the method can solve ``problem``; otherwise the reason it cannot (used by
        the harness to record a row as infeasible before running it)."""
        return None

    def run(self, problem: Problem, budget: Budget | None = None,
            monitor: Monitor | None = None, progress: bool = False) -> Solution:
        """Solve ``problem``: the one entry point, for the harness and for users.

        Raises ``UnsupportedProblem`` when ``supports`` gives a reason, and
        ``SolutionContractError`` when ``fit`` returns anything but the Solution class it
        declares. Times ``fit`` as a whole: ``cost.train_s`` is its wall time less the pauses
        the solver reports (``cost.paused_s``) plus the seconds of a resumed run
        (``cost.resumed_s``); ``s_per_iter`` is ``train_s / iters``.
        """
        if budget is None:
            budget = Budget()
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a solvers.budget.Budget, not {type(budget).__name__}"
                            " (Budget.from_dict converts a table of keys)")
        reason = self.supports(problem)
        if reason is not None:
            raise UnsupportedProblem(f"{self.name} cannot solve {problem.name} (d={problem.d}): "
                                     f"{reason}")
        tic = time.perf_counter()
        solution = self.fit(problem, budget, monitor, progress)
        wall = time.perf_counter() - tic
        self._check_solution(solution)
        cost = solution.cost
        cost.train_s = max(wall - cost.paused_s, 0.0) + cost.resumed_s
        cost.s_per_iter = cost.train_s / cost.iters if cost.iters else None
        cost.peak_rss_mb = max(cost.peak_rss_mb or 0.0, peak_memory()[0])
        return solution

    def _check_solution(self, solution: Any) -> None:
        declared = self.solution_class() or SOLUTION_KINDS
        if not isinstance(solution, declared) or not isinstance(getattr(solution, "cost", None),
                                                                 Cost):
            expected = getattr(declared, "__name__", "a SamplerSolution or DensitySolution")
            raise SolutionContractError(
                f"solver {self.name!r} ({inspect.getfile(type(self))}): fit returned "
                f"{type(solution).__name__}, not {expected} with a Cost")

    @abstractmethod
    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> Solution:
        """Solve ``problem`` (called by ``run``, which has checked ``supports``). Annotate the
        return with the Solution class returned: it declares the solver's kind.

        budget: ``max_iters`` and/or ``max_seconds`` (training wall time); the Solution's
        ``cost.stop_reason`` says which ended training ("completed", "max_iters",
        "time_budget"). monitor: called as ``monitor(solution_so_far)`` every
        ``budget.monitor_every`` iterations (None: never); it returns a dict of floats (e.g.
        errors from dsm_bench.metrics) that is appended to the history row of that
        iteration; its time is reported in ``cost.paused_s`` (``solvers.training`` does so).
        progress: show a progress bar (tqdm) on long work.
        """

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
