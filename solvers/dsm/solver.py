"""DSMSolver: the options, the training epoch and the fit through ``solvers.training``.

An epoch (one training iteration):

1. simulate B paths of Nelson's process with the current networks and take P = B (M + 1)
   training points along them (``solvers.dsm.points``);
2. one Adam step on the loss of ``solvers.dsm.equations`` at those points, the gradient
   accumulated over chunks of points (``chunk_points``).
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, ClassVar

import torch

from reference.problems import Problem
from solvers.base import Budget, Cost, Monitor, Solver, SolverConfigError
from solvers.dsm.activations import ACTIVATIONS
from solvers.dsm.checkpoint import resume_training, save_training
from solvers.dsm.equations import initial_condition_loss, loss_terms, rademacher_probes
from solvers.dsm.networks import DTYPES, DSMNetworks, build_networks
from solvers.dsm.points import training_points
from solvers.dsm.solution import DSMSolution
from solvers.options import Boolean, Choice, Integer, IntRange, LogUniform, Option, Real, RunPath
from solvers.training import TrainingLoop

__all__ = ["CPU_CHUNK_POINTS", "DSMSolver"]

# "auto" chunk on a CPU: passes over a few thousand points keep their (points, width) tensors
# near the cache, which is faster than one pass over all points (figures: docs/results.md)
CPU_CHUNK_POINTS = 2048


class DSMSolver(Solver):
    """Deep Stochastic Mechanics (Orlova et al., ICML 2024).

    Networks u_theta, v_theta trained on the stochastic-mechanics equations at points of their
    own simulated Nelson paths; the solution samples Nelson's process with the learned drift
    v + nu u. The defaults are the authors' setting (width 400, depth 2, tanh, B = 100 paths,
    M = 150 times)."""

    name = "dsm"
    label = "DSM"
    short_label = "DSM"
    color = "#0072B2"  # Okabe-Ito blue
    trained = True
    # float reorderings between machines grow over the iterations: 10 % on top of sampling
    tolerance = 0.10
    option_specs: ClassVar[dict[str, Option]] = {
        "width": Option(400, Integer(1), "hidden units per layer of each network",
                        space=IntRange(16, 512, log=True)),
        "depth": Option(2, Integer(1), "hidden layers of each network", space=IntRange(1, 4)),
        "activation": Option("tanh", Choice(*ACTIVATIONS),
                             "hidden activation (smooth: the loss takes third derivatives)",
                             space=Choice(*ACTIVATIONS)),
        "epochs": Option(1000, Integer(1),
                         "training iterations, one simulated batch each (unless max_iters)"),
        "batch": Option(100, Integer(1), "B: paths simulated per epoch",
                        space=IntRange(25, 400, log=True)),
        "M": Option(150, Integer(1), "training times per path: P = B (M + 1) points an epoch",
                    space=IntRange(20, 200, log=True)),
        "lr": Option(1e-3, Real(0, closed="neither"), "Adam's learning rate (at the start)",
                     space=LogUniform(1e-4, 1e-2)),
        "lr_schedule": Option("cosine", Choice("cosine", "constant"),
                              "cosine: lr down to lr * lr_decay over the budget; constant"),
        "lr_decay": Option(0.01, Real(0, 1, closed="right"),
                           "the cosine schedule's last learning rate, as a fraction of lr"),
        "weight_u": Option(1.0, Real(0), "weight of the u equation's loss term"),
        "weight_v": Option(1.0, Real(0), "weight of the v equation's loss term"),
        "weight_ic": Option(1.0, Real(0), "weight of the initial-condition term (ic='loss')"),
        # "uniform", not "none": the command line reads --set key=none as None
        "time_weighting": Option("authors", Choice("authors", "uniform"),
                                 "authors: exp(2(T - t)) - 1 (u), exp(T - t) - 1 (v); uniform"),
        "ic": Option("built_in", Choice("built_in", "loss"),
                     "built_in: u = u_0 + t N_u, v = v_0 + t N_v; loss: an MSE term at t = 0"),
        "nu": Option(1.0, Real(0, closed="neither"),
                     "noise of the process dX = (v + nu u) dt + sqrt(nu hbar/m) dW"),
        "dtype": Option("float32", Choice(*DTYPES), "floating-point type of networks and paths"),
        "device": Option("auto", Choice("auto", "cpu", "cuda"), "auto: cuda when available"),
        "threads": Option(0, Integer(0), "torch CPU threads (0: torch's default)"),
        "seed": Option(0, Integer(0), "seeds the initial weights and every random draw"),
        "scheme": Option("interpolated", Choice("interpolated", "grid"),
                         "training times: a random-length step from M steps, or M grid times"),
        "grad_div": Option("exact", Choice("exact", "hutchinson"),
                           "grad div u, grad div v: exact, or Hutchinson's random-probe trace",
                           space=Choice("exact", "hutchinson")),
        "hutchinson_probes": Option(1, Integer(1), "k: probes per point for grad_div='hutchinson'"),
        "full_jacobian": Option(False, Boolean(),
                                "plain autograd, one pass per component (the slow reference)"),
        "chunk_points": Option("auto", Choice("auto") | Integer(0),
                               f"points per backward pass (0: all; auto: {CPU_CHUNK_POINTS} on "
                               "a CPU, all on CUDA)"),
        "checkpoint": Option("", RunPath(),
                             "training checkpoint, resumed when it exists ('': none)"),
        "checkpoint_every": Option(0, Integer(0), "iterations between checkpoints (0: at the end)"),
        "log_every": Option(10, Integer(1), "iterations between history rows"),
        "sample_batch": Option(65536, Integer(1), "paths simulated at once when sampling"),
    }

    def validate(self) -> None:
        if self.options["device"] == "cuda" and not torch.cuda.is_available():
            raise SolverConfigError("dsm: device='cuda' but CUDA is not available; "
                                    "valid values here: auto, cpu")

    def supports(self, problem: Problem) -> str | None:
        # the authors' weight exp(2 (T - t)) - 1 of the u residual overflows the dtype at
        # t = 0 beyond this horizon: every loss would be inf
        if self.options["time_weighting"] == "authors":
            horizon = math.log(torch.finfo(DTYPES[self.options["dtype"]]).max) / 2
            if problem.T > horizon:
                return (f"the authors' time weighting exp(2 (T - t)) overflows "
                        f"{self.options['dtype']} for T > {horizon:.0f} (T = {problem.T:g}); "
                        "use time_weighting='uniform'")
        return None

    def device(self) -> torch.device:
        if self.options["device"] == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.options["device"])

    def build(self, problem: Problem) -> DSMNetworks:
        """The untrained networks (seeded), on the configured device and dtype.

        Warns when width < d: the Jacobian of an MLP, W_out diag(act') ... W_1, has rank at
        most its narrowest layer, so such a net cannot represent a velocity field whose
        gradient has full rank d, e.g. the harmonic oscillator's u = -a(t) x (J_u = -a(t) I).
        """
        if self.options["width"] < problem.d:
            warnings.warn(
                f"dsm: width={self.options['width']} < d={problem.d}: the networks' Jacobians "
                f"have rank <= {self.options['width']}, so they cannot represent a velocity "
                f"field with a full-rank gradient (the harmonic oscillator's u = -a(t) x); "
                f"use width >= d", UserWarning, stacklevel=2)
        torch.manual_seed(int(self.options["seed"]))
        return build_networks(problem, self.options).to(
            device=self.device(), dtype=DTYPES[self.options["dtype"]])

    def learning_rate(self, fraction: float) -> float:
        """The learning rate at ``fraction`` of the budget: cosine from lr to lr * lr_decay,
        or constant."""
        o = self.options
        if o["lr_schedule"] == "constant":
            return float(o["lr"])
        fraction = min(max(fraction, 0.0), 1.0)
        floor = o["lr"] * o["lr_decay"]
        return float(floor + 0.5 * (o["lr"] - floor) * (1 + math.cos(math.pi * fraction)))

    def fit(self, problem: Problem, budget: Budget, monitor: Monitor | None,
            progress: bool) -> DSMSolution:
        """Train for ``budget.max_iters`` epochs (``epochs`` when None), or until
        ``budget.max_seconds`` of training."""
        o = self.options
        target = budget.max_iters if budget.max_iters is not None else int(o["epochs"])
        if o["threads"]:
            torch.set_num_threads(int(o["threads"]))
        device = self.device()

        nets = self.build(problem)
        optimizer = torch.optim.Adam(nets.parameters(), lr=o["lr"])
        generator = torch.Generator(device=device)
        generator.manual_seed(int(o["seed"]))
        state = dict(problem=problem, options=o, nets=nets, optimizer=optimizer,
                     generator=generator)
        iteration, train_s, rows = 0, 0.0, []
        path = o["checkpoint"]
        if path and os.path.exists(path):
            iteration, train_s, rows = resume_training(path, device=device, **state)

        cost = Cost(device=str(device), dtype=o["dtype"], threads=torch.get_num_threads(),
                    n_params=sum(p.numel() for p in nets.parameters()))
        solution = DSMSolution(problem, cost, None, nets, o)

        def snapshot() -> DSMSolution:
            solution.history = loop.history()
            return solution

        def save(iteration: int, train_s: float, rows: list[dict[str, Any]]) -> None:
            save_training(path, iteration=iteration, train_s=train_s, rows=rows, cost=cost,
                          **state)

        loop = TrainingLoop(
            "dsm", target_iters=target, max_seconds=budget.max_seconds,
            stop_at_target="max_iters" if budget.max_iters is not None else "completed",
            log_every=o["log_every"],
            # the NaN check brings the losses to the host: free on a CPU, a sync on CUDA
            check_every=1 if device.type == "cpu" else o["log_every"],
            progress=progress, monitor=monitor,
            monitor_every=budget.monitor_every or 0, snapshot=snapshot,
            after_pause=nets.train, checkpoint=save if path else None,
            checkpoint_every=o["checkpoint_every"], device=str(device), start_iter=iteration,
            start_seconds=train_s, history=rows)
        with loop:
            while loop.running():
                lr = self.learning_rate(loop.fraction())
                for group in optimizer.param_groups:
                    group["lr"] = lr
                losses = self.epoch(nets, optimizer, generator)
                loop.step_done(loop.iteration + 1, losses, lr=lr)
            loop.finish(cost)
        solution.history = loop.history()
        nets.eval()
        return solution

    def epoch(self, nets: DSMNetworks, optimizer: torch.optim.Optimizer,
              generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One training iteration: fresh training points, one Adam step; the loss terms
        (0-d tensors, not yet on the host)."""
        o, problem = self.options, nets.problem
        param = next(nets.parameters())
        nets.eval()
        x, t = training_points(nets, problem, n_paths=o["batch"], n_times=o["M"], nu=o["nu"],
                               scheme=o["scheme"], generator=generator, dtype=param.dtype,
                               device=param.device)
        nets.train()
        optimizer.zero_grad(set_to_none=True)
        n = x.shape[0]
        chunk = o["chunk_points"]
        if chunk == "auto":
            chunk = CPU_CHUNK_POINTS if param.device.type == "cpu" else n
        chunk = chunk or n
        totals: dict[str, torch.Tensor] = {}
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            probes = None
            if o["grad_div"] == "hutchinson":
                probes = rademacher_probes(o["hutchinson_probes"], x[lo:hi], generator)
            terms = loss_terms(nets, x[lo:hi], t[lo:hi], probes=probes,
                               time_weighting=o["time_weighting"],
                               full_jacobian=o["full_jacobian"])
            # every term is a mean over points: weight a chunk by its share of the points
            share = (hi - lo) / n
            ((o["weight_u"] * terms["loss_u"] + o["weight_v"] * terms["loss_v"]) * share).backward()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v.detach() * share
        if o["ic"] == "loss":
            # once over all start points (the first B of x), not per chunk: most chunks hold
            # none, and a mean over none is NaN
            loss_ic = initial_condition_loss(nets, x[: o["batch"]])
            (o["weight_ic"] * loss_ic).backward()
            totals["loss_ic"] = loss_ic.detach()
        optimizer.step()
        return totals

    @classmethod
    def variant_label(cls, options: dict[str, Any], context: dict[str, Any] | None = None
                      ) -> str:
        """grad_div and its probes as one phrase: "exact grad div", "Hutchinson (2 probes)"."""
        rest, every = dict(options), {**(context or {}), **options}
        parts = []
        if rest.pop("grad_div", None) is not None or "hutchinson_probes" in options:
            rest.pop("hutchinson_probes", None)
            k = every.get("hutchinson_probes")
            parts.append(f"Hutchinson ({k} probe{'' if k == 1 else 's'})"
                         if every.get("grad_div") == "hutchinson" else "exact grad div")
        return ", ".join(p for p in (*parts, super().variant_label(rest)) if p)


# every option with a fixed set of values (the command line must pass each through unchanged)
_CHOICES: dict[str, tuple[Any, ...]] = {
    key: spec.constraint.values for key, spec in DSMSolver.option_specs.items()
    if isinstance(spec.constraint, Choice)
}
