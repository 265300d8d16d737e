"""Pooled errors and the excess over the floor of a results directory, without re-running.

    python -m reports.rescore RESULTS_DIR [--problem harmonic] [--csv OUT.csv]

Reads the table and the artifacts' per-trial moments (``trial_mean``, ``trial_var``; rows
scored before they were stored have none and show "–") and prints, per (problem, d, solver,
variant), the per-trial var_err and mean_err beside the pooled ones and the excess over the
floor with its 95 % bootstrap interval (``reports.excess``; definitions in docs/metrics.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports.data import aggregate, load_results
from reports.excess import add_excess
from reports.tables import format_excess, format_number

COLUMNS = ("var_err", "var_err_pooled", "mean_err", "mean_err_pooled", "w1_err", "w1_err_pooled")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--problem", help="only this problem")
    parser.add_argument("--csv", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    results = load_results(args.results_dir)
    agg = add_excess(aggregate(results.table, results.styles), results)
    if args.problem:
        agg = agg[agg["problem"] == args.problem]
    agg = agg[agg["n_ok"] > 0]
    header = ["problem", "d", "solver", *COLUMNS, "var excess [95% CI]", "mean excess [95% CI]"]
    lines = [header]
    for row in agg.to_dict("records"):
        label = results.styles.label(row["solver"], row["variant"])
        lines.append([row["problem"], str(int(row["d"])), label,
                      *[format_number(row.get(c)) for c in COLUMNS],
                      format_excess(row, "var"), format_excess(row, "mean")])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
    print("†: the interval contains 0, not distinguishable from the sampling floor at this "
          "sample count")
    if args.csv:
        agg.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
