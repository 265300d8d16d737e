"""t-VMC through NetKet: the seed paper's third method for the interacting bosons.

The time-dependent variational principle moves the parameters theta of psi_theta along

    S theta' = -i F,   S = <O^* O>_c,   F = <O^* E_loc>_c,   O = d log psi / d theta,

with the expectations estimated from Markov-chain samples of |psi|^2 (NetKet's
``MetropolisGaussian``). ``TDVPSchmitt`` regularises the solve by the signal-to-noise ratio of
each eigenmode of S (Schmitt & Heyl, PRL 125, 100503, 2020), as the authors did; ``TDVP`` with
a diagonal shift is the alternative. One fixed step of the integrator is one iteration of
``solvers.training.TrainingLoop``, so the time budget stops the integration at a step.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import netket as nk
import netket.experimental as nkx
import numpy as np
from jax.flatten_util import ravel_pytree

from reference.problems import Problem
from reference.problems.trap import TrappedGaussian
from solvers.base import Budget, Cost, Monitor, Solver, SolverConfigError
from solvers.options import Boolean, Choice, Integer, NoneOr, Option, Real
from solvers.training import TrainingDiverged, TrainingLoop
from solvers.tvmc.ansatz import HermiteJastrow
from solvers.tvmc.solution import TVMCSolution
from solvers.tvmc.units import netket_units

__all__ = ["TVMCSolver"]

INTEGRATORS = {"euler": nkx.dynamics.Euler, "heun": nkx.dynamics.Heun,
               "midpoint": nkx.dynamics.Midpoint, "rk4": nkx.dynamics.RK4}


class TVMCSolver(Solver):
    """t-VMC with the authors' Hermite + Jastrow ansatz (``ansatz.py``) in NetKet."""

    name = "tvmc"
    label = "t-VMC (NetKet)"
    short_label = "t-VMC"
    color = "#E69F00"  # Okabe-Ito orange
    trained = True
    tolerance = 0.25
    option_specs: ClassVar[dict[str, Option]] = {
        "n_max": Option(20, Integer(0, 60), "highest Hermite function of the one-body basis"),
        "jastrow": Option(True, Boolean(), "multiply by the two-body Jastrow table"),
        # not "n_samples": that name is the evaluation's samples per trial (``--set n_samples``)
        "vmc_samples": Option(10_000, Integer(16), "Monte Carlo samples of |psi|^2 per time step"),
        "n_chains": Option(16, Integer(1), "Markov chains (must divide vmc_samples)"),
        "sweep_size": Option(32, Integer(1), "Metropolis moves between two kept samples"),
        "n_discard": Option(100, Integer(0), "samples each chain discards after a step"),
        "sigma": Option(0.1, Real(0, closed="neither"), "width of the Gaussian Metropolis move"),
        "integrator": Option("euler", Choice(*INTEGRATORS), "fixed-step integrator"),
        "dt": Option(None, NoneOr(Real(0, closed="neither")),
                     "time step; none: the problem's (T / n_steps); T / dt must be an integer"),
        "regularization": Option("snr", Choice("snr", "diag_shift"),
                                 "snr: TDVPSchmitt's signal-to-noise cut (the authors'); "
                                 "diag_shift: TDVP with S + diag_shift I"),
        "snr_atol": Option(1.0, Real(0, closed="neither"), "TDVPSchmitt's SNR tolerance"),
        "rcond": Option(1e-14, Real(0, closed="neither"),
                        "TDVPSchmitt's cut of small eigenvalues of S, relative to the largest"),
        "diag_shift": Option(0.0, Real(0), "diagonal shift of S (> 0 with regularization="
                                           "diag_shift; added to TDVPSchmitt's S otherwise)"),
        "sample_oversampling": Option(4, Integer(1),
                                      "proposal draws per returned sample (importance resampling)"),
        "log_every": Option(10, Integer(1), "a history row every this many steps"),
        "seed": Option(0, Integer(0), "seeds the Markov chains and the evaluation samples"),
    }

    def validate(self) -> None:
        o = self.options
        if o["vmc_samples"] % o["n_chains"]:
            raise SolverConfigError(f"tvmc: n_chains={o['n_chains']} must divide "
                                    f"vmc_samples={o['vmc_samples']}")
        if o["regularization"] == "diag_shift" and o["diag_shift"] <= 0:
            raise SolverConfigError("tvmc: regularization='diag_shift' needs diag_shift > 0")

    def supports(self, problem: Problem) -> str | None:
        # the ansatz starts as the product of trap ground states (its Hermite basis is the
        # trap's), which is the bosons' initial state; a phase or another start is not in it
        if not isinstance(problem, TrappedGaussian) or problem.omega <= 0:
            return (f"tvmc needs a harmonic trap with a pair interaction (its basis is the "
                    f"trap's Hermite functions per particle); {problem.name} is not one")
        if not problem.is_ground_state_start:
            return (f"tvmc starts from the trap's ground state; this {problem.name} problem "
                    f"starts elsewhere (mean {problem.mu0:g}, trap centre {problem.center:g}, "
                    f"phase k0={problem.k0:g})")
        return None

    def n_steps(self, problem: Problem) -> tuple[int, float]:
        dt = float(self.options["dt"] or problem.dt)
        steps = round(problem.T / dt)
        if steps < 1 or not math.isclose(steps * dt, problem.T, rel_tol=1e-9):
            raise SolverConfigError(f"tvmc: dt={dt:g} must divide T={problem.T:g}")
        return steps, dt

    def build(self, problem: Problem) -> tuple[Any, Any, Any]:
        """(variational state, Hamiltonian, TDVP driver) in NetKet's units (``units.py``)."""
        o = self.options
        units = netket_units(problem)
        _, dt = self.n_steps(problem)
        hilbert = nkx.hilbert.Particle(N=problem.d, geometry=nkx.geometry.FreeSpace(d=1))
        model = HermiteJastrow(n_max=o["n_max"], scale=units.oscillator_scale,
                               center=problem.center, jastrow=o["jastrow"])
        sampler = nk.sampler.MetropolisGaussian(hilbert, sigma=o["sigma"],
                                                n_chains=o["n_chains"],
                                                sweep_size=o["sweep_size"])
        state = nk.vqs.MCState(sampler, model, n_samples=o["vmc_samples"],
                               n_discard_per_chain=o["n_discard"], seed=o["seed"],
                               sampler_seed=o["seed"] + 1)
        hamiltonian = (nk.operator.KineticEnergy(hilbert, mass=units.mass)
                       + nk.operator.PotentialEnergy(hilbert, units.potential()))
        integrator = INTEGRATORS[o["integrator"]](dt=dt)
        if o["regularization"] == "snr":
            driver = nkx.driver.TDVPSchmitt(hamiltonian, state, integrator, holomorphic=True,
                                            diag_shift=o["diag_shift"], rcond=o["rcond"],
                                            snr_atol=o["snr_atol"])
        else:
            qgt = nk.optimizer.qgt.QGTJacobianDense(holomorphic=True, diag_shift=o["diag_shift"])
            driver = nkx.driver.TDVP(hamiltonian, state, integrator, qgt=qgt)
        return state, hamiltonian, driver

    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> TVMCSolution:
        """Integrate from t = 0 step by step. ``monitor`` is not called: before the end there
        is no state on the whole of [0, T] to score."""
        o = self.options
        steps, dt = self.n_steps(problem)
        target = steps if budget.max_iters is None else min(budget.max_iters, steps)
        state, _, driver = self.build(problem)
        flat, unravel = ravel_pytree(state.parameters)
        parameters = [np.asarray(flat)]
        cost = Cost(n_params=int(state.n_parameters), device="cpu", dtype="complex128",
                    threads=os.cpu_count() or 1)
        energy_unit = problem.hbar
        generator: dict[str, Any] = {}

        def keep_generator(t, log_data, drv) -> bool:
            # NetKet's estimate of <H> at the start of the step (its "loss")
            if "Generator" in log_data:
                generator["stats"] = log_data["Generator"]
            return True

        loop = TrainingLoop("tvmc", target_iters=target, max_seconds=budget.max_seconds,
                            stop_at_target="max_iters" if target < steps else "completed",
                            log_every=o["log_every"], progress=progress, device="cpu")
        with loop:
            while loop.running():
                driver.run(T=dt, out=(), show_progress=False, callback=keep_generator)
                flat = np.asarray(ravel_pytree(state.parameters)[0])
                parameters.append(flat)
                stats = generator["stats"]
                loop.step_done(loop.iteration + 1, {"energy": energy_unit * float(stats.mean.real)},
                               energy_error=energy_unit * float(stats.error_of_mean),
                               r_hat=float(stats.R_hat))
                if not np.isfinite(flat).all():
                    loop.finish_clock()
                    raise TrainingDiverged(f"tvmc: the parameters are not finite after step "
                                           f"{loop.iteration} (t={loop.iteration * dt:g}); "
                                           "lower dt or raise vmc_samples")
            loop.finish(cost)
        model = state.model
        return TVMCSolution(problem, cost, loop.history(),
                            log_psi=lambda p, x: model.apply({"params": p}, x), unravel=unravel,
                            parameters=parameters, dt=dt, seed=o["seed"],
                            oversampling=o["sample_oversampling"])
