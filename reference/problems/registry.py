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

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

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
    "cat": "reference.problems.cat:Cat",
    "harmonic_active": "reference.problems.harmonic_active:HarmonicActive",
}

_REGISTRY: dict[str, str | type[Problem]] = {}
_ORIGIN: dict[str, str] = {}
_DISCOVERED = False


class ProblemPluginError(ProblemConfigError):
    """A problem plugin could not be imported, or its problem breaks the contract."""


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for name, target in BUILTIN.items():
        _REGISTRY.setdefault(name, target)
        _ORIGIN.setdefault(name, "built in")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            continue  # a built-in name is not replaced by an installed package
        _REGISTRY.setdefault(ep.name, ep.value)
        _ORIGIN.setdefault(ep.name, f"entry point {ep.name} = {ep.value} "
                                    f"({ep.dist.name if ep.dist else 'installed package'})")


def register_problem(cls: type[Problem], origin: str = "registered in code") -> type[Problem]:
    """Add a problem class, checked against the contract, under ``cls.name``."""
    _discover()
    faults = contract_faults(cls)
    if faults:
        raise ProblemPluginError(f"problem {getattr(cls, '__name__', cls)!r} from {origin}: "
                                 + "; ".join(faults))
    existing = _REGISTRY.get(cls.name)
    if (existing is not None and existing is not cls and _ORIGIN.get(cls.name) != origin
            and not (isinstance(existing, str) and _same_class(existing, cls))):
        raise ProblemPluginError(f"problem name {cls.name!r} from {origin} is already taken by "
                                 f"{_ORIGIN.get(cls.name)}")
    if not isinstance(existing, str):  # an entry point keeps its origin when a suite names it
        _ORIGIN[cls.name] = origin
    _REGISTRY[cls.name] = cls
    return cls


def _same_class(target: str, cls: type) -> bool:
    """Whether an entry point's "module:Class" names ``cls`` (an installed plugin that a suite
    also names in its plugins list)."""
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr) is cls
    except Exception:  # noqa: BLE001 - a target that does not import is another class
        return False


def register_problems_in(module: Any, origin: str) -> list[str]:
    """Register every problem class a plugin module defines (or exports in ``__all__``);
    returns their names."""
    exported = set(getattr(module, "__all__", ()))
    classes = [obj for key, obj in vars(module).items()
               if inspect.isclass(obj) and issubclass(obj, Problem) and "name" in obj.__dict__
               and (obj.__module__ == module.__name__ or key in exported)]
    return [register_problem(cls, origin).name for cls in classes]


def problem_names() -> list[str]:
    _discover()
    return list(_REGISTRY)


def problem_class(name: str) -> type[Problem]:
    """The class registered under ``name``, imported on first use."""
    _discover()
    if name not in _REGISTRY:
        raise ProblemConfigError(f"unknown problem {name!r}; valid problems: {', '.join(_REGISTRY)}")
    target = _REGISTRY[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # noqa: BLE001 - an installed plugin's failure, named as such
            raise ProblemPluginError(f"problem {name!r} ({_ORIGIN[name]}) failed to import: "
                                     f"{type(exc).__name__}: {exc}") from exc
        faults = contract_faults(cls) if _ORIGIN[name] != "built in" else []
        if not faults and getattr(cls, "name", None) != name:
            faults = [f"its class declares name {getattr(cls, 'name', None)!r}"]
        if faults:
            raise ProblemPluginError(f"problem {name!r} ({_ORIGIN[name]}): " + "; ".join(faults))
        _REGISTRY[name] = cls
        target = cls
    return target


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
