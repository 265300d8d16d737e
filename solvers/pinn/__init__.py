"""Physics-informed neural network (PINN) for the Schrodinger equation, through DeepXDE.

* ``residual``: the equation as two real residuals, and the initial state;
* ``solver``: ``PINNSolver``, the DeepXDE problem and its training (through
  ``solvers.training.TrainingLoop``, driven from a DeepXDE callback in ``callback``);
* ``solution``: ``PINNSolution``, psi from the net and the integrals of |psi|^2.

DeepXDE is imported lazily (``backend``) with ``DDE_BACKEND=pytorch`` forced.
"""

from solvers.pinn.residual import schrodinger_residual
from solvers.pinn.solution import PINNSolution
from solvers.pinn.solver import PINNSolver

__all__ = ["PINNSolution", "PINNSolver", "schrodinger_residual"]
