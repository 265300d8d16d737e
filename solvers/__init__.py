"""Solvers: ``get_solver("dsm", width=400)``. See ``solvers.registry`` for how a solver,
built in or a plugin, is found."""

from solvers.base import (
    Budget,
    Cost,
    DensitySolution,
    SamplerSolution,
    Solution,
    SolutionContractError,
    Solver,
    SolverConfigError,
    UnsupportedProblem,
)
from solvers.registry import (
    PluginError,
    get_solver,
    load_plugin,
    register,
    solver_class,
    solver_names,
    unavailable_reason,
)

__all__ = ["Budget", "Cost", "DensitySolution", "PluginError", "SamplerSolution", "Solution",
           "SolutionContractError", "Solver", "SolverConfigError", "UnsupportedProblem",
           "get_solver", "load_plugin", "register", "solver_class", "solver_names",
           "unavailable_reason"]
