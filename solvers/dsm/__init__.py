"""Deep Stochastic Mechanics (Orlova et al., ICML 2024) in torch.

Two networks give the osmotic and current velocities u_theta(x, t), v_theta(x, t) in R^d.
Training repeats: simulate B paths of Nelson's process dX = (v + nu u) dt + sqrt(nu hbar/m) dW
from rho_0 with the current networks, take training points along them, and take an Adam step
on the mean squared residuals of the stochastic-mechanics equations for u and v.

    activations.py  smooth activations with their derivatives, and cheaper folded forms
    networks.py     the two MLPs and their forward-mode derivative passes
    drift.py        the fused, buffered drift v + nu u for path simulation
    equations.py    the residuals of the equations for u and v, and the loss
    points.py       training points from a rollout of Nelson's process
    checkpoint.py   the solution file and training checkpoints
    solution.py     DSMSolution: samples Nelson's process with the learned drift
    solver.py       DSMSolver: options, the epoch, the fit through ``solvers.training``

Module constants that tune a path (``equations.TAYLOR_MAX_D``) are read from their module.
"""

from solvers.dsm.activations import ACTIVATIONS, SECOND_ORDER, folded_form
from solvers.dsm.equations import loss_terms, residuals, residuals_autograd
from solvers.dsm.networks import DSMNetworks
from solvers.dsm.points import training_points
from solvers.dsm.solution import DSMSolution
from solvers.dsm.solver import _CHOICES as _CHOICES  # read by tests/test_cli.py
from solvers.dsm.solver import CPU_CHUNK_POINTS, DSMSolver

__all__ = [
    "ACTIVATIONS",
    "CPU_CHUNK_POINTS",
    "SECOND_ORDER",
    "DSMNetworks",
    "DSMSolution",
    "DSMSolver",
    "folded_form",
    "loss_terms",
    "residuals",
    "residuals_autograd",
    "training_points",
]
