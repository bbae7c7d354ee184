"""One search trial: train a sample at one rung with one seed, and append its record.

Everything a trial needs besides its own fields is in the run folder's `trials.jsonl`, which it
re-reads when it starts, so the same object runs in the search's own process or, pickled, in a
trial process of NNI's training service (`--concurrency`), with other trials appending to the
same log in parallel:
  * a (sample, rung, seed) already recorded (a resumed search) returns its recorded result,
    untrained;
  * at rung 0, a sample whose network equals another recorded with the same seed (it differs
    only in unused labels, e.g. a dropped stage) takes that record's metric, untrained;
  * the median stopping rule's reference is the complete learning curves recorded at the same
    rung (and the same start: continued or from scratch) when the trial starts;
  * the record is appended, and numbered, under the log's lock.
A run that continues (`Fidelity.continues`) starts from the weights the candidate's run with the
same seed at the rung below saved in the run folder's `checkpoints/`, and trains only the extra
epochs. With a device list (parallel trials on GPUs) a trial trains on the device it holds
(`eqnas.search.devices`) and records it.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.search.devices import placed
from eqnas.search.early_stop import MedianStop, TrialCurve
from eqnas.search.fidelity import Fidelity
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.records import TrialLog, TrialRecord, arch_identity
from eqnas.search.space import Sample, SearchSpace
from eqnas.train.hooks import EpochHook

CHECKPOINTS = "checkpoints"  # folder of the run folder holding the weights promotions continue from
DEVICE_LOCKS = "devices"  # folder of the run folder holding the trials' device locks


@dataclass(frozen=True)
class TrainJob:
    """What one training is asked to do: `epochs` on `images` training images (None: all) with
    `seed`; starting from the weights in `start_from` (a promotion continuing), and saving the
    final weights to `save_to` (for a promotion to continue from); on `device` (None: the
    trainer's own)."""

    epochs: int
    images: int | None
    seed: int
    start_from: str | None = None
    save_to: str | None = None
    device: str | None = None


TrainFn = Callable[[Arch, EpochHook, TrainJob], float]  # -> best validation metric; see eqnas.search.proxy


class TrialFailed(RuntimeError):
    """Raised back to the strategy so it records a failure and moves on."""


def stopping_rule(records, rung: int = 0, continued: bool = False) -> MedianStop:
    """The median rule, with the complete learning curves among `records` at `rung` that started
    the same way (`continued` from the rung below, or from scratch)."""
    rule = MedianStop()
    for record in records:
        if (record.status == "ok" and record.rung == rung and ("continued_from" in record.extra) == continued
                and "stopped_epoch" not in record.extra and record.extra.get("curve")):
            rule.add_completed(record.extra["curve"])
    return rule


@dataclass(frozen=True)
class TrialRunner:
    """(sample, rung, seed) -> metric, recording the training in `log_path`; called with a sample
    alone, rung 0 with the search's seed (what the strategy sees). Picklable when `train_fn` is.

    `flop_filter` is the search's own, so a trial in this process reuses the FLOP count its
    budget check made."""

    space: SearchSpace
    train_fn: TrainFn
    log_path: Path
    flop_filter: FlopFilter
    fidelity: Fidelity
    early_stop: bool = True
    torch_threads: int | None = None  # set in trial processes, so parallel trials share the CPU cores
    devices: tuple[str, ...] = ()  # parallel trials spread over these (eqnas.search.devices); (): no placement
    slots_per_device: int = 1

    def __call__(self, sample: Sample) -> float:
        return self.run(sample, 0, self.space.proxy.seed)

    def checkpoint(self, key: str, rung: int, seed: int) -> Path:
        """Where a candidate's run at `rung` with `seed` keeps its final weights."""
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.log_path.parent / CHECKPOINTS / f"{digest}-rung{rung}-seed{seed}.pt"

    def job(self, key: str, rung: int, seed: int) -> TrainJob:
        """The training of a candidate at `rung` with `seed`: continued from its run at the rung
        below with the same seed where the schedule allows and those weights are there, else
        from scratch."""
        target = self.fidelity.rungs[rung]
        save_to = str(self.checkpoint(key, rung, seed)) if self.fidelity.continues(rung + 1) else None
        start = self.checkpoint(key, rung - 1, seed) if self.fidelity.continues(rung) else None
        if start is not None and start.is_file():
            below = self.fidelity.rungs[rung - 1]
            return TrainJob(target.epochs - below.epochs, target.images, seed, str(start), save_to)
        return TrainJob(target.epochs, target.images, seed, None, save_to)

    def run(self, sample: Sample, rung: int, seed: int) -> float:
        from eqnas.profiling import arch_params

        if self.torch_threads is not None:
            import torch

            torch.set_num_threads(self.torch_threads)
        log = TrialLog(self.log_path)
        recorded = log.finished()
        key = self.space.key(sample)
        if (key, rung, seed) in recorded:
            done = recorded[(key, rung, seed)]
            if done.status == "failed":
                raise TrialFailed(f"recorded as failed: {done.error}")
            return float(done.metric)
        arch = self.space.to_arch(sample)
        identity = arch_identity(arch.to_dict())
        twin = None if rung else next((r for r in recorded.values() if r.status == "ok" and r.rung == 0
                                       and r.seed == seed and r.key != key and arch_identity(r.arch) == identity), None)
        job = self.job(key, rung, seed)
        extra: dict = {"same_as": twin.key} if twin else {}
        if job.start_from:
            extra["continued_from"] = self.fidelity.rungs[rung - 1].label
        rule = stopping_rule(recorded.values(), rung, bool(job.start_from)) if self.early_stop else None
        curve = TrialCurve(rule, job.epochs)
        if job.save_to:
            Path(job.save_to).parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with placed(self.devices, self.slots_per_device, self.log_path.parent / DEVICE_LOCKS) as place:
            if place is not None:
                job = replace(job, device=place.device)
                extra.update(device=place.device, device_index=place.index)
            metric, status, error = self._train(twin, arch, curve, job, extra)
        record = TrialRecord(
            key=key, status=status, sample=sample, arch=arch.to_dict(), flops=self.flop_filter.flops(sample),
            params=arch_params(arch), metric=metric, seconds=round(time.perf_counter() - started, 3),
            error=error, extra=extra, rung=rung, fidelity=self.fidelity.rungs[rung].label, seed=seed,
        )
        log.append_from(lambda earlier: replace(record, trial=candidate_number(earlier, key)))
        if metric is None:
            raise TrialFailed(error)
        return metric

    def _train(self, twin: TrialRecord | None, arch: Arch, curve: TrialCurve, job: TrainJob,
               extra: dict) -> tuple[float | None, str, str]:
        """(metric, status, error) of the training (a twin's metric, untrained); the curve and
        where it stopped go into `extra`."""
        try:
            metric = twin.metric if twin else float(self.train_fn(arch, curve, job))
            if math.isnan(metric):
                raise TrialFailed("metric is NaN (diverged)")
            if curve.curve:
                extra["curve"] = curve.curve
            if curve.stopped_epoch is not None:
                extra["stopped_epoch"] = curve.stopped_epoch
            return metric, "ok", ""
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # any trial failure (exception, NaN, out of memory) is recorded
            return None, "failed", f"{type(exc).__name__}: {exc}"


def candidate_number(earlier: list[TrialRecord], key: str) -> int:
    """A candidate's number: the order in which it was first trained (rung 0), shared by its
    runs at every rung."""
    numbers = {r.key: r.trial for r in earlier if r.rung == 0 and r.status != "rejected"}
    return numbers.get(key, len(numbers) + 1)
