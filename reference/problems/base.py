"""The problem contract: what a Schrodinger problem declares, once, for every solver.

A problem is the equation

    i hbar d_t psi = -(hbar^2 / 2m) Lap psi + V psi,   x in R^d, t in [0, T],

on a time grid of ``n_steps + 1`` points, with an initial state psi_0. A subclass of
``Problem`` declares:

* its facts, as class attributes: ``name``, ``label``, ``description``, ``d_range``, the
  ``dimension_symbol`` used in figures ("d", or "n" for particles), whether its coordinates
  are ``exchangeable_coordinates``, the ``box`` (per axis) and default ``grid_points`` for
  grid and collocation methods, and whether the box is a ``reflecting_box`` of infinite walls;
* its options, with the constraints of ``reference.options`` (``standard_options`` gives d,
  hbar, m, T and n_steps; a problem adds its own physical parameters);
* its physics: ``potential`` and ``grad_potential`` (numpy or torch, through the array
  namespace) and the initial state ``sample_initial``, ``initial_density``, ``psi0``, ``u0``
  and ``v0``;
* its reference: ``reference()`` returns an object with the ``ExactReference`` interface
  (``moments``, ``marginal_density``, ``marginal_quantile``, ``drift`` where known,
  ``sample_density``, ``energy``), or None. With None the harness falls back to the grid for
  d <= 3; the metrics never choose a reference themselves.

Conventions (``docs/problems.md``): psi = sqrt(rho) exp(i S), the osmotic velocity
u = (hbar/2m) grad log rho and the current velocity v = (hbar/m) grad S.
"""

from __future__ import annotations

import copy
import json
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from reference.arrays import array_namespace
from reference.options import DeclaredOptions, Integer, Option, Real

__all__ = ["Problem", "ProblemConfigError", "standard_options"]


class ProblemConfigError(ValueError):
    """A problem option is unknown or has an invalid value (the message names the valid ones)."""


MAX_STEPS = 10**7


def standard_options(*, d: int = 1, hbar: float, m: float = 1.0, T: float = 1.0,
                     n_steps: int = 1000) -> dict[str, Option]:
    """The options every problem has, with this problem's defaults. The range of ``d`` is
    the class's ``d_range``, checked by ``Problem.__init__``."""
    return {
        "d": Option(d, Integer(1), "dimension (number of coordinates)"),
        "hbar": Option(hbar, Real(0, closed="neither"), "reduced Planck constant"),
        "m": Option(m, Real(0, closed="neither"), "mass"),
        "T": Option(T, Real(0, closed="neither"), "final time"),
        # every solver holds the time grid (n_steps + 1 floats) in memory, and the samplers
        # step through it: 10^7 steps is 80 MB and already weeks of sampling at d = 1
        "n_steps": Option(n_steps, Integer(1, MAX_STEPS),
                          "time steps: the time grid has n_steps + 1 points"),
    }


