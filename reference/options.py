"""Declared options of solvers and problems, validated once (in the style of scikit-learn's
``_parameter_constraints``).

A solver declares each option once, with its default, its constraint and one line of help::

    options = {
        "width": Option(400, Integer(1), "hidden units per layer"),
        "lr": Option(1e-3, Real(0, closed="neither"), "Adam's learning rate"),
        "activation": Option("tanh", Choice("tanh", "relu"), "hidden activation"),
        "chunk_points": Option("auto", Choice("auto") | Integer(0), "points per backward pass"),
    }

``Solver.__init__`` checks every value against its constraint; the command line's error
messages and ``dsm-bench list --solver NAME`` are generated from the same declarations.

An option may also declare the range ``dsm-bench tune`` searches (``space=``): a
``LogUniform`` or ``Uniform`` interval, an ``IntRange`` or a ``Choice``; every value of the
space must satisfy the option's constraint. Only options with a space are tuned::

    "lr": Option(1e-3, Real(0, closed="neither"), "Adam's learning rate",
                 space=LogUniform(1e-4, 1e-2)),
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Boolean", "Choice", "Constraint", "DeclaredOptions", "IntRange", "Integer",
           "LogUniform", "NoneOr", "Option", "Real", "RunPath", "Space", "Text", "Uniform",
           "constrains_run_path", "describe_options", "describe_spaces"]


class Constraint:
    """A set of valid values: ``accepts(value)`` and a phrase naming them (``describe``)."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __or__(self, other: Constraint) -> Constraint:
        return AnyOf(self, other)


@dataclass(frozen=True)
class AnyOf(Constraint):
    first: Constraint
    second: Constraint

    def accepts(self, value: Any) -> bool:
        return self.first.accepts(value) or self.second.accepts(value)

    def describe(self) -> str:
        return f"{self.first.describe()} or {self.second.describe()}"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bounds(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer in [low, high] (either end may be None: unbounded). Floats are refused,
    also integral ones: ``max_iters=1.5`` must not be truncated."""

    low: int | None = None
    high: int | None = None

    def accepts(self, value: Any) -> bool:
        return (_is_int(value) and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def describe(self) -> str:
        if self.high is None and self.low is not None:
            return f"an integer >= {self.low}"
        return f"an integer in {_bounds(self.low, self.high, 'both')}"


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number in an interval; ``closed``: both | left | right | neither."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if not _is_real(value) or not math.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        if self.high is None and self.low is not None:
            op = ">=" if self.closed in ("both", "left") else ">"
            return f"a number {op} {self.low:g}"
        return f"a number in {_bounds(self.low, self.high, self.closed)}"


@dataclass(frozen=True, init=False)
class Choice(Constraint):
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) if not isinstance(v, str) else v for v in self.values)


@dataclass(frozen=True)
class Boolean(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Text(Constraint):
    """Any string (a path, a free label)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return "a string"


@dataclass(frozen=True)
class RunPath(Text):
    """A file the run writes (a checkpoint): a string that must resolve inside the results
    directory. A relative path is relative to it (a run's process starts there); the harness
    refuses one that escapes (``..``, an absolute path elsewhere) before anything runs. ''
    means none."""

    def describe(self) -> str:
        return "a path inside the results directory ('' for none)"


def constrains_run_path(constraint: Constraint) -> bool:
    """Whether ``constraint`` admits a ``RunPath`` (alone, or combined with ``|`` / NoneOr)."""
    if isinstance(constraint, RunPath):
        return True
    if isinstance(constraint, AnyOf):
        return constrains_run_path(constraint.first) or constrains_run_path(constraint.second)
    if isinstance(constraint, NoneOr):
        return constrains_run_path(constraint.inner)
    return False


@dataclass(frozen=True)
class NoneOr(Constraint):
    """None (the solver picks a value itself) or a value the inner constraint accepts."""

    inner: Constraint

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def describe(self) -> str:
        return f"none or {self.inner.describe()}"


@dataclass(frozen=True)
class Uniform:
    """A search space (``dsm-bench tune``): a real number drawn uniformly in [low, high]."""

    low: float
    high: float
    log = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"{type(self).__name__}({self.low!r}, {self.high!r}): need "
                             f"{'0 < ' if self.log else ''}low < high")

    def ends(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def describe(self) -> str:
        return f"{'log-' if self.log else ''}uniform in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class LogUniform(Uniform):
    """A real number whose logarithm is uniform in [log low, log high] (a learning rate)."""

    log = True


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high], log-spaced when ``log`` (a width)."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if not (_is_int(self.low) and _is_int(self.high) and self.low < self.high):
            raise ValueError(f"IntRange({self.low!r}, {self.high!r}): need integers low < high")

    def ends(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def describe(self) -> str:
        return f"{'log-spaced ' if self.log else ''}integer in [{self.low}, {self.high}]"


Space = Uniform | IntRange | Choice


@dataclass(frozen=True)
class Option:
    """A solver option: its default, its constraint, what it means and, where it is tuned,
    the space ``dsm-bench tune`` searches (every value of it valid under the constraint)."""

    default: Any
    constraint: Constraint
    help: str = ""
    space: Space | None = None

    def __post_init__(self) -> None:
        if self.space is None:
            return
        values = self.space.values if isinstance(self.space, Choice) else self.space.ends()
        bad = [v for v in values if not self.constraint.accepts(v)]
        if bad:
            raise ValueError(f"search space {self.space.describe()} holds {bad[0]!r}, which "
                             f"is not {self.constraint.describe()}")

    def check(self, solver: str, name: str, value: Any) -> str | None:
        """None when ``value`` is valid, else the message that names the valid values."""
        if self.constraint.accepts(value):
            return None
        return f"{solver}: {name}={value!r} must be {self.constraint.describe()}"


def describe_options(options: dict[str, Option]) -> list[tuple[str, str, str, str]]:
    """(name, default, valid values, help) per option, for ``dsm-bench list --solver``."""
    return [(name, repr(opt.default), opt.constraint.describe(), opt.help)
            for name, opt in options.items()]


def describe_spaces(options: dict[str, Option]) -> list[tuple[str, str, str]]:
    """(name, default, search space) per tuned option, for ``dsm-bench list --solver``."""
    return [(name, repr(opt.default), opt.space.describe())
            for name, opt in options.items() if opt.space is not None]


class DeclaredOptions:
    """A class whose options are declared once, in ``option_specs``: ``defaults`` derive
    from them, and an instance merges and checks what it is given (``_merged_options``,
    ``_check_options``), raising the subclass's error with the message that names the valid
    values."""

    name: ClassVar[str]
    option_specs: ClassVar[dict[str, Option]] = {}
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "option_specs" in cls.__dict__:
            cls.defaults = {key: spec.default for key, spec in cls.option_specs.items()}

    def _merged_options(self, given: dict[str, Any], error: type[Exception],
                        unknown: Callable[[list[str]], str]) -> dict[str, Any]:
        """The defaults updated by ``given``; ``error(unknown(names))`` for undeclared ones."""
        extra = sorted(set(given) - set(self.defaults))
        if extra:
            raise error(unknown(extra))
        return {**self.defaults, **given}

    def _check_options(self, values: dict[str, Any], error: type[Exception]) -> None:
        """Each declared option's value against its constraint."""
        for key, spec in self.option_specs.items():
            fault = spec.check(self.name, key, values[key])
            if fault is not None:
                raise error(fault)
