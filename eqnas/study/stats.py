"""Pure statistics of a study: the mean with its Student-t interval, and the paired difference
of two arms over the seeds both ran (the seed fixes the initialisation, data order and noise,
so pairing removes the part of the spread that two arms share)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """mean ± half_width: a two-sided Student-t interval at `level` over n values (half_width
    is NaN for n = 1: one value has no spread)."""

    mean: float
    half_width: float
    n: int
    std: float  # sample standard deviation (n - 1 in the denominator)
    level: float = LEVEL

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def t_quantile(n: int, level: float = LEVEL) -> float:
    """The (1 + level) / 2 quantile of Student's t with n - 1 degrees of freedom."""
    return float(stats.t.ppf((1.0 + level) / 2.0, n - 1))


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """mean ± t * s / sqrt(n)."""
    n = len(values)
    if n == 0:
        raise ValueError("an interval needs at least one value")
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, float("nan"), 1, float("nan"), level)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return Interval(mean, t_quantile(n, level) * std / math.sqrt(n), n, std, level)


def paired_difference(first: Mapping[int, float], second: Mapping[int, float], level: float = LEVEL) -> Interval:
    """The t interval of first[seed] - second[seed] over the seeds present in both."""
    seeds = sorted(set(first) & set(second))
    if not seeds:
        raise ValueError("no seed ran in both arms")
    return t_interval([first[s] - second[s] for s in seeds], level)