class Problem(DeclaredOptions, ABC):
    """A time-dependent Schrodinger problem; see the module docstring for the contract."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    d_range: ClassVar[tuple[int, int]] = (1, 1)
    dimension_symbol: ClassVar[str] = "d"
    # the one-coordinate marginals are identically distributed at every t, so moments may be
    # pooled over coordinates (dsm_bench.pooled); only a problem whose H and psi_0 are
    # symmetric under permuting coordinates may declare True
    exchangeable_coordinates: ClassVar[bool] = False
    box: ClassVar[tuple[float, float]]
    # the box's faces are infinite walls (psi = 0 on them): a sampler reflects a path that
    # crosses one back into the box (``solvers.nelson``); False: the box is only a grid's extent
    reflecting_box: ClassVar[bool] = False
    # default grid points per axis for d = 1, 2, 3, ... (0 or absent: no default grid)
    grid_points: ClassVar[tuple[int, ...]] = ()
    def __init__(self, **options: Any):
        values = self._merged_options(
            {k: v for k, v in options.items() if v is not None}, ProblemConfigError,
            lambda extra: f"{self.name}: cannot override {', '.join(extra)}; "
                          f"overridable parameters: {', '.join(self.defaults)}")
        lo, hi = self.d_range
        d = values.get("d")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not lo <= d <= hi:
            allowed = f"d = {lo}" if lo == hi else f"{lo} <= d <= {hi}"
            raise ProblemConfigError(f"{self.name}: d={d!r} is outside the allowed range ({allowed})")
        self._check_options(values, ProblemConfigError)
        # a real option given as an integer is stored as a float, so that the recorded config
        # does not depend on how the value was typed
        self.options = {k: float(v) if isinstance(self.defaults[k], float) and
                        isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
                        for k, v in values.items()}
        self.d = int(values["d"])
        self.hbar = float(values["hbar"])
        self.m = float(values["m"])
        self.T = float(values["T"])
        self.n_steps = int(values["n_steps"])
        self.derive()

    # a problem is a value, as its config describes it
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.config(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({options})"

    def derive(self) -> None:
        """Set the attributes that follow from the options (e.g. a ground state's width from
        hbar); called once at construction."""

    # ----------------------------------------------------------------- time grid
    @property
    def dt(self) -> float:
        return self.T / self.n_steps

    @property
    def times(self) -> np.ndarray:
        """The problem's time grid, ``n_steps + 1`` points from 0 to T."""
        return np.linspace(0.0, self.T, self.n_steps + 1)

    @property
    def diffusion(self) -> float:
        """hbar / m: Nelson's diffusion coefficient (noise variance per unit time at nu = 1)."""
        return self.hbar / self.m

    def config(self) -> dict[str, Any]:
        """A flat, JSON-serialisable description, recorded with every result row."""
        return {"name": self.name, **self.options, "box": list(self.box),
                "grid_points": list(self.grid_points), "d_range": list(self.d_range)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Problem:
        """The problem a ``config()`` describes (a saved solution's, say)."""
        return cls(**{key: config[key] for key in cls.defaults if key in config})

    def default_grid_points(self) -> int:
        """Default grid points per axis for this problem's dimension (grid methods)."""
        if self.d > len(self.grid_points) or self.grid_points[self.d - 1] <= 0:
            raise ValueError(
                f"{self.name}: no default grid for d={self.d}; grid methods support "
                f"d <= {sum(1 for n in self.grid_points if n > 0)} for this problem")
        return self.grid_points[self.d - 1]

    def replace(self, **attributes: Any) -> Problem:
        """A copy with some attributes changed (e.g. the centre of mass as a 1-D packet)."""
        out = copy.copy(self)
        out.__dict__.update(attributes)
        return out

    # ----------------------------------------------------------------- potential
    @abstractmethod
    def potential(self, x):
        """V(x) for x of shape (..., d), numpy or torch; returns shape (...)."""

    @abstractmethod
    def grad_potential(self, x):
        """grad V(x), shape (..., d), numpy or torch."""

    def one_body_potential(self, x):
        """V1 with V(x) = sum_k V1(x_k) + W(x), elementwise on any shape, where a problem's
        potential has such a part that is the same on every axis; None otherwise. A grid
        method splits its propagation by axis with it (``reference.grid``)."""
        return None

    @property
    def potential_is_separable(self) -> bool:
        """V(x) = sum_k V1(x_k) exactly (no coupling term W)."""
        return False

    def potential_lower_bound(self) -> float | None:
        """A lower bound of V, where one is known (spectral methods size their grids with
        it); None where it is not."""
        return None

    # ----------------------------------------------------------------- initial state
    @abstractmethod
    def sample_initial(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """n samples of rho_0 = |psi_0|^2, shape (n, d), float64."""

    def sample_initial_torch(self, n: int, generator, dtype, device):
        """n samples of rho_0 as a torch tensor, drawn from a torch ``generator`` (so that a
        sampler's paths depend on one seed only)."""
        import torch

        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        return torch.as_tensor(self.sample_initial(n, seed), dtype=dtype, device=device)

    @abstractmethod
    def initial_density(self, x):
        """rho_0(x) for x of shape (..., d)."""

    @abstractmethod
    def psi0(self, x):
        """psi_0(x), complex, for x of shape (..., d)."""

    def log_psi0(self, x):
        """(log |psi_0|, arg psi_0) at x (..., d), each of shape x.shape[:-1]: the start in a
        form whose derivatives stay finite where |psi_0| underflows (a PINN's initial
        condition differentiates it). By default from ``psi0``; a problem with a closed form
        overrides it."""
        xp = array_namespace(x)
        psi = self.psi0(x)
        return xp.log(xp.abs(psi)), xp.angle(psi)

    @abstractmethod
    def u0(self, x):
        """Initial osmotic velocity (hbar/2m) grad log rho_0, shape of x."""

    @abstractmethod
    def v0(self, x):
        """Initial current velocity (hbar/m) grad S_0, shape of x."""

    def u0_vjp(self, x, w):
        """J_{u0}(x)^T w, row by row (x, w of shape (n, d), torch): the initial osmotic
        velocity's vector-Jacobian product, by reverse-mode autodiff (differentiable in w)."""
        return _vjp(self.u0, x, w)

    def v0_vjp(self, x, w):
        """J_{v0}(x)^T w, as ``u0_vjp`` for the initial current velocity."""
        return _vjp(self.v0, x, w)

    def initial_divergence(self, x):
        """(div u0, div v0) at x (n, d), a torch tensor that requires grad, each (n,) and
        differentiable in x; None where u0 and v0 are affine (their divergences are then
        constants, which vanish from every equation that differentiates them). By autodiff:
        one reverse pass per coordinate."""
        import torch

        u0, v0 = self.u0(x), self.v0(x)
        div_u = sum(torch.autograd.grad(u0[:, i].sum(), x, create_graph=True)[0][:, i]
                    for i in range(self.d))
        div_v = sum(torch.autograd.grad(v0[:, i].sum(), x, create_graph=True,
                                        allow_unused=True, materialize_grads=True)[0][:, i]
                    for i in range(self.d))
        return div_u, div_v

    def initial_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) of every coordinate under rho_0, each of shape (d,); estimated
        from 10^5 samples unless the problem knows them."""
        x = self.sample_initial(100_000, 0)
        return x.mean(0), x.var(0, ddof=1)

    def exact_energy(self) -> float | None:
        """<H>, conserved, where the problem knows it in closed form; None otherwise. It is
        every solver's energy target (``energy_err``) with or without a reference."""
        return None

    def initial_energy(self) -> float:
        """E(0) = <psi_0|H|psi_0> = E_rho0[m/2 (|u0|^2 + |v0|^2) + V]: ``exact_energy`` where
        the problem knows it, else from 10^5 samples of rho_0."""
        exact = self.exact_energy()
        if exact is not None:
            return float(exact)
        x = self.sample_initial(100_000, 0)
        kinetic = 0.5 * self.m * ((np.asarray(self.u0(x)) ** 2).sum(-1)
                                  + (np.asarray(self.v0(x)) ** 2).sum(-1))
        return float(np.mean(kinetic + np.asarray(self.potential(x))))

    # ----------------------------------------------------------------- references
    def reference(self):
        """The exact reference (``reference.exact.ExactReference``'s interface), or None."""
        return None

    def center_of_mass_law(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(E X_c, Var X_c) of the centre of mass X_c = mean_k x_k at ``times``, where an
        exact law is known (d >= 2); None otherwise."""
        return None

    def comparison_variances(self, times: np.ndarray) -> dict[str, np.ndarray]:
        """Other variance laws a row is also scored against, by name (``var_err_<name>``);
        for example a published but wrong reference, reported beside the exact one."""
        return {}


def _vjp(field, x, w):
    import torch

    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        (out,) = torch.autograd.grad(field(xg), xg, grad_outputs=w, create_graph=True,
                                     allow_unused=True, materialize_grads=True)
    return out


def check_finite(name: str, what: str, values: Any) -> str | None:
    """A fault message when ``values`` holds NaN or Inf, else None."""
    array = np.asarray(values)
    if array.size and not np.isfinite(array).all():
        return f"{name}: {what} is not finite"
    return None


def contract_faults(cls: Any) -> list[str]:
    """What is wrong with a problem class (empty when it honours the contract): missing
    facts, abstract physics, or an initial state that is not finite at its defaults."""
    import inspect

    if not (inspect.isclass(cls) and issubclass(cls, Problem)):
        return [f"{cls!r} is not a subclass of reference.problems.Problem"]
    faults = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        faults.append(f"name must be an identifier string (got {name!r})")
        name = cls.__name__
    if not isinstance(getattr(cls, "label", None), str) or not cls.label:
        faults.append(f"{name}: label must be a non-empty string")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        faults.append(f"{name}: does not implement {', '.join(missing)}")
    box = getattr(cls, "box", None)
    if not (isinstance(box, tuple) and len(box) == 2 and all(map(math.isfinite, box))
            and box[0] < box[1]):
        faults.append(f"{name}: box must be a finite interval (lo, hi) with lo < hi (got {box!r})")
    lo_hi = getattr(cls, "d_range", None)
    if not (isinstance(lo_hi, tuple) and len(lo_hi) == 2 and 1 <= lo_hi[0] <= lo_hi[1]):
        faults.append(f"{name}: d_range must be (low, high) with 1 <= low <= high (got {lo_hi!r})")
    required = {"d", "hbar", "m", "T", "n_steps"} - set(getattr(cls, "option_specs", {}))
    if required:
        faults.append(f"{name}: option_specs lacks {', '.join(sorted(required))} "
                      "(reference.problems.standard_options declares them)")
    if faults:
        return faults
    try:
        problem = cls(d=cls.d_range[0])
        x = problem.sample_initial(16, 0)
        checks = [("the initial samples", x), ("the initial density", problem.initial_density(x)),
                  ("u0", problem.u0(x)), ("v0", problem.v0(x)), ("psi0", problem.psi0(x)),
                  ("the potential", problem.potential(x))]
    except Exception as exc:  # a plugin's own code: any failure is a contract fault
        return [f"{name}: building it at its defaults failed: {type(exc).__name__}: {exc}"]
    if np.shape(x) != (16, problem.d):
        faults.append(f"{name}: sample_initial(16) returned shape {np.shape(x)}, "
                      f"expected (16, {problem.d})")
    faults.extend(f for what, values in checks if (f := check_finite(name, what, values)))
    return faults
