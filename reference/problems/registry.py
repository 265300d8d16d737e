"""Problem registry: the built-ins, installed plugins and plugin files or modules, by the
routes solvers use (``solvers.registry``):

* built in: a line in ``BUILTIN`` (imported on first use);
* an installed package's entry point in the group ``dsm_bench.problems``
  (``name = "package.module:Class"``);
* ``--plugin path/to/file.py`` or a suite's ``plugins = [...]``: ``solvers.load_plugin``
  registers every problem class a plugin defines (``register_problems_in``).

A problem that breaks the contract (``reference.problems.base.contract_faults``) raises
``ProblemPluginError`` naming the plugin and the fault; the command line exits 2.
"""

from __future__ import annotations

from typing import Any

from reference.plugins import Registry
from reference.problems.base import Problem, ProblemConfigError, contract_faults

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "ProblemPluginError", "get_problem", "problem_class",
           "problem_names", "problem_option_names", "register_problem", "register_problems_in"]

ENTRY_POINT_GROUP = "dsm_bench.problems"

BUILTIN: dict[str, str] = {
    "harmonic_1d": "reference.problems.harmonic_1d:Harmonic1D",
    "harmonic_1d_phase": "reference.problems.harmonic_1d_phase:Harmonic1DPhase",
    "harmonic": "reference.problems.harmonic:Harmonic",
    "free_singular": "reference.problems.free_singular:FreeSingular",
    "bosons": "reference.problems.bosons:Bosons",
    "anharmonic": "reference.problems.anharmonic:Anharmonic",
    "double_well": "reference.problems.double_well:DoubleWell",
    "double_well_rotated": "reference.problems.double_well_rotated:DoubleWellRotated",
    "cat": "reference.problems.cat:Cat",
    "harmonic_active": "reference.problems.harmonic_active:HarmonicActive",
    "henon_heiles": "reference.problems.henon_heiles:HenonHeiles",
    "box_well": "reference.problems.box_well:BoxWell",
    "soft_coulomb": "reference.problems.soft_coulomb:SoftCoulomb",
}


class ProblemPluginError(ProblemConfigError):
    """A problem plugin could not be imported, or its problem breaks the contract."""


# built-ins are checked by the tests, not on every import (the cat samples its start)
_PROBLEMS = Registry("problem", ENTRY_POINT_GROUP, BUILTIN, faults=contract_faults,
                     error=ProblemPluginError, unknown=ProblemConfigError, check_builtin=False)


def register_problem(cls: type[Problem], origin: str = "registered in code") -> type[Problem]:
    """Add a problem class, checked against the contract, under ``cls.name``."""
    return _PROBLEMS.register(cls, origin)


def register_problems_in(module: Any, origin: str) -> list[str]:
    """Register every problem class a plugin module defines (or exports in ``__all__``);
    returns their names."""
    return [register_problem(cls, origin).name for cls in _PROBLEMS.classes_in(module, Problem)]


def problem_names() -> list[str]:
    return _PROBLEMS.names()


def problem_class(name: str) -> type[Problem]:
    """The class registered under ``name``, imported on first use."""
    return _PROBLEMS.get(name)


def get_problem(name: str, **overrides: Any) -> Problem:
    """Build a registered problem, e.g. ``get_problem("harmonic", d=10)``. Raises
    ProblemConfigError (a ValueError) naming the valid choices or range of a bad value."""
    return problem_class(name)(**overrides)


def problem_option_names() -> list[str]:
    """Every option name of every registered problem (what ``--set`` routes to a problem)."""
    names: dict[str, None] = {}
    for name in problem_names():
        try:
            names.update(dict.fromkeys(problem_class(name).option_specs))
        except ProblemPluginError:
            continue  # a broken plugin is reported where it is used
    return list(names)
