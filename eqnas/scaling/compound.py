"""EfficientNet's compound scaling (Tan & Le 2019) for equivariant networks: pure functions.

depth x alpha^phi, width (in fields) x beta^phi, resolution x gamma^phi, with alpha * beta^2 *
gamma^2 ~ 2 so each phi step about doubles the FLOPs. For regular fields FLOPs grow with the
square of the channel count and channels = fields x |G|, so the group order is a fourth,
discrete axis: moving C4 -> C8 at matched FLOPs halves the fields. Every FLOP number here is
measured with fvcore on the built model (one multiply-add = one FLOP), never assumed.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from eqnas.arch import Arch, Stage
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
        Stage(depth=max(1, math.floor(s.depth * depth + 0.5)) if s.depth else 0, width=max(1, round(s.width * fields)),
              kernel=s.kernel, stride=s.stride, block=s.block, group=s.group)
        for s in base.stages
    )
    stem = base.stem.__class__(width=max(1, round(base.stem.width * fields)), kernel=base.stem.kernel, stride=base.stem.stride)
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
                    max_steps: int = 12) -> tuple[Arch, int]:
    """The phi-th compound-scaled architecture, its width then corrected until its measured
    FLOPs lie within 10% of `target_flops` (rounding to whole fields and blocks moves them)."""
    depth, width, resolution = coefficients.alpha**phi, coefficients.beta**phi, coefficients.gamma**phi
    best: tuple[float, Arch, int] | None = None
    correction = 1.0
    for _ in range(max_steps):
        arch = scale_arch(base, depth, width * correction, resolution, coefficients.group)
        flops = arch_flops(arch)
        miss = abs(flops / target_flops - 1.0)
        if best is None or miss < best[0]:
            best = (miss, arch, flops)
        if miss <= FLOP_TOLERANCE / 2:
            break
        correction *= math.sqrt(target_flops / flops)  # FLOPs ~ width^2
    assert best is not None
    return best[1], best[2]
