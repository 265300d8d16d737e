"""A dsm-bench problem plugin: the 1-D Morse oscillator."""

from dsm_bench_morse.problem import Morse

__all__ = ["Morse"]
