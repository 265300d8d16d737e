"""dsm-bench plugin: the split-step Fourier (Strang) solver, registered as ``splitstep``."""

from dsm_bench_splitstep.solver import SplitStepSolver

__all__ = ["SplitStepSolver"]
