"""Early stopping of search trials: the median stopping rule.

A trial is stopped after epoch t when the best validation metric it has reached so far is below
the median, over the trials that completed, of the best metric each had reached by epoch t
(the rule of Google Vizier, Golovin et al. 2017, and of NNI's Medianstop assessor, which is
NNI's HPO side only: NNI 3.0's NAS engines cannot stop a running model). Most of a search's
time goes to architectures that end up in the lower half, and their learning curves show it
early, so stopping them early buys more trials for the same time.

The rule waits for ``min_completed`` completed trials and never stops a trial at its last
epoch (nothing would be saved). A stopped trial keeps the best metric it reached: the strategy
learns that it was poor, and its record says at which epoch it stopped. Stopped trials do not
join the reference curves, so the median only ever comes from complete runs.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

MIN_COMPLETED = 3  # completed trials before the rule stops anything (NNI's default start is similar)


def running_best(curve: Sequence[float]) -> list[float]:
    """Best metric reached by each epoch."""
    best, out = float("-inf"), []
    for value in curve:
        best = max(best, value)
        out.append(best)
    return out


@dataclass
class MedianStop:
    """The stopping rule's state: the running-best curves of the completed trials."""

    min_completed: int = MIN_COMPLETED
    completed: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.min_completed < 1:
            raise ValueError(f"min_completed must be at least 1, got {self.min_completed}")

    def add_completed(self, curve: Sequence[float]) -> None:
        """A trial that ran all its epochs: its per-epoch validation metrics join the reference."""
        if curve:
            self.completed.append(running_best(curve))

    def should_stop(self, epoch: int, curve: Sequence[float], epochs: int) -> bool:
        """After `epoch` (1-based) of `epochs`, with the trial's per-epoch metrics so far in `curve`."""
        if epoch >= epochs or not curve:
            return False
        reference = [c[epoch - 1] for c in self.completed if len(c) >= epoch]
        if len(reference) < self.min_completed:
            return False
        return max(curve) < statistics.median(reference)


@dataclass
class TrialCurve:
    """The epoch hook handed to one trial's training: records its curve and asks the rule.

    `rule` None records only (early stopping off)."""

    rule: MedianStop | None
    epochs: int
    curve: list[float] = field(default_factory=list)
    stopped_epoch: int | None = None

    def __call__(self, epoch: int, metric: float) -> bool:
        self.curve.append(float(metric))
        if self.rule is not None and self.rule.should_stop(epoch, self.curve, self.epochs):
            self.stopped_epoch = epoch
            return False
        return True

    def finish(self) -> None:
        """Called when the trial ended normally: a complete curve becomes a reference."""
        if self.rule is not None and self.stopped_epoch is None and len(self.curve) == self.epochs:
            self.rule.add_completed(self.curve)
