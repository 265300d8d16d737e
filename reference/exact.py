"""Closed-form references: the Gaussian packet and the bosons' centre-of-mass law.

Gaussian packet (harmonic trap V = 1/2 m w^2 (x - a)^2 per coordinate, or free for w = 0),
started from rho_0 = N(mu0, s0^2), S_0 = k x. Per coordinate, rho(., t) = N(mu(t), s(t)^2):

    mu(t)   = a + (mu0 - a) cos(w t) + (hbar k / (m w)) sin(w t)
    s(t)^2  = s0^2 cos^2(w t) + (hbar / (2 m w s0))^2 sin^2(w t)
    u(x, t) = -(hbar / 2m) (x - mu(t)) / s(t)^2                       (osmotic velocity)
    v(x, t) = mu'(t) + (s'(t) / s(t)) (x - mu(t))                      (current velocity)

and for w -> 0: mu(t) = mu0 + (hbar k / m) t, s(t)^2 = s0^2 + (hbar t / (2 m s0))^2.
The wave function is psi = sqrt(rho) exp(i S) with

    S(x, t) = (m / hbar) [mu'(t) (x - mu) + (s' / 2s) (x - mu)^2] + theta(t),

whose global phase theta follows from the quantum Hamilton-Jacobi equation at x = mu:
hbar theta' = m mu'^2 / 2 - V(mu) - hbar^2 / (4 m s^2) per coordinate.

All functions take numpy arrays or torch tensors: x of shape (..., d) and t a scalar or an
array broadcastable to x[..., 0]. They require a problem without interaction (g = 0).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from reference.arrays import array_namespace, like


class Packet(Protocol):
    """What these closed forms read of a problem (``reference.problems.trap.TrappedGaussian``
    is one): a harmonic trap (omega, centre a), a Gaussian start (mu0, s0^2, k0), the pair
    interaction g, which must be 0 for the packet formulas."""

    d: int
    hbar: float
    m: float
    omega: float
    center: float
    mu0: float
    s0_sq: float
    k0: float
    s2: float

    @property
    def g(self) -> float: ...

    @property
    def has_exact_solution(self) -> bool: ...

    def replace(self, **attributes) -> Packet: ...

__all__ = [
    "ExactReference",
    "gaussian_packet_mean",
    "gaussian_packet_mean_velocity",
    "gaussian_packet_variance",
    "gaussian_packet_width_rate",
    "gaussian_packet_density",
    "osmotic_velocity",
    "current_velocity",
    "wavefunction",
    "center_of_mass_mean",
    "center_of_mass_variance",
    "initial_energy",
    "brownian_spreading_variance",
    "diagonal_covariance",
]


def _require_exact(problem: Packet) -> None:
    if not problem.has_exact_solution:
        raise ValueError(
            f"{problem.name}: no closed-form solution with interaction g={problem.g}; "
            "use the grid reference (reference.grid) for d <= 3"
        )


def _xp_t(t):
    xp = array_namespace(t)
    if xp is np:
        t = np.asarray(t, dtype=float)
    return xp, t


def _packet_constants(problem: Packet, t) -> tuple[float, float, float]:
    """(A, B, c): mu - a = A cos wt + B sin wt and c = hbar / (2 m w s0) (harmonic case); A is
    per coordinate where the start's mean is, as ``t``'s kind of array."""
    w, m, hbar = problem.omega, problem.m, problem.hbar
    s0 = math.sqrt(problem.s0_sq)
    shift = problem.mu0 - problem.center
    if np.ndim(shift) > 0:
        shift = like(shift, t)
    return shift, hbar * problem.k0 / (m * w), hbar / (2 * m * w * s0)


def gaussian_packet_mean(problem: Packet, t):
    """mu(t), the mean of every coordinate (same shape as t)."""
    _require_exact(problem)
    xp, t = _xp_t(t)
    w = problem.omega
    if w == 0.0:
        return problem.mu0 + problem.hbar * problem.k0 / problem.m * t
    A, B, _ = _packet_constants(problem, t)
    return problem.center + A * xp.cos(w * t) + B * xp.sin(w * t)


def gaussian_packet_mean_velocity(problem: Packet, t):
    """mu'(t)."""
    _require_exact(problem)
    xp, t = _xp_t(t)
    w = problem.omega
    if w == 0.0:
        return problem.hbar * problem.k0 / problem.m + 0.0 * t
    A, B, _ = _packet_constants(problem, t)
    return w * (-A * xp.sin(w * t) + B * xp.cos(w * t))


def gaussian_packet_variance(problem: Packet, t):
    """s(t)^2, the variance of every coordinate (same shape as t)."""
    _require_exact(problem)
    xp, t = _xp_t(t)
    w, s0_sq = problem.omega, problem.s0_sq
    if w == 0.0:
        return s0_sq + (problem.hbar * t / (2 * problem.m)) ** 2 / s0_sq
    _, _, c = _packet_constants(problem, t)
    return s0_sq * xp.cos(w * t) ** 2 + c**2 * xp.sin(w * t) ** 2


