"""Solver registry: the built-ins, installed plugins and plugin files or modules.

A solver reaches the registry by one of four routes, and then every command, the asv
benchmarks and the report know it:

* built in: a line in ``BUILTIN`` (imported lazily, so that listing solvers or running the
  grid does not import torch or DeepXDE);
* an installed package's entry point in the group ``dsm_bench.solvers``
  (``name = "package.module:Class"``);
* ``--plugin path/to/file.py`` on the command line (``load_plugin``);
* a suite's ``plugins = ["package.module"]`` (``load_plugin`` too).

A plugin that fails to import or breaks the interface raises ``PluginError`` naming the
plugin and what is wrong; the command line turns it into exit status 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from reference.plugins import Registry
from reference.problems import ProblemConfigError, register_problems_in
from solvers.base import Solver, SolverConfigError
from solvers.options import Option

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "PluginError", "get_solver", "interface_problems",
           "load_plugin", "register", "solver_class", "solver_names", "unavailable_reason"]

ENTRY_POINT_GROUP = "dsm_bench.solvers"

BUILTIN: dict[str, str] = {
    "grid": "solvers.grid:GridSolver",
    "dsm": "solvers.dsm:DSMSolver",
    "oracle": "solvers.oracle:OracleSolver",
    "pinn": "solvers.pinn:PINNSolver",
    "tvmc": "solvers.tvmc:TVMCSolver",
}
# built-ins whose dependencies come with a pip extra (``pip install -e ".[tvmc]"``): without
# it they are listed as unavailable and their suite rows are infeasible
OPTIONAL: dict[str, str] = {"tvmc": "tvmc"}

_PLUGINS: dict[str, list[str]] = {}  # plugin spec -> the names it registered (imported once)


class PluginError(SolverConfigError):
    """A plugin could not be imported, or its solver breaks the interface."""


def interface_problems(cls: Any) -> list[str]:
    """What is wrong with a solver class (empty when it honours ``solvers.base.Solver``)."""
    if not (inspect.isclass(cls) and issubclass(cls, Solver)):
        return [f"{cls!r} is not a subclass of solvers.base.Solver"]
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        problems.append(f"name must be an identifier string (got {name!r})")
    if not isinstance(getattr(cls, "label", None), str) or not cls.label:
        problems.append("label must be a non-empty string")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        problems.append(f"does not implement {missing}")
    elif cls.solution_class() is None:
        problems.append("fit must declare the Solution class it returns, a subclass of "
                        "solvers.base.SamplerSolution or DensitySolution (def fit(...) -> "
                        "MySolution)")
    elif inspect.isabstract(cls.solution_class()):
        solution = cls.solution_class()
        missing = ", ".join(sorted(solution.__abstractmethods__))
        problems.append(f"its Solution {solution.__name__} does not implement {missing}")
    if not isinstance(cls.option_specs, dict) or not all(
            isinstance(v, Option) for v in cls.option_specs.values()):
        problems.append("option_specs must map option names to solvers.options.Option")
    tolerance = getattr(cls, "tolerance", None)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        problems.append(f"tolerance must be a number >= 0 (got {tolerance!r})")
    for flag in ("is_floor", "is_reference", "deterministic", "trained"):
        if not isinstance(getattr(cls, flag, None), bool):
            problems.append(f"{flag} must be true or false")
    return problems


# a built-in's missing optional extra (ImportError) is the caller's: listed as unavailable
_SOLVERS = Registry("solver", ENTRY_POINT_GROUP, BUILTIN, faults=interface_problems,
                    error=PluginError, unknown=SolverConfigError, passthrough=(ImportError,))


def register(cls: type[Solver], origin: str = "registered in code") -> type[Solver]:
    """Add a solver class (checked against the interface) under ``cls.name``."""
    return _SOLVERS.register(cls, origin)


def load_plugin(spec: str | Path) -> list[str]:
    """Import a plugin, a ``.py`` file or a dotted module name, once per process, and register
    every solver and problem class defined in it. Returns the names registered."""
    text = str(spec)
    if text in _PLUGINS:
        return _PLUGINS[text]
    module = _import_plugin(text)
    origin = f"plugin {text}"
    try:
        problems = register_problems_in(module, origin)
    except ProblemConfigError as exc:
        raise PluginError(str(exc)) from None
    classes = _SOLVERS.classes_in(module, Solver)
    if not classes and not problems:
        raise PluginError(f"{origin} defines no solver (a subclass of solvers.base.Solver "
                          "with a name) and no problem (a subclass of "
                          "reference.problems.Problem with a name)")
    _PLUGINS[text] = [*(register(cls, origin).name for cls in classes), *problems]
    return _PLUGINS[text]


def _import_plugin(text: str) -> Any:
    """The plugin's module; PluginError naming the plugin for any failure, an exit or a
    KeyboardInterrupt raised by its code included."""
    origin = f"plugin {text}"
    try:
        if text.endswith(".py") or Path(text).is_file():
            path = Path(text).resolve()
            if not path.is_file():
                raise PluginError(f"{origin}: no such file")
            module_name = f"dsm_bench_plugin_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise PluginError(f"{origin}: not an importable Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(text)
    except PluginError:
        raise
    except SystemExit as exc:
        raise PluginError(f"{origin} called sys.exit({exc.code!r}) while importing") from None
    except KeyboardInterrupt:
        raise PluginError(f"{origin} raised KeyboardInterrupt while importing") from None
    except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, named as such
        raise PluginError(f"{origin} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def solver_names() -> list[str]:
    return _SOLVERS.names()


def solver_class(name: str) -> type[Solver]:
    """The class registered under ``name``, imported on first use. An entry point or a
    built-in that cannot be imported raises ImportError; one that imports but breaks the
    interface raises PluginError."""
    return _SOLVERS.get(name)


def unavailable_reason(name: str) -> str | None:
    """None when the solver imports; else why not (a missing optional dependency)."""
    try:
        solver_class(name)
    except ImportError as exc:
        return str(exc)
    return None


def get_solver(name: str, **options: Any) -> Solver:
    return solver_class(name)(**options)
