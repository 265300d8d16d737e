"""Problems: what is solved. One file per problem, each a subclass of ``Problem`` (the
contract, ``reference.problems.base``); ``get_problem("harmonic", d=10)`` builds one from the
registry (``reference.problems.registry``), built in or a plugin."""

from reference.problems.base import Problem, ProblemConfigError, standard_options
from reference.problems.gaussian_start import GaussianStart
from reference.problems.registry import (
    ENTRY_POINT_GROUP,
    ProblemPluginError,
    get_problem,
    problem_class,
    problem_names,
    problem_option_names,
    register_problem,
    register_problems_in,
)

__all__ = ["ENTRY_POINT_GROUP", "GaussianStart", "Problem", "ProblemConfigError",
           "ProblemPluginError", "get_problem", "problem_class", "problem_names",
           "problem_option_names", "register_problem", "register_problems_in",
           "standard_options"]
