"""The problem catalogue: what is solved, with every physical constant defined once.

Every problem (``docs/problems.md``, "The catalogue") is a Schrodinger equation

    i hbar d_t psi = -(hbar^2 / 2m) Lap psi + V psi,   x in R^d, t in [0, T],

with the potential

    V(x) = 1/2 m omega^2 |x - a|^2 + (g/2) sum_{i<j} (2 pi s2)^(-1/2) exp(-(x_i - x_j)^2 / (2 s2))

(a harmonic trap, ``omega = 0`` for a free particle, plus a Gaussian pair interaction for the
bosons) and a Gaussian initial state, the same in every coordinate,

    rho_0 = N(mu0, s0^2 I),   S_0(x) = k0 * sum_k x_k   (psi = sqrt(rho) exp(i S)).

One frozen dataclass describes them all; ``get_problem`` builds one from the registry with
validated overrides. Other modules read constants from here only (no hbar literals elsewhere).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.arrays import array_namespace

__all__ = ["Problem", "get_problem", "problem_names", "PROBLEM_SPECS"]


@dataclass(frozen=True)
class Problem:
    """A Schrodinger problem with a Gaussian initial state (see the module docstring).

    All lengths are per coordinate: the trap centre ``center``, the initial mean ``mu0`` and
    variance ``s0_sq`` and the phase wavenumber ``k0`` are the same for every coordinate.
    ``box`` is the per-axis interval for grid methods and ``grid_points`` the default number of
    grid points per axis for d = 1, 2, 3, 4 (0 where the problem's default grid is not defined).
    """

    name: str
    d: int
    hbar: float
    m: float
    T: float
    n_steps: int
    omega: float
    center: float
    g: float
    s2: float
    mu0: float
    s0_sq: float
    k0: float
    box: tuple[float, float]
    grid_points: tuple[int, ...]
    d_range: tuple[int, int]

    # ----------------------------------------------------------------- time grid
    @property
    def dt(self) -> float:
        return self.T / self.n_steps

    @property
    def times(self) -> np.ndarray:
        """The problem's time grid, ``n_steps + 1`` points from 0 to T."""
        return np.linspace(0.0, self.T, self.n_steps + 1)

    @property
    def has_exact_solution(self) -> bool:
        """Closed-form Gaussian packet exists when there is no interaction."""
        return self.g == 0.0

    @property
    def is_ground_state_start(self) -> bool:
        """Starts in the trap's ground state (so the centre of mass stays in it)."""
        return (
            self.omega > 0
            and self.k0 == 0.0
            and self.mu0 == self.center
            and math.isclose(self.s0_sq, self.hbar / (2 * self.m * self.omega), rel_tol=1e-12)
        )

    @property
    def exchangeable_coordinates(self) -> bool:
        """The one-coordinate marginals are identically distributed, so a moment may be pooled
        over coordinates (``dsm_bench.pooled``). True by construction of this dataclass: the
        trap is isotropic (one omega and one centre), the pair interaction is symmetric under
        permuting coordinates and the initial state is the same in every coordinate (one mu0,
        s0_sq and k0), so H and psi_0 are permutation-symmetric and so is psi(., t) (the
        harmonic packet with or without a phase: i.i.d. coordinates; the bosons: identical
        single-particle marginals). A problem that breaks one of these must return False."""
        return True

    @property
    def diffusion(self) -> float:
        """hbar / m: Nelson's diffusion coefficient (noise variance per unit time at nu = 1)."""
        return self.hbar / self.m

    def config(self) -> dict[str, Any]:
        """A flat, JSON-serialisable description (recorded with every result row)."""
        out = dataclasses.asdict(self)
        out["box"] = list(self.box)
        out["grid_points"] = list(self.grid_points)
        out["d_range"] = list(self.d_range)
        return out

    def default_grid_points(self) -> int:
        """Default grid points per axis for this problem's dimension (grid methods)."""
        if self.d > len(self.grid_points) or self.grid_points[self.d - 1] <= 0:
            raise ValueError(
                f"{self.name}: no default grid for d={self.d}; grid methods support "
                f"d <= {sum(1 for n in self.grid_points if n > 0)} for this problem"
            )
        return self.grid_points[self.d - 1]

    # ----------------------------------------------------------------- potential
    def potential(self, x):
        """V(x) for x of shape (..., d), numpy or torch; returns shape (...)."""
        xp = array_namespace(x)
        v = self.trap_potential(x).sum(-1)
        if self.g != 0.0 and self.d > 1:
            diff = x[..., :, None] - x[..., None, :]
            pair = xp.exp(-(diff**2) / (2 * self.s2)).sum((-1, -2)) - self.d
            # the double sum counts each pair twice and includes the d diagonal terms exp(0) = 1
            v = v + 0.5 * self.g * self._pair_norm * 0.5 * pair
        return v

    def trap_potential(self, x):
        """The one-coordinate trap term 1/2 m omega^2 (x - a)^2 (x any shape): V is the sum of
        it over the coordinates plus the pair interaction, which is what lets a grid method
        split the propagation by axis (``reference.grid.stepper``, method "split")."""
        return 0.5 * self.m * self.omega**2 * (x - self.center) ** 2

    def grad_potential(self, x):
        """grad V(x), shape (..., d), numpy or torch."""
        xp = array_namespace(x)
        grad = self.m * self.omega**2 * (x - self.center)
        if self.g != 0.0 and self.d > 1:
            diff = x[..., :, None] - x[..., None, :]
            dphi = -diff / self.s2 * xp.exp(-(diff**2) / (2 * self.s2)) * self._pair_norm
            # d/dx_i of (g/2) sum_{j != i} phi(x_i - x_j); the diagonal term has diff = 0
            grad = grad + 0.5 * self.g * dphi.sum(-1)
        return grad

    @property
    def _pair_norm(self) -> float:
        return (2 * math.pi * self.s2) ** -0.5

    # ----------------------------------------------------------------- initial state
    def sample_initial(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """n samples of rho_0 = N(mu0, s0^2 I), shape (n, d), float64."""
        rng = np.random.default_rng(seed)
        return self.mu0 + math.sqrt(self.s0_sq) * rng.standard_normal((n, self.d))

    def initial_density(self, x):
        """rho_0(x) for x of shape (..., d)."""
        xp = array_namespace(x)
        z = ((x - self.mu0) ** 2).sum(-1) / self.s0_sq
        return (2 * math.pi * self.s0_sq) ** (-self.d / 2) * xp.exp(-0.5 * z)

    def psi0(self, x):
        """psi_0(x) = sqrt(rho_0) exp(i k0 sum x), complex, for x of shape (..., d)."""
        xp = array_namespace(x)
        amplitude = xp.sqrt(self.initial_density(x))
        phase = self.k0 * x.sum(-1)
        return amplitude * (xp.cos(phase) + 1j * xp.sin(phase))

    def u0(self, x):
        """Initial osmotic velocity u_0 = (hbar/2m) grad log rho_0 = -(hbar/2m)(x - mu0)/s0^2."""
        return -(self.hbar / (2 * self.m)) * (x - self.mu0) / self.s0_sq

    def v0(self, x):
        """Initial current velocity v_0 = (hbar/m) grad S_0 = (hbar/m) k0 (constant)."""
        return 0.0 * x + self.hbar * self.k0 / self.m


# Problem definitions. ``derive`` fills the fields that depend on the (possibly overridden)
# parameters, so that e.g. the bosons' initial state stays the ground state when hbar changes.
@dataclass(frozen=True)
class _Spec:
    description: str
    defaults: dict[str, Any]
    d_range: tuple[int, int]
    derive: Callable[[dict[str, Any]], dict[str, Any]]


def _harmonic_fields(p: dict[str, Any]) -> dict[str, Any]:
    return {"omega": 1.0, "center": 0.1, "mu0": 0.0, "s0_sq": 0.1, "k0": p["phase"], "s2": 0.1}


def _free_singular_fields(p: dict[str, Any]) -> dict[str, Any]:
    # a delta function relaxed to a Gaussian of variance alpha = (hbar/m)^2
    return {"omega": 0.0, "center": 0.0, "mu0": 0.0, "s0_sq": (p["hbar"] / p["m"]) ** 2,
            "k0": p["phase"], "s2": 0.1}


def _bosons_fields(p: dict[str, Any]) -> dict[str, Any]:
    # the non-interacting ground state N(0, hbar / (2 m omega) I)
    return {"omega": 1.0, "center": 0.0, "mu0": 0.0, "s0_sq": p["hbar"] / (2 * p["m"]),
            "k0": p["phase"], "s2": 0.1}


# Default grids (points per axis for d = 1..4) follow the grid rule of thumb in
# docs/problems.md ("Grid rule of thumb"): box half-width >= max_t |mean| + 6 sigma, dx <= pi / k_max;
# the bosons' grids and box are the authors' (100 points at n = 2, 50 at n = 3 on [-1.5, 1.5]),
# a box narrower than the rule at late times (docs/problems.md says by how much).
PROBLEM_SPECS: dict[str, _Spec] = {
    "harmonic_1d": _Spec(
        "1-D harmonic oscillator, trap centre 0.1, wide Gaussian start",
        {"d": 1, "hbar": 1e-2, "m": 1.0, "T": 1.0, "n_steps": 1000, "g": 0.0, "phase": 0.0,
         "box": (-2.0, 2.0), "grid_points": (2048, 256, 160, 32)},
        (1, 1), _harmonic_fields),
    "harmonic_1d_phase": _Spec(
        "harmonic_1d with initial phase S_0 = -5 x",
        {"d": 1, "hbar": 1e-2, "m": 1.0, "T": 1.0, "n_steps": 1000, "g": 0.0, "phase": -5.0,
         "box": (-2.0, 2.0), "grid_points": (2048, 256, 160, 32)},
        (1, 1), _harmonic_fields),
    "harmonic": _Spec(
        "d-dimensional harmonic oscillator, a product of harmonic_1d",
        {"d": 1, "hbar": 1e-2, "m": 1.0, "T": 1.0, "n_steps": 1000, "g": 0.0, "phase": 0.0,
         "box": (-2.0, 2.0), "grid_points": (2048, 256, 160, 32)},
        (1, 100), _harmonic_fields),
    "free_singular": _Spec(
        "free particle from a near-delta Gaussian (variance (hbar/m)^2)",
        {"d": 1, "hbar": 1e-2, "m": 1.0, "T": 1.0, "n_steps": 100, "g": 0.0, "phase": 0.0,
         "box": (-3.5, 3.5), "grid_points": (4096, 0, 0, 0)},
        (1, 1), _free_singular_fields),
    "bosons": _Spec(
        "n 1-D bosons in a harmonic trap with a Gaussian pair interaction",
        {"d": 2, "hbar": 1e-1, "m": 1.0, "T": 1.0, "n_steps": 1000, "g": 1.0, "phase": 0.0,
         "box": (-1.5, 1.5), "grid_points": (100, 100, 50, 24)},
        (2, 100), _bosons_fields),
}

OVERRIDABLE = ("d", "hbar", "m", "g", "phase", "T", "n_steps")


def problem_names() -> list[str]:
    return list(PROBLEM_SPECS)


def get_problem(name: str, **overrides: Any) -> Problem:
    """Build a registered problem, e.g. ``get_problem("harmonic", d=10)``.

    Overridable: d, hbar, m, g, phase (k0 in S_0 = k0 sum_k x_k), T, n_steps.
    Raises ValueError naming the valid choices or the allowed range of a bad value.
    """
    if name not in PROBLEM_SPECS:
        raise ValueError(f"unknown problem {name!r}; valid problems: {', '.join(PROBLEM_SPECS)}")
    spec = PROBLEM_SPECS[name]
    unknown = set(overrides) - set(OVERRIDABLE)
    if unknown:
        raise ValueError(
            f"{name}: cannot override {', '.join(sorted(unknown))}; "
            f"overridable parameters: {', '.join(OVERRIDABLE)}"
        )
    params = dict(spec.defaults)
    params.update({k: v for k, v in overrides.items() if v is not None})
    _validate(name, spec, params)
    fields = spec.derive(params)
    return Problem(
        name=name,
        d=int(params["d"]),
        hbar=float(params["hbar"]),
        m=float(params["m"]),
        T=float(params["T"]),
        n_steps=int(params["n_steps"]),
        g=float(params["g"]),
        box=tuple(float(b) for b in params["box"]),
        grid_points=tuple(int(n) for n in params["grid_points"]),
        d_range=spec.d_range,
        **{k: float(v) for k, v in fields.items()},
    )


def _validate(name: str, spec: _Spec, p: dict[str, Any]) -> None:
    lo, hi = spec.d_range
    d = p["d"]
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not lo <= d <= hi:
        allowed = f"d = {lo}" if lo == hi else f"{lo} <= d <= {hi}"
        raise ValueError(f"{name}: d={d!r} is outside the allowed range ({allowed})")
    for key in ("hbar", "m", "T"):
        value = p[key]
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name}: {key}={value!r} must be a finite number > 0")
    n = p["n_steps"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: n_steps={n!r} must be an integer >= 1")
    for key in ("g", "phase"):
        if not isinstance(p[key], (int, float)) or not math.isfinite(p[key]):
            raise ValueError(f"{name}: {key}={p[key]!r} must be a finite number")