def gaussian_packet_width_rate(problem: Packet, t):
    """s'(t) / s(t) = (d/dt s^2) / (2 s^2)."""
    _require_exact(problem)
    xp, t = _xp_t(t)
    w, s0_sq = problem.omega, problem.s0_sq
    if w == 0.0:
        dvar = 2 * t * (problem.hbar / (2 * problem.m)) ** 2 / s0_sq
    else:
        _, _, c = _packet_constants(problem, t)
        dvar = w * (c**2 - s0_sq) * xp.sin(2 * w * t)
    return dvar / (2 * gaussian_packet_variance(problem, t))


def _global_phase(problem: Packet, t):
    """theta(t) per coordinate, from hbar theta' = m mu'^2/2 - V(mu) - hbar^2/(4 m s^2)."""
    xp, t = _xp_t(t)
    w, m, hbar = problem.omega, problem.m, problem.hbar
    s0 = math.sqrt(problem.s0_sq)
    if w == 0.0:
        v0 = hbar * problem.k0 / m
        gouy = xp.atan(hbar * t / (2 * m * problem.s0_sq))
        return 0.5 * m * v0**2 * t / hbar - 0.5 * gouy
    A, B, c = _packet_constants(problem, t)
    # integral of m/2 (mu'^2 - w^2 (mu - a)^2) dt
    classical = 0.25 * m * w * ((B**2 - A**2) * xp.sin(2 * w * t) + 2 * A * B * (xp.cos(2 * w * t) - 1))
    # integral of hbar^2 / (4 m s^2) dt = hbar * phi / 2 with phi the unwrapped angle of
    # (s0 cos wt, c sin wt): the Gouy phase
    phi = xp.atan2(c * xp.sin(w * t), s0 * xp.cos(w * t))
    phi = phi + 2 * math.pi * xp.floor((w * t + math.pi) / (2 * math.pi))
    return classical / hbar - 0.5 * phi


def _per_coordinate_t(x, t):
    """Broadcast t (scalar or shape x.shape[:-1]) against x (..., d)."""
    xp = array_namespace(x, t)
    if xp is np:
        t = np.asarray(t, dtype=float)
    if getattr(t, "ndim", 0) > 0:
        t = t[..., None]
    return xp, t


def gaussian_packet_density(problem: Packet, x, t):
    """rho(x, t), the joint density, shape x.shape[:-1]."""
    xp, tt = _per_coordinate_t(x, t)
    mu, var = gaussian_packet_mean(problem, tt), gaussian_packet_variance(problem, tt)
    log_rho = -0.5 * ((x - mu) ** 2 / var + xp.log(2 * math.pi * var))
    return xp.exp(log_rho.sum(-1))


def osmotic_velocity(problem: Packet, x, t):
    """u(x, t) = (hbar/2m) grad log rho = -(hbar/2m)(x - mu(t)) / s(t)^2, shape of x."""
    _, tt = _per_coordinate_t(x, t)
    mu, var = gaussian_packet_mean(problem, tt), gaussian_packet_variance(problem, tt)
    return -(problem.hbar / (2 * problem.m)) * (x - mu) / var


def current_velocity(problem: Packet, x, t):
    """v(x, t) = (hbar/m) grad S = mu'(t) + (s'/s)(x - mu(t)), shape of x."""
    _, tt = _per_coordinate_t(x, t)
    mu = gaussian_packet_mean(problem, tt)
    return gaussian_packet_mean_velocity(problem, tt) + gaussian_packet_width_rate(problem, tt) * (
        x - mu
    )


def wavefunction(problem: Packet, x, t):
    """psi(x, t) = sqrt(rho) exp(i S), complex, shape x.shape[:-1]."""
    xp, tt = _per_coordinate_t(x, t)
    mu = gaussian_packet_mean(problem, tt)
    dmu = gaussian_packet_mean_velocity(problem, tt)
    rate = gaussian_packet_width_rate(problem, tt)
    phase = (problem.m / problem.hbar) * (dmu * (x - mu) + 0.5 * rate * (x - mu) ** 2)
    phase = (phase + _global_phase(problem, tt)).sum(-1)
    amplitude = xp.sqrt(gaussian_packet_density(problem, x, t))
    return amplitude * (xp.cos(phase) + 1j * xp.sin(phase))


def brownian_spreading_variance(problem: Packet, t):
    """s0^2 + (hbar/m) t: the variance of Brownian spreading, which the authors' free-particle
    notebook compared against. It is NOT the Schrodinger solution; reported for comparison."""
    return problem.s0_sq + problem.hbar / problem.m * np.asarray(t, dtype=float)


# ---------------------------------------------------------------- bosons: exact at any n
def center_of_mass_mean(problem: Packet, t):
    """E[X_c](t), X_c = mean_i x_i. The interaction depends on differences only, so X_c moves as
    a single particle of mass n m in the trap (Kohn's theorem)."""
    return gaussian_packet_mean(_center_of_mass_packet(problem), t)


