"""The one training loop of every trained solver.

It owns what each method would otherwise re-implement: the budget (iterations, and seconds of
training that exclude monitor and checkpoint pauses), the divergence stop, the history rows,
the progress bar, the checkpoint hook and the cost record (with peak memory measured in one
place, ``solvers.base.peak_memory``).

Divergence: training stops with ``TrainingDiverged`` (stop reason ``diverged``) when a loss
term is non-finite, or when, after ``divergence_warmup`` iterations, a term L_k exceeds
``divergence_factor`` times its running minimum and the total loss exceeds the same factor
times the total's running minimum::

    L_k(n) > f * min_{m <= n} L_k(m)   and   sum_j L_j(n) > f * min_{m <= n} sum_j L_j(m)

(f = 1e4 by default; the minima run over every checked iteration, warm-up included, so a loss
that blows up early is still measured against its start). A finite loss 1e4 above its best
means the optimiser left the basin (an lr far too large); the second condition keeps a term
that was merely near zero at its minimum (an initial-condition term fitted almost exactly)
from stopping a healthy run. The settings are recorded with the history
(``TrainingLoop.settings``) and named in the error.

A method drives it in one of two ways:

* its own loop (DSM)::

      loop = TrainingLoop("dsm", target_iters=epochs, max_seconds=600, ...)
      with loop:
          while loop.running():
              losses = one_epoch(lr=schedule(loop.fraction()))
              loop.step_done(loop.iteration + 1, losses)
      loop.finish(cost)

* a framework's callbacks (the PINN: a DeepXDE ``Callback`` calls ``step_done`` at each
  batch end and stops training when ``loop.should_stop`` is set).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from solvers.base import Cost, Monitor, Solution, peak_memory

__all__ = ["DIVERGENCE_FACTOR", "TrainingDiverged", "TrainingLoop"]

DIVERGENCE_FACTOR = 1e4  # growth over the running minimum that counts as divergence


class TrainingDiverged(FloatingPointError):
    """A loss term became non-finite or grew past the divergence factor; the message names
    the term, the iteration and the values."""

    stop_reason = "diverged"  # the harness records it as the failed row's stop reason

    def __init__(self, message: str, *, term: str = "", iteration: int = 0,
                 value: float = math.nan, minimum: float = math.nan):
        super().__init__(message)
        self.term, self.iteration, self.value, self.minimum = term, iteration, value, minimum


def _host_floats(losses: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in losses.items():
        if hasattr(value, "detach"):
            value = value.detach().to("cpu").double().item()
        out[key] = float(value)
    return out


class TrainingLoop:
    """Budget, NaN stop, history, progress, monitor, checkpoints and cost of one training run.

    target_iters: the iterations planned (the method's own count, or the budget's max_iters).
    max_seconds: training seconds allowed, excluding pauses. stop_at_target: the stop reason
    recorded when target_iters is reached ("completed", or "max_iters" when the budget cut
    the method's own plan). log_every: a history row every this many iterations (and at the
    last). check_every: how often pending loss tensors are brought to the host for the NaN
    check (1 on a CPU, where it is free; the log cadence on CUDA, to keep epochs
    asynchronous). monitor / snapshot: every monitor_every iterations, ``monitor(snapshot())``
    adds its values to the history row (the time is excluded from training time).
    checkpoint(iteration, train_s, rows): saves state, every checkpoint_every iterations and
    at the end. start_iter / start_seconds / history: where a resumed run left off.
    monitor_at_start: also monitor the untrained state (a framework that reports its
    iteration 0, like DeepXDE). divergence_factor / divergence_warmup: the divergence stop
    (module doc; factor None: only non-finite losses stop; warm-up None: 5 % of
    target_iters, at least 10 iterations).
    """

    def __init__(self, name: str, *, target_iters: int, max_seconds: float | None = None,
                 stop_at_target: str = "completed", log_every: int = 10, check_every: int = 1,
                 progress: bool = False, monitor: Monitor | None = None, monitor_every: int = 0,
                 snapshot: Callable[[], Solution] | None = None,
                 after_pause: Callable[[], None] | None = None,
                 checkpoint: Callable[[int, float, list[dict[str, Any]]], None] | None = None,
                 checkpoint_every: int = 0, device: str = "cpu", start_iter: int = 0,
                 start_seconds: float = 0.0, history: list[dict[str, Any]] | None = None,
                 monitor_at_start: bool = False,
                 divergence_factor: float | None = DIVERGENCE_FACTOR,
                 divergence_warmup: int | None = None):
        self.name = name
        self.target_iters = int(target_iters)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.stop_at_target = stop_at_target
        self.log_every = max(int(log_every), 1)
        self.check_every = max(int(check_every), 1)
        self.progress = progress
        self.monitor, self.monitor_every = monitor, int(monitor_every or 0)
        self.snapshot, self.after_pause = snapshot, after_pause
        self.checkpoint, self.checkpoint_every = checkpoint, int(checkpoint_every or 0)
        self.device = device
        self.iteration = self.start_iter = int(start_iter)
        self.start_seconds = float(start_seconds)
        self.rows: list[dict[str, Any]] = list(history or [])
        self.stop_reason = stop_at_target
        self.should_stop = False
        self._pending: list[tuple[int, Mapping[str, Any]]] = []
        self._last_losses: dict[str, float] = {}
        self._clock: float | None = None
        self._paused = 0.0
        self._train_s: float | None = None
        # a resumed run monitors at the same iterations as an uninterrupted one
        self._next_monitor = ((self.start_iter // self.monitor_every + 1) * self.monitor_every
                              if self.monitor_every else 0)
        if monitor_at_start:
            self._next_monitor = self.start_iter
        self._bar = None
        self.divergence_factor = None if divergence_factor is None else float(divergence_factor)
        self.divergence_warmup = (max(10, self.target_iters // 20) if divergence_warmup is None
                                  else int(divergence_warmup))
        self._minimum: dict[str, float] = {}  # running minimum of each term and of the total

    @property
    def settings(self) -> dict[str, Any]:
        """The loop's stop rules, recorded with the history (``history().attrs``)."""
        return {"divergence_factor": self.divergence_factor,
                "divergence_warmup": self.divergence_warmup}

    # ------------------------------------------------------------------ clock and budget
    def __enter__(self) -> TrainingLoop:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close_bar()

    def start(self) -> None:
        if self.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.target_iters, initial=self.iteration, desc=self.name,
                             unit="it", dynamic_ncols=True)
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
        self._clock = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Training seconds so far: the resumed run's plus this one's, pauses excluded."""
        if self._train_s is not None:
            return self._train_s
        if self._clock is None:
            return self.start_seconds
        return self.start_seconds + time.perf_counter() - self._clock - self._paused

    @contextmanager
    def paused(self):
        """Time spent inside is not training time (monitor, checkpoint, a framework's own
        bookkeeping)."""
        tic = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - tic

    def running(self) -> bool:
        """Whether another iteration may start; sets ``stop_reason`` when the answer is no."""
        if self.should_stop:
            return False
        if self.iteration >= self.target_iters:
            self.stop_reason = self.stop_at_target
            return False
        if self.max_seconds is not None and self.elapsed >= self.max_seconds:
            self.stop_reason = "time_budget"
            return False
        return True

    def fraction(self) -> float:
        """Progress through the budget that binds first (for learning-rate schedules)."""
        frac = self.iteration / max(self.target_iters, 1)
        if self.max_seconds:
            frac = max(frac, self.elapsed / self.max_seconds)
        return min(max(frac, 0.0), 1.0)

    # ------------------------------------------------------------------ per iteration
    def step_done(self, iteration: int, losses: Mapping[str, Any] | None = None,
                  **extra: float) -> None:
        """Iteration ``iteration`` has finished. ``losses`` (floats or 0-d tensors, one per
        term) are checked for finiteness and logged at the log cadence; ``extra`` values
        (a learning rate) join the history row."""
        self.iteration = int(iteration)
        if losses:
            self._pending.append((self.iteration, losses))
        last = self.iteration >= self.target_iters
        log_now = self.iteration % self.log_every == 0 or last
        if self._pending and (len(self._pending) >= self.check_every or log_now):
            self._check_pending()
        if log_now and losses:
            row = {"iter": self.iteration, "wall_s": self.elapsed, **extra,
                   "loss": float(sum(self._last_losses.values())), **self._last_losses}
            self.rows.append(row)
        if not last and self.max_seconds is not None and self.elapsed >= self.max_seconds:
            # the target reached at the deadline is the target reached (as running() says)
            self.stop_reason, self.should_stop = "time_budget", True
        self._update_bar()
        if self.monitor is not None and self.monitor_every and self.iteration >= self._next_monitor:
            # a framework may advance by several iterations (L-BFGS): the first at or past
            self._next_monitor = (self.iteration // self.monitor_every + 1) * self.monitor_every
            now = self.elapsed  # the row's training time excludes the monitor's own
            with self.paused():
                values = self.monitor(self.snapshot()) if self.snapshot else {}
                self._merge_row({k: float(v) for k, v in (values or {}).items()}, now)
                if self.after_pause is not None:
                    self.after_pause()
        if (self.checkpoint is not None and self.checkpoint_every
                and self.iteration % self.checkpoint_every == 0):
            with self.paused():
                self.checkpoint(self.iteration, self.elapsed, self.rows)

    def _merge_row(self, values: dict[str, float], wall_s: float) -> None:
        if self.rows and self.rows[-1]["iter"] == self.iteration:
            self.rows[-1].update(values)
        else:
            self.rows.append({"iter": self.iteration, "wall_s": wall_s, **values})

    def _check_pending(self) -> None:
        pending, self._pending = self._pending, []
        names = list(pending[-1][1])
        values = np.array([[_host_floats(losses).get(k, math.nan) for k in names]
                           for _, losses in pending])
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            self._diverged(names[col], pending[row][0], float(values[row, col]),
                           f"loss term {names[col]} is {values[row, col]}")
        for (iteration, _), row_values in zip(pending, values, strict=True):
            self._check_growth(iteration, dict(zip(names, row_values.tolist(), strict=True)))
        self._last_losses = dict(zip(names, values[-1].tolist(), strict=True))

    def _check_growth(self, iteration: int, losses: dict[str, float]) -> None:
        """The factor-above-running-minimum rule of the module doc, for one iteration."""
        total = sum(losses.values())
        for key, value in [*losses.items(), (" total", total)]:
            self._minimum[key] = min(self._minimum.get(key, value), value)
        factor = self.divergence_factor
        if factor is None or iteration <= self.divergence_warmup:
            return
        total_min = self._minimum[" total"]
        if not (total_min > 0 and total > factor * total_min):
            return
        for key, value in losses.items():
            low = self._minimum[key]
            if low > 0 and value > factor * low:
                self._diverged(key, iteration, value,
                               f"loss term {key} = {value:.3g} is more than {factor:g} times its "
                               f"running minimum {low:.3g} (total loss {total:.3g}, minimum "
                               f"{total_min:.3g})", minimum=low)

    def _diverged(self, term: str, iteration: int, value: float, what: str,
                  minimum: float = math.nan) -> None:
        self.stop_reason = "diverged"
        self.finish_clock()
        self._close_bar()
        raise TrainingDiverged(
            f"{self.name}: training diverged at iteration {iteration}: {what} "
            f"(divergence_factor={self.divergence_factor:g}, warm-up "
            f"{self.divergence_warmup} iterations; lower lr or check the problem scales)"
            if self.divergence_factor is not None else
            f"{self.name}: training diverged at iteration {iteration}: {what} (lower lr or "
            "check the problem scales)",
            term=term, iteration=iteration, value=value, minimum=minimum)

    def _update_bar(self) -> None:
        bar = self._bar
        if bar is None:
            return
        if self.max_seconds is not None and self.iteration > self.start_iter:
            # count down the budget that binds: the iterations the time budget still allows
            rate = (self.iteration - self.start_iter) / max(self.elapsed - self.start_seconds,
                                                            1e-9)
            reachable = self.iteration + rate * max(self.max_seconds - self.elapsed, 0.0)
            total = int(min(self.target_iters, max(reachable, self.iteration)))
            if total != bar.total:
                bar.total = total
        bar.update(self.iteration - bar.n)
        if self._last_losses:
            bar.set_postfix({k: f"{v:.3g}" for k, v in self._last_losses.items()}, refresh=False)

    # ------------------------------------------------------------------ end
    def finish_clock(self) -> float:
        if self._train_s is None:
            self._train_s = self.elapsed
        return self._train_s

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def finish(self, cost: Cost) -> Cost:
        """Flush the NaN check, close the bar, save the last checkpoint and fill ``cost``:
        iters, stop_reason, peak memory, and the seconds ``Solver.run`` corrects its timing of
        ``fit`` by (``paused_s``: monitor and checkpoint pauses; ``resumed_s``: the resumed
        run's training seconds)."""
        if self._pending:
            self._check_pending()
        train_s = self.finish_clock()
        self._close_bar()
        cost.iters = self.iteration
        cost.stop_reason = self.stop_reason
        cost.peak_rss_mb, cost.peak_gpu_mb = peak_memory(self.device)
        cost.resumed_s = self.start_seconds
        if self.checkpoint is not None:  # after the cost is filled: the last one records it
            with self.paused():
                self.checkpoint(self.iteration, train_s, self.rows)
        cost.paused_s = self._paused
        return cost

    def history(self) -> pd.DataFrame:
        """The history rows: iter, wall_s, the loss terms and any monitor values; the loop's
        settings (divergence factor and warm-up) in ``attrs``."""
        frame = pd.DataFrame(self.rows) if self.rows else pd.DataFrame({"iter": [], "wall_s": []})
        frame.attrs.update(self.settings)
        return frame
