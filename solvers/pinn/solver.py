"""PINNSolver: the Schrodinger equation as a DeepXDE problem, trained with Adam then L-BFGS.

A network N(x, t) -> (Re psi, Im psi) on the box ``problem.box`` (per axis) x [0, T] is
trained to make the two real residuals (``solvers.pinn.residual``) vanish, with
psi(x, 0) = psi_0(x) (as a loss term, or exactly through the output transform
psi = psi_0(x) + t N(x, t) when ``hard_initial_condition``) and zero Dirichlet walls on the box.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reference.problems import Problem
from solvers.base import Budget, Cost, Monitor, Solver, SolverConfigError
from solvers.options import Boolean, Choice, Constraint, Integer, IntRange, LogUniform, Option, Real
from solvers.pinn.backend import import_deepxde
from solvers.pinn.callback import loop_callback
from solvers.pinn.laplacian import HVP_MODES, LAPLACIANS, resolve_laplacian
from solvers.pinn.residual import psi0_parts, psi0_parts_differentiable, schrodinger_residual
from solvers.pinn.solution import INTEGRATIONS, PINNSolution
from solvers.training import TrainingLoop

__all__ = ["PINNSolver"]

ACTIVATIONS = ("tanh", "sin", "sigmoid", "swish", "silu", "gelu", "elu", "selu", "relu")
# the option's spellings -> DeepXDE's initializer names
INITIALIZERS = {
    "glorot_normal": "Glorot normal",
    "glorot_uniform": "Glorot uniform",
    "he_normal": "He normal",
    "he_uniform": "He uniform",
    "lecun_normal": "LeCun normal",
    "lecun_uniform": "LeCun uniform",
}
DISTRIBUTIONS = ("auto", "pseudo", "uniform", "Hammersley", "LHS", "Halton", "Sobol")
LOSS_TERMS_SOFT = ["pde_re", "pde_im", "wall_re", "wall_im", "initial_re", "initial_im"]
LOSS_TERMS_HARD = ["pde_re", "pde_im", "wall_re", "wall_im"]
LR_SCHEDULES = ("constant", "cosine")
# cosine annealing ends the Adam phase at this fraction of lr
COSINE_FLOOR = 0.01


@dataclass(frozen=True)
class TorchDevice(Constraint):
    """auto (cuda when available), cpu, cuda or cuda:N."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and (value in ("auto", "cpu", "cuda")
                                           or re.fullmatch(r"cuda:\d+", value) is not None)

    def describe(self) -> str:
        return "one of auto, cpu, cuda, cuda:N"


POSITIVE = Real(0, closed="neither")


