"""EfficientNet's compound scaling (Tan & Le 2019) for equivariant networks: pure functions.

depth x alpha^phi, width (in fields) x beta^phi, resolution x gamma^phi, with alpha * beta^2 *
gamma^2 ~ 2 so each phi step about doubles the FLOPs. For regular fields FLOPs grow with the
square of the channel count and channels = fields x |G|, so the group order is a fourth,
discrete axis: moving C4 -> C8 at matched FLOPs halves the fields. Every FLOP number here is
measured with fvcore on the built model (one multiply-add = one FLOP), never assumed.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.groups import parse_group
from eqnas.profiling import arch_flops

FLOP_TOLERANCE = 0.10


@dataclass(frozen=True)
class Coefficients:
    alpha: float  # depth
    beta: float   # width
    gamma: float  # resolution
    group: str | None = None  # None: the base's group

    @property
    def flop_factor(self) -> float:
        return self.alpha * self.beta**2 * self.gamma**2


def scale_arch(base: Arch, depth: float, width: float, resolution: float, group: str | None = None) -> Arch:
    """The base with depths, widths and resolution multiplied (rounded to whole blocks, fields
    and an exact grid size); a different group keeps the channel count by rescaling fields."""
    group_factor = 1.0
    if group is not None and group != base.group:
        group_factor = parse_group(base.group).order / parse_group(group).order
        if any(stage.group is not None for stage in base.stages):
            raise EqnasError("the group axis needs a base without per-stage groups")
    fields = width * group_factor
    stages = tuple(
        dataclasses.replace(s, depth=max(1, math.floor(s.depth * depth + 0.5)) if s.depth else 0,
                            width=max(1, round(s.width * fields)))
        for s in base.stages
    )
    stem = dataclasses.replace(base.stem, width=max(1, round(base.stem.width * fields)))
    scaled = base.replace(stages=stages, stem=stem, group=group or base.group,
                          resolution=max(base.total_stride + 1, round(base.resolution * resolution)))
    return scaled.replace(resolution=scaled.exact_resolution())


def coefficient_grid(step: float = 0.05, max_value: float = 2.0, tolerance: float = 0.1,
                     groups: tuple[str | None, ...] = (None,)) -> list[Coefficients]:
    """alpha, beta, gamma >= 1 on a grid with |alpha beta^2 gamma^2 - 2| <= tolerance."""
    values = [round(1.0 + step * i, 4) for i in range(int(round((max_value - 1.0) / step)) + 1)]
    grid = [
        Coefficients(a, b, g, group)
        for a, b, g in itertools.product(values, values, values)
        if abs(a * b * b * g * g - 2.0) <= tolerance
        for group in groups
    ]
    return grid


def scale_to_target(base: Arch, coefficients: Coefficients, phi: int, target_flops: float,
                    max_steps: int = 8) -> tuple[Arch, int]:
    """The phi-th compound-scaled architecture, corrected until its measured FLOPs lie within
    10% of `target_flops`: first the width multiplier (FLOPs ~ width^2), then, where rounding
    to whole fields is too coarse, single-field and single-step moves of the widths and the
    resolution, greedily."""
    depth, width, resolution = coefficients.alpha**phi, coefficients.beta**phi, coefficients.gamma**phi
    correction = 1.0
    best: tuple[float, Arch, int] | None = None
    for _ in range(max_steps):
        arch = scale_arch(base, depth, width * correction, resolution, coefficients.group)
        flops = arch_flops(arch)
        if best is None or _miss(flops, target_flops) < best[0]:
            best = (_miss(flops, target_flops), arch, flops)
        if best[0] <= FLOP_TOLERANCE / 2:
            break
        correction *= math.sqrt(target_flops / flops)
    assert best is not None
    while best[0] > FLOP_TOLERANCE / 2:
        moves = [(arch, arch_flops(arch)) for arch in _neighbours(best[1])]
        candidate = min(moves, key=lambda move: _miss(move[1], target_flops), default=None)
        if candidate is None or _miss(candidate[1], target_flops) >= best[0]:
            break
        best = (_miss(candidate[1], target_flops), *candidate)
    return best[1], best[2]


def _miss(flops: float, target: float) -> float:
    return abs(flops / target - 1.0)


def _neighbours(arch: Arch) -> list[Arch]:
    """Architectures one field, or one exact resolution step, away."""
    result = []
    for index, stage in enumerate(arch.stages):
        for delta in (-1, 1):
            if stage.width + delta >= 1:
                stages = list(arch.stages)
                stages[index] = dataclasses.replace(stage, width=stage.width + delta)
                result.append(arch.replace(stages=tuple(stages)))
    for delta in (-1, 1):
        if arch.stem.width + delta >= 1:
            result.append(arch.replace(stem=dataclasses.replace(arch.stem, width=arch.stem.width + delta)))
        size = arch.resolution + delta * arch.total_stride
        if size > arch.total_stride:
            result.append(arch.replace(resolution=size))
    return result
