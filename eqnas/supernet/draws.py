"""Which subnets a sandwich step trains: the largest, the smallest and random ones, taken from the
whole space or from the subnets within a FLOP cap.

A search under budgets up to B scores only subnets within B, so training the ones above it spends
compute on weights no winner uses: in c8_resnet (largest subnet 1.19G FLOPs) about a tenth of the
subnets are within 100M, and a sandwich step within 100M took 1.5 CPU s against an estimated
11 s over the whole space (twice a step of the 1.19G subnet alone; batch 64, one thread).

Within a cap the largest (the teacher of in-place distillation) is the subnet with the most FLOPs
within it, the smallest the one with the fewest, and a random subnet is drawn as over the whole
space (each elastic label on its own) until it falls within the cap, so a network that several
samples build (a two-stage one, whose unused third stage's labels still vary) comes up as often
as it has samples (drawing from the distinct networks instead ranked no better: README, issue
11). Finding them counts every subnet's FLOPs once (fvcore, about 0.1 s each on one CPU thread;
counted as the search's FLOP filter counts them, in every training mode it is given, and shared
with it through `flops_cache`), so a cap needs a space of at most ENUMERATED_MAX.
"""
from __future__ import annotations

import random
import time
from typing import Callable

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import format_flops
from eqnas.search.flop_filter import FlopFilter
from eqnas.supernet.subnets import random_sample
from eqnas.supernet.supernet import Supernet
from eqnas.train.adapt import TrainingMode

ENUMERATED_MAX = 20_000  # subnets whose FLOPs a cap counts (c8_resnet: 5,184, about 7 min)


class WholeSpace:
    """Every subnet of the supernet's space."""

    def __init__(self, supernet: Supernet) -> None:
        self.supernet = supernet

    def largest(self) -> Arch:
        return self.supernet.largest()

    def smallest(self) -> Arch:
        return self.supernet.smallest()

    def random(self, rng: random.Random) -> Arch:
        return self.supernet.random(rng)


class WithinCap:
    """The subnets of the supernet's space with at most `flops_max` FLOPs."""

    def __init__(self, supernet: Supernet, flops_max: int, flops_cache: dict | None = None,
                 modes: tuple[TrainingMode, ...] = ()) -> None:
        space = self.space = supernet.space
        if space.size() > ENUMERATED_MAX:
            raise EqnasError(f"supernet cap {format_flops(flops_max)}: space {space.name!r} has {space.size()} "
                             f"subnets, more than the {ENUMERATED_MAX} whose FLOPs a cap counts; train the whole "
                             f"space (no cap)")
        flop_filter = FlopFilter(space, flops_max, modes=modes, _cache={} if flops_cache is None else flops_cache)
        self.outer = supernet.outer  # in every sample, so keys name the group as the search's do
        samples = [{**self.outer, **sample} for sample in space.enumerate()]
        within = {space.key(sample): (sample, flops) for sample, flops in flop_filter.fitting(samples)}
        if not within:
            smallest = min(f for f in map(flop_filter.flops, samples) if f is not None)
            raise EqnasError(f"supernet cap {format_flops(flops_max)}: no subnet of space {space.name!r} fits; "
                             f"the smallest needs {format_flops(smallest)}")
        ordered = sorted(within, key=lambda key: (within[key][1], key))  # by FLOPs, ties by key
        self._smallest, self._largest = within[ordered[0]][0], within[ordered[-1]][0]
        self.flops = {key: within[key][1] for key in ordered}  # key -> FLOPs of each subnet within the cap

    def largest(self) -> Arch:
        return self.space.to_arch(self._largest)

    def smallest(self) -> Arch:
        return self.space.to_arch(self._smallest)

    def random(self, rng: random.Random) -> Arch:
        while True:
            sample = {**self.outer, **random_sample(self.space, rng)}
            if self.space.key(sample) in self.flops:
                return self.space.to_arch(sample)


def subnet_draws(supernet: Supernet, flops_cap: int | None, flops_cache: dict | None = None,
                 modes: tuple[TrainingMode, ...] = (), log: Callable[[str], None] | None = None) -> WholeSpace | WithinCap:
    """The whole space without a cap, else the subnets within it; `log` gets a line before the
    FLOP count (minutes on a large space) and one with what it found."""
    if flops_cap is None:
        return WholeSpace(supernet)
    log = log or (lambda line: None)
    start = time.perf_counter()
    log(f"supernet: counting the FLOPs of {supernet.space.size()} subnets for the cap {format_flops(flops_cap)}")
    draws = WithinCap(supernet, flops_cap, flops_cache, modes)
    log(f"supernet: {len(draws.flops)} subnets within {format_flops(flops_cap)}, from "
        f"{format_flops(min(draws.flops.values()))} to {format_flops(max(draws.flops.values()))} "
        f"({time.perf_counter() - start:.0f}s)")
    return draws