class PINNSolver(Solver):
    """PINN (DeepXDE, PyTorch backend) for any problem of the registry.

    The defaults (64 x 4 tanh, hard initial condition, 2000 domain points, Adam 1000
    iterations then L-BFGS) leave the wall budget to end training. L-BFGS lowers the residual
    faster than Adam, but a small residual does not pin down the slowly moving mean at
    hbar = 1e-2, so the moment errors need not follow the loss (docs/results.md).
    """

    name = "pinn"
    label = "PINN (DeepXDE)"
    short_label = "PINN"
    color = "#D55E00"  # Okabe-Ito vermillion
    trained = True
    tolerance = 0.25  # unconverged at smoke budgets: errors move with the machine's speed
    option_specs = {
        "width": Option(64, Integer(1), "hidden units per layer", space=IntRange(16, 256, log=True)),
        "depth": Option(4, Integer(1), "hidden layers", space=IntRange(2, 6)),
        "activation": Option("tanh", Choice(*ACTIVATIONS), "hidden activation",
                             space=Choice("tanh", "sin", "swish")),
        "initializer": Option("glorot_normal", Choice(*INITIALIZERS), "weight initializer"),
        "num_domain": Option(2000, Integer(1), "collocation points inside the space-time box",
                             space=IntRange(500, 8000, log=True)),
        "num_initial": Option(400, Integer(0), "points at t = 0 (soft initial condition only)"),
        "num_boundary": Option(200, Integer(0), "points on the walls"),
        "train_distribution": Option(
            "auto", Choice(*DISTRIBUTIONS),
            "how points are drawn; auto: Hammersley for d <= 3 without resampling, else pseudo"),
        "resample_every": Option(0, Integer(0), "redraw the domain points every N iterations "
                                                "(0: never)"),
        "iterations": Option(1000, Integer(0), "Adam iterations",
                             space=IntRange(100, 10_000, log=True)),
        "lr": Option(1e-3, POSITIVE, "Adam's learning rate", space=LogUniform(1e-4, 1e-2)),
        "lr_schedule": Option("constant", Choice(*LR_SCHEDULES),
                              "Adam's learning rate over its iterations; cosine: annealed to "
                              f"{COSINE_FLOOR:g} lr at the last Adam iteration",
                              space=Choice(*LR_SCHEDULES)),
        "laplacian": Option("auto", Choice(*LAPLACIANS),
                            "auto: exact for d <= 10, else hutchinson; hutchinson: k Rademacher "
                            "probes; sdgd: k random coordinates scaled by d/k"),
        "laplacian_k": Option(1, Integer(1), "probes (hutchinson) or coordinates (sdgd) per "
                                             "residual evaluation, 1 <= k <= d"),
        # reverse_over_reverse reuses the gradient DeepXDE already holds for d_t psi: 1.6x
        # cheaper than torch.func's forward-over-reverse at d = 100 (docs/pinn.md)
        "laplacian_hvp": Option("reverse_over_reverse", Choice(*HVP_MODES),
                                "how a stochastic Laplacian's Hessian-vector products are "
                                "computed (autograd on DeepXDE's gradient, or torch.func "
                                "forward-over-reverse on the net)"),
        "causal_eps": Option(0.0, Real(0), "causal time weighting: w_i = exp(-eps * sum of the "
                                           "earlier slices' residual losses) (0: off)"),
        "causal_slices": Option(16, Integer(2), "time slices of the causal weighting"),
        "lbfgs": Option(20_000, Integer(0), "L-BFGS iterations after Adam (0: none)"),
        "lbfgs_chunk": Option(50, Integer(2), "L-BFGS iterations between budget checks "
                                              "(>= 2: DeepXDE reads a 1-iteration step as converged)"),
        "precision": Option("float32", Choice("float32", "float64"), "network dtype"),
        "device": Option("auto", TorchDevice(), "torch device; auto: cuda when available"),
        "seed": Option(0, Integer(0), "seed of the weights, the points and importance sampling"),
        "hard_initial_condition": Option(True, Boolean(), "psi = psi_0 + t N(x, t): the initial "
                                                          "condition holds exactly"),
        "pde_weight": Option("auto", Choice("auto") | POSITIVE,
                             "weight of the residual losses; auto: (T / hbar)^2"),
        "log_every": Option(100, Integer(1), "loss history period (Adam iterations)"),
        "integration": Option("auto", Choice(*INTEGRATIONS),
                              "auto: grid for d <= 3, importance sampling above"),
        "grid_points": Option(0, Integer(0), "evaluation grid cells per axis (0: by dimension)"),
        "is_samples": Option(10_000, Integer(1), "importance-sampling draws per time"),
        "is_proposal_scale": Option(1.0, POSITIVE, "proposal std / the packet's std"),
        "marginal_samples": Option(128, Integer(1), "draws per importance-sampled marginal"),
        "marginal_points": Option(129, Integer(1), "nodes of an importance-sampled marginal"),
        "threads": Option(0, Integer(0), "torch threads (0: leave as is)"),
    }

    def validate(self) -> None:
        if self.options["num_initial"] == 0 and not self.options["hard_initial_condition"]:
            raise SolverConfigError(
                "pinn: num_initial=0 needs hard_initial_condition=true (no initial condition)")

    def laplacian(self, problem: Problem) -> tuple[str, int]:
        """(estimator, k) used on ``problem``; SolverConfigError when k does not fit its d."""
        method = resolve_laplacian(self.options["laplacian"], problem.d)
        k = self.options["laplacian_k"]
        if method != "exact" and not 1 <= k <= problem.d:
            raise SolverConfigError(
                f"pinn: laplacian_k={k} must be in [1, d={problem.d}] for laplacian={method} "
                f"(valid laplacian: {', '.join(LAPLACIANS)})")
        return method, (problem.d if method == "exact" else k)

    # ------------------------------------------------------------------ helpers
    def resolved_device(self) -> str:
        import torch

        device = str(self.options["device"])
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SolverConfigError(f"pinn: device={device!r} but CUDA is not available")
        return device

    def train_distribution(self, problem: Problem) -> str:
        dist = self.options["train_distribution"]
        if dist != "auto":
            return dist
        # "uniform" builds a 2^d grid and Sobol fails above 40 inputs; quasi-random sequences
        # are deterministic, so resampling them would redraw the same points
        return "Hammersley" if problem.d <= 3 and self.options["resample_every"] == 0 else "pseudo"

    def pde_weight(self, problem: Problem) -> float:
        """The residuals are O(hbar |psi| / T) against O(|psi|) for the walls and the initial
        condition; (T / hbar)^2 balances the squared losses."""
        weight = self.options["pde_weight"]
        return (problem.T / problem.hbar) ** 2 if weight == "auto" else float(weight)

    def iteration_plan(self, max_iters: int | None) -> tuple[int, int]:
        """(Adam, L-BFGS) iterations: the options, cut to the budget's max_iters."""
        n_adam, n_lbfgs = self.options["iterations"], self.options["lbfgs"]
        if max_iters is not None:
            n_adam = min(n_adam, int(max_iters))
            n_lbfgs = min(n_lbfgs, int(max_iters) - n_adam)
        return n_adam, n_lbfgs

    def build(self, problem: Problem) -> tuple[Any, list[str]]:
        """The DeepXDE model (data + net, not compiled) and its loss-term names."""
        dde = import_deepxde()
        o = self.options
        d = problem.d
        lo, hi = problem.box
        space = dde.geometry.Interval(lo, hi) if d == 1 else dde.geometry.Hypercube(
            [lo] * d, [hi] * d)
        geomtime = dde.geometry.GeometryXTime(space, dde.geometry.TimeDomain(0.0, problem.T))

        def wall(x, on_boundary):
            return on_boundary

        def zero(x):
            return np.zeros((len(x), 1))

        conditions = [dde.icbc.DirichletBC(geomtime, zero, wall, component=c) for c in (0, 1)]
        hard = o["hard_initial_condition"]
        if not hard:
            def initial_part(component: int):
                return lambda x: psi0_parts(problem, x[:, :d])[component][:, None]

            conditions += [
                dde.icbc.IC(geomtime, initial_part(c), lambda _, on_initial: on_initial,
                            component=c)
                for c in (0, 1)
            ]

        net = dde.nn.FNN([d + 1] + [o["width"]] * o["depth"] + [2], o["activation"],
                         INITIALIZERS[o["initializer"]])
        method, k = self.laplacian(problem)

        def pde(x, y):
            return schrodinger_residual(problem, x, y, laplacian=method, k=k, net=net,
                                        hvp=o["laplacian_hvp"],
                                        causal_eps=o["causal_eps"],
                                        causal_slices=o["causal_slices"])

        data = dde.data.TimePDE(
            geomtime, pde, conditions,
            num_domain=o["num_domain"],
            num_boundary=o["num_boundary"],
            num_initial=0 if hard else o["num_initial"],
            train_distribution=self.train_distribution(problem),
        )
        if hard:
            def transform(x, y):
                # psi = psi_0(x) + t N(x, t): the initial condition holds exactly
                import torch

                re0, im0 = psi0_parts_differentiable(problem, x[:, :d])
                t = x[:, d:d + 1]
                return t * y + torch.stack([re0, im0], dim=1)

            net.apply_output_transform(transform)
        terms = LOSS_TERMS_HARD if hard else LOSS_TERMS_SOFT
        return dde.Model(data, net), terms

    # ------------------------------------------------------------------ fit
    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> PINNSolution:
        import torch

        o = self.options
        self.laplacian(problem)  # k against d: a configuration error before any work
        dde = import_deepxde()
        device = self.resolved_device()
        previous = (torch.get_default_device(), torch.get_default_dtype(), torch.get_num_threads())
        if o["threads"]:
            torch.set_num_threads(o["threads"])
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                dde.config.set_default_float(o["precision"])
                dde.config.set_random_seed(o["seed"])
            torch.set_default_device(device)
            return self._fit(problem, dde, device, budget, monitor, progress)
        finally:
            torch.set_default_device(previous[0])
            torch.set_default_dtype(previous[1])
            torch.set_num_threads(previous[2])

    def _fit(self, problem: Problem, dde: Any, device: str, budget: Budget,
             monitor: Monitor | None, progress: bool) -> PINNSolution:
        o = self.options
        model, terms = self.build(problem)
        weights = [self.pde_weight(problem)] * 2 + [1.0] * (len(terms) - 2)
        n_adam, n_lbfgs = self.iteration_plan(budget.max_iters)
        cut = n_adam + n_lbfgs < o["iterations"] + o["lbfgs"]
        loop = TrainingLoop(
            f"pinn {problem.name} d={problem.d}", target_iters=n_adam + n_lbfgs,
            max_seconds=budget.max_seconds,
            stop_at_target="max_iters" if cut else "completed",
            # DeepXDE decides the log cadence (display_every): a row at every step with losses
            log_every=1, progress=progress,
            monitor=monitor, monitor_every=budget.monitor_every or 0,
            snapshot=lambda: self.solution(problem, model.net, Cost(iters=loop.iteration), None,
                                           device),
            after_pause=model.net.train, device=device,
            monitor_at_start=True,  # DeepXDE reports the untrained net as iteration 0
        )
        hook = loop_callback(loop, terms)

        def callbacks() -> list:
            if not o["resample_every"]:
                return [hook]
            return [hook, dde.callbacks.PDEPointResampler(period=o["resample_every"])]

        with contextlib.redirect_stdout(io.StringIO()):
            decay = (("cosine", max(n_adam, 1), COSINE_FLOOR * o["lr"])
                     if o["lr_schedule"] == "cosine" else None)
            model.compile("adam", lr=o["lr"], loss_weights=weights, decay=decay, verbose=0)
            with loop:
                if n_adam > 0:
                    model.train(iterations=n_adam, display_every=o["log_every"],
                                callbacks=callbacks(), verbose=0)
                if n_lbfgs > 0 and not loop.should_stop:
                    dde.optimizers.set_LBFGS_options(maxiter=n_lbfgs)
                    # the torch backend computes these only at import (min(1000, maxiter)): set
                    # them so that the budget is consulted every lbfgs_chunk iterations (the last
                    # chunk may overshoot n_lbfgs by < lbfgs_chunk; cost.iters counts them)
                    chunk = min(o["lbfgs_chunk"], n_lbfgs)
                    dde.optimizers.config.LBFGS_options["iter_per_step"] = chunk
                    dde.optimizers.config.LBFGS_options["fun_per_step"] = int(1.25 * chunk)
                    model.compile("L-BFGS", loss_weights=weights, verbose=0)
                    model.train(display_every=o["log_every"], callbacks=callbacks(), verbose=0)
        cost = loop.finish(Cost(n_params=sum(p.numel() for p in model.net.parameters()),
                                device=device, dtype=o["precision"]))
        return self.solution(problem, model.net, cost, _history(loop, terms), device)

    def solution(self, problem: Problem, net: Any, cost: Cost, history: pd.DataFrame | None,
                 device: str) -> PINNSolution:
        o = self.options
        net.eval()
        return PINNSolution(
            problem, cost, history, net,
            device=device, dtype=o["precision"], integration=o["integration"],
            grid_points=o["grid_points"], is_samples=o["is_samples"], is_seed=o["seed"],
            is_proposal_scale=o["is_proposal_scale"], marginal_samples=o["marginal_samples"],
            marginal_points=o["marginal_points"],
            config=self.config(),
        )

    @classmethod
    def variant_label(cls, options: dict[str, Any], context: dict[str, Any] | None = None
                      ) -> str:
        """The Laplacian estimator and its k as one phrase: "SDGD Laplacian (k = 16)"."""
        rest, every = dict(options), {**(context or {}), **options}
        parts = []
        if rest.pop("laplacian", None) is not None or "laplacian_k" in options:
            rest.pop("laplacian_k", None)
            method = every.get("laplacian")
            name = {"sdgd": "SDGD", "hutchinson": "Hutchinson"}.get(method, method)
            parts.append(f"{name} Laplacian" + (f" (k = {every.get('laplacian_k')})"
                                                if method in ("sdgd", "hutchinson") else ""))
        # the importance-sampled moments above d = 3: how many draws per time and per marginal
        if rest.get("is_samples") is not None:
            parts.append(f"{rest.pop('is_samples'):,} IS draws")
        if rest.get("marginal_samples") is not None:
            parts.append(f"{rest.pop('marginal_samples')} draws per marginal")
        return ", ".join(p for p in (*parts, super().variant_label(rest)) if p)


def _history(loop: TrainingLoop, terms: list[str]) -> pd.DataFrame:
    """The loop's rows with the columns iter, wall_s, loss_<term>..., loss, monitor values."""
    frame = loop.history()
    first = ["iter", "wall_s"] + [f"loss_{name}" for name in terms] + ["loss"]
    return frame.reindex(columns=first + [c for c in frame.columns if c not in first])