def center_of_mass_variance(problem: Packet, t):
    """Var X_c(t); from the ground state it stays hbar / (2 n m w) (0.05 / n for the bosons)."""
    return gaussian_packet_variance(_center_of_mass_packet(problem), t)


def _center_of_mass_packet(problem: Packet) -> Packet:
    """The centre of mass of a product Gaussian start is a Gaussian packet with mass n m, mean
    the mean of the mu0's, variance s0^2 / n and wavenumber n k0 (S_0 = k0 sum x = n k0 X_c)."""
    if problem.omega == 0.0 and problem.g != 0.0:
        raise ValueError("centre-of-mass law needs a harmonic trap or no interaction")
    n = problem.d
    return problem.replace(d=1, m=n * problem.m, s0_sq=problem.s0_sq / n, k0=n * problem.k0,
                           mu0=float(np.mean(problem.mu0)), options={**problem.options, "g": 0.0})


def diagonal_covariance(var: np.ndarray) -> np.ndarray:
    """The covariance matrices (n_times, d, d) of independent coordinates with variances
    ``var`` (n_times, d)."""
    var = np.asarray(var, dtype=float)
    out = np.zeros(var.shape + var.shape[-1:])
    idx = np.arange(var.shape[-1])
    out[:, idx, idx] = var
    return out


def initial_energy(problem: Packet) -> float:
    """E(0) = <psi_0|H|psi_0> for the Gaussian start, with interaction:

    d [hbar^2/(8 m s0^2) + m (hbar k0/m)^2 / 2 + m w^2 (s0^2 + (mu0 - a)^2) / 2]
      + (g/2) C(d, 2) (2 pi (s2 + 2 s0^2))^(-1/2)

    (the pair interaction averaged over x_i - x_j ~ N(0, 2 s0^2)); for the bosons' ground-state
    start this is n hbar w / 2 + (g/2) C(n, 2) (2 pi (s2 + 0.1))^(-1/2).
    """
    p = problem
    per_coordinate = (
        p.hbar**2 / (8 * p.m * p.s0_sq)
        + 0.5 * p.m * (p.hbar * p.k0 / p.m) ** 2
        + 0.5 * p.m * p.omega**2 * (p.s0_sq + (p.mu0 - p.center) ** 2)
    )
    pairs = p.d * (p.d - 1) / 2
    interaction = 0.5 * p.g * pairs * (2 * math.pi * (p.s2 + 2 * p.s0_sq)) ** -0.5
    # a start displaced per coordinate (harmonic_active) gives one term per coordinate
    total = p.d * per_coordinate if np.ndim(per_coordinate) == 0 else float(np.sum(per_coordinate))
    return total + interaction


class ExactReference:
    """The exact solution of a non-interacting problem, exposed like a density Solution:
    ``moments``, ``marginal_density``, ``marginal_quantile``, ``drift``, ``sample_density``."""

    def __init__(self, problem: Packet):
        _require_exact(problem)
        self.problem = problem

    def moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var), each of shape (n_times, d)."""
        t = np.asarray(times, dtype=float)[:, None] * np.ones(self.problem.d)
        return gaussian_packet_mean(self.problem, t), gaussian_packet_variance(self.problem, t)

    def center_of_mass_moments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(times, dtype=float)
        return center_of_mass_mean(self.problem, t), center_of_mass_variance(self.problem, t)

    def covariance(self, times: np.ndarray) -> np.ndarray:
        """Covariance matrix of x, (n_times, d, d): diagonal, since without interaction the
        packet is a product of independent coordinates."""
        return diagonal_covariance(self.moments(times)[1])

    def marginal_density(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """1-D marginal densities on the points x, shape (n_times, d, len(x))."""
        mean, var = self.moments(times)
        z = (np.asarray(x)[None, None, :] - mean[..., None]) ** 2 / var[..., None]
        return np.exp(-0.5 * z) / np.sqrt(2 * math.pi * var[..., None])

    def marginal_quantile(self, q: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Quantile function of every 1-D marginal at levels q, shape (n_times, d, len(q))."""
        from scipy.special import ndtri

        mean, var = self.moments(times)
        return mean[..., None] + np.sqrt(var)[..., None] * ndtri(np.asarray(q))[None, None, :]

    def drift(self, x, t):
        return osmotic_velocity(self.problem, x, t), current_velocity(self.problem, x, t)

    def sample_density(self, n: int, t: float, seed: int | np.random.Generator = 0) -> np.ndarray:
        """n samples of rho(., t), shape (n, d)."""
        rng = np.random.default_rng(seed)
        mu = gaussian_packet_mean(self.problem, t)
        s = math.sqrt(gaussian_packet_variance(self.problem, t))
        return mu + s * rng.standard_normal((n, self.problem.d))

    def energy(self, times: np.ndarray) -> np.ndarray:
        """Conserved: E(t) = E(0) for all t."""
        return np.full(len(np.asarray(times)), initial_energy(self.problem))
