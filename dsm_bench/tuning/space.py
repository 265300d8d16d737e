"""The search spaces solvers declare on their options (``Option(..., space=...)``), as
Optuna suggestions. Only options with a declared space are tuned; a solver without any
(the grid, the oracle) is not tuned at all."""

from __future__ import annotations

from typing import Any

from reference.options import Choice, IntRange, Option, Space, Uniform

__all__ = ["declared_spaces", "suggest"]


def declared_spaces(option_specs: dict[str, Option]) -> dict[str, Space]:
    """option -> its declared space, in declaration order."""
    return {name: spec.space for name, spec in option_specs.items() if spec.space is not None}


def suggest(trial: Any, option_specs: dict[str, Option]) -> dict[str, Any]:
    """The options a trial (``optuna.Trial``) tries: one draw from every declared space, as
    plain Python values (a suite TOML and a config hash take them unchanged)."""
    params: dict[str, Any] = {}
    for name, space in declared_spaces(option_specs).items():
        if isinstance(space, Choice):
            value = trial.suggest_categorical(name, list(space.values))
        elif isinstance(space, IntRange):
            value = trial.suggest_int(name, space.low, space.high, log=space.log)
        elif isinstance(space, Uniform):
            value = trial.suggest_float(name, float(space.low), float(space.high), log=space.log)
        else:
            raise TypeError(f"{name}: not a search space: {space!r} (use LogUniform, Uniform, "
                            "IntRange or Choice)")
        params[name] = value.item() if hasattr(value, "item") else value
    return params
