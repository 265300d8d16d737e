"""Stand-alone speed measurements (``python -m speed.NAME``), kept out of ``benchmarks/`` so
that asv's discovery imports only its ``bench_*.py`` modules. Each one prints what it
measured; docs/results.md records the figures and the commands."""
