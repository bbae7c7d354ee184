"""One search trial: train a sample with the proxy and append its record.

Everything a trial needs besides its own fields is in the run folder's `trials.jsonl`, which it
re-reads when it starts, so the same object runs in the search's own process or, pickled, in a
trial process of NNI's training service (`--concurrency`), with other trials appending to the
same log in parallel:
  * a sample already recorded (a resumed search) returns its recorded result, untrained;
  * a sample whose network equals a recorded one (it differs only in unused labels, e.g. a
    dropped stage) takes that record's metric, untrained;
  * the median stopping rule's reference is the complete learning curves recorded when the
    trial starts;
  * the record is appended, and numbered, under the log's lock.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.search.early_stop import MedianStop, TrialCurve
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.records import TrialLog, TrialRecord, arch_identity
from eqnas.search.space import Sample, SearchSpace
from eqnas.train.hooks import EpochHook

TrainFn = Callable[[Arch, EpochHook], float]  # (arch, epoch hook) -> metric; see eqnas.search.proxy


class TrialFailed(RuntimeError):
    """Raised back to the strategy so it records a failure and moves on."""


def stopping_rule(records) -> MedianStop:
    """The median rule, with the complete learning curves among `records`."""
    rule = MedianStop()
    for record in records:
        if record.status == "ok" and "stopped_epoch" not in record.extra and record.extra.get("curve"):
            rule.add_completed(record.extra["curve"])
    return rule


@dataclass(frozen=True)
class TrialRunner:
    """sample -> metric, recording the trial in `log_path`. Picklable when `train_fn` is.

    `flop_filter` is the search's own, so a trial in this process reuses the FLOP count its
    budget check made."""

    space: SearchSpace
    train_fn: TrainFn
    log_path: Path
    flop_filter: FlopFilter
    early_stop: bool = True
    torch_threads: int | None = None  # set in trial processes, so parallel trials share the CPU cores

    def __call__(self, sample: Sample) -> float:
        from eqnas.profiling import arch_params

        if self.torch_threads is not None:
            import torch

            torch.set_num_threads(self.torch_threads)
        log = TrialLog(self.log_path)
        recorded = log.finished()
        key = self.space.key(sample)
        if key in recorded:
            if recorded[key].status == "failed":
                raise TrialFailed(f"recorded as failed: {recorded[key].error}")
            return float(recorded[key].metric)
        arch = self.space.to_arch(sample)
        identity = arch_identity(arch.to_dict())
        twin = next((r for r in recorded.values() if r.status == "ok" and arch_identity(r.arch) == identity), None)
        extra: dict = {"same_as": twin.key} if twin else {}
        curve = TrialCurve(stopping_rule(recorded.values()) if self.early_stop else None, self.space.proxy.epochs)
        started = time.perf_counter()
        try:
            metric = twin.metric if twin else float(self.train_fn(arch, curve))
            if math.isnan(metric):
                raise TrialFailed("metric is NaN (diverged)")
            status, error = "ok", ""
            if curve.curve:
                extra["curve"] = curve.curve
            if curve.stopped_epoch is not None:
                extra["stopped_epoch"] = curve.stopped_epoch
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # any trial failure (exception, NaN, out of memory) is recorded
            metric, status, error = None, "failed", f"{type(exc).__name__}: {exc}"
        record = TrialRecord(
            key=key, status=status, sample=sample, arch=arch.to_dict(), flops=self.flop_filter.flops(sample),
            params=arch_params(arch), metric=metric, seconds=round(time.perf_counter() - started, 3),
            error=error, extra=extra,
        )
        log.append_from(lambda earlier: replace(record, trial=1 + sum(r.status != "rejected" for r in earlier)))
        if metric is None:
            raise TrialFailed(error)
        return metric
