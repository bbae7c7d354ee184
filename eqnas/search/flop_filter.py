"""The FLOP budget: every candidate is profiled with fvcore before any training, and one over
the budget (or under the floor) is never trained. A candidate that will also train in other
modes (DP's group norm in a study) is counted at the most FLOPs of any of them, so the budget
holds for every network that trains."""
from __future__ import annotations

from dataclasses import dataclass, field

from eqnas.errors import EqnasError
from eqnas.profiling import arch_flops, format_flops
from eqnas.search.space import Sample, SearchSpace
from eqnas.train.adapt import TrainingMode


@dataclass
class FlopFilter:
    space: SearchSpace
    flops_max: int
    flops_min: int = 0
    modes: tuple[TrainingMode, ...] = ()  # besides the proxy's own (TrainingMode())
    _cache: dict[str, int | None] = field(default_factory=dict)

    def flops(self, sample: Sample) -> int | None:
        """FLOPs of the sample's architecture, or None when the sample is not a valid architecture."""
        key = self.space.key(sample)
        if key not in self._cache:
            try:
                arch = self.space.to_arch(sample)
                self._cache[key] = max(arch_flops(mode.apply(arch)) for mode in {TrainingMode(), *self.modes})
            except EqnasError:
                self._cache[key] = None
        return self._cache[key]

    def within(self, flops: int | None) -> bool:
        return flops is not None and self.flops_min <= flops <= self.flops_max

    def fitting(self, samples: list[Sample]) -> list[tuple[Sample, int]]:
        """(sample, FLOPs) of each of `samples` within the bounds, in their order (counting the
        ones not counted yet)."""
        return [(sample, flops) for sample in samples if self.within(flops := self.flops(sample))]

    def check_feasible(self) -> None:
        """A clear error before anything trains when no candidate can meet the budget."""
        low = self._extreme(min)
        high = self._extreme(max)
        if low is not None and low > self.flops_max:
            raise EqnasError(
                f"no architecture in space {self.space.name!r} fits --flops {format_flops(self.flops_max)}: "
                f"the smallest needs {format_flops(low)}"
            )
        if high is not None and high < self.flops_min:
            raise EqnasError(
                f"no architecture in space {self.space.name!r} reaches --flops-min {format_flops(self.flops_min)}: "
                f"the largest needs {format_flops(high)}"
            )

    def _extreme(self, pick) -> int | None:
        found = self.extreme_sample(pick)
        return None if found is None else found[1]

    def extreme_sample(self, pick) -> tuple[Sample, int] | None:
        """The sample with the smallest (or largest) FLOPs: exhaustive for small spaces, else
        coordinate descent from the extreme numeric values (FLOPs grow with width, depth,
        kernel and resolution)."""
        if self.space.size() <= 64:
            counted = [(s, self.flops(s)) for s in self.space.enumerate()]
            counted = [(s, f) for s, f in counted if f is not None]
            return pick(counted, key=lambda item: item[1]) if counted else None
        searched = self.space.searched()
        sample = {label: pick(values, key=_order) for label, values in searched.items()}
        best = self.flops(sample)
        for _ in range(2):
            for label, values in searched.items():
                for value in values:
                    trial = {**sample, label: value}
                    flops = self.flops(trial)
                    if flops is not None and (best is None or pick(flops, best) == flops and flops != best):
                        sample, best = trial, flops
        return None if best is None else (sample, best)


def _order(value) -> tuple:
    """Numbers by size; group names by order (trivial first); other strings as they come."""
    if isinstance(value, (int, float)):
        return (0, value)
    from eqnas.groups import parse_group

    try:
        return (0, parse_group(value).order)
    except EqnasError:
        return (1, str(value))
