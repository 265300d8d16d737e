"""Validation seeds (the tuning's) and evaluation seeds (the results'), declared apart once.

A study picks its options on runs trained and sampled with validation seeds; the tuned row of
the results is trained and sampled with the suite's own seeds. The two sets never meet:
evaluation seeds are below ``VALIDATION_BASE`` (a suite with a larger seed is refused) and
validation seeds are at or above it, so the tuned row is not the best of noisy draws scored
on the very draws that chose it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MONITOR_SEED", "VALIDATION_BASE", "evaluation_seed_errors", "is_validation_seed",
           "validation_seeds"]

VALIDATION_BASE = 1_000_000
# the training monitor's sampling seed (learning curves, and the pruner's reports in a study):
# in the validation range, so that a trial is never pruned on an evaluation draw
MONITOR_SEED = 2 * VALIDATION_BASE - 1


def validation_seeds(index: int = 0) -> tuple[int, int]:
    """(training seed, evaluation-sampling seed) of the trials of a study. One pair for every
    trial of a study, so trials differ only in their options; ``index`` picks another pair."""
    if index < 0:
        raise ValueError(f"validation seed index {index} must be >= 0")
    seed = VALIDATION_BASE + 2 * index
    return seed, seed + 1


def is_validation_seed(seed: int) -> bool:
    return seed >= VALIDATION_BASE


def evaluation_seed_errors(seeds: Iterable[int], eval_seeds: Iterable[int],
                           n_trials: Iterable[int] = ()) -> list[str]:
    """Why a suite's seeds cannot be evaluation seeds: a training seed, or a sampling seed
    range ``eval_seed .. eval_seed + n_trials - 1``, reaching ``VALIDATION_BASE``."""
    errors = [f"seed {s} is a validation seed (>= {VALIDATION_BASE}); evaluation seeds must be "
              f"below it" for s in sorted(set(seeds)) if is_validation_seed(s)]
    trials = list(n_trials)
    for i, s in enumerate(eval_seeds):
        last = s + (trials[i] if i < len(trials) else 1) - 1
        if is_validation_seed(last):
            errors.append(f"eval_seed {s} (trials up to {last}) reaches the validation seeds "
                          f"(>= {VALIDATION_BASE}); evaluation seeds must be below it")
    return list(dict.fromkeys(errors))
