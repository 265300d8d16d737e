"""Solver options are declared with the constraints of ``reference.options`` (the same ones
problems use); this module keeps the import path that solvers and plugins already use."""

from reference.options import (  # noqa: F401
    AnyOf,
    Boolean,
    Choice,
    Constraint,
    DeclaredOptions,
    Integer,
    IntRange,
    LogUniform,
    NoneOr,
    Option,
    Real,
    RunPath,
    Space,
    Text,
    Uniform,
    __all__,  # noqa: F401
    constrains_run_path,
    describe_options,
    describe_spaces,
)
