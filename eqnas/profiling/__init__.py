"""Cost of an architecture: FLOPs (fvcore), parameters, activation memory, latency."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.profiling.budget import format_flops, parse_budget
from eqnas.profiling.flops import FLOP_CONVENTION, count_flops
from eqnas.profiling.measure import activation_bytes, count_parameters, latency_ms, trainable_parameters


@dataclass(frozen=True)
class Profile:
    flops: int
    params: int
    dense_params: int
    activation_bytes: int
    latency_ms: float | None
    resolution: int
    convention: str = FLOP_CONVENTION

    def to_dict(self) -> dict:
        return asdict(self)


def arch_flops(arch: Arch) -> int:
    """FLOPs of one sample at the architecture's resolution (fvcore convention)."""
    return count_flops(build(arch), arch.resolution, arch.in_channels)


def arch_params(arch: Arch) -> int:
    """Trainable coefficients of the architecture's network."""
    return trainable_parameters(build(arch))


def profile(arch: Arch, latency: bool = True, device: str = "cpu", batch: int = 1) -> Profile:
    model = build(arch).eval()
    trainable, dense = count_parameters(model)
    return Profile(
        flops=count_flops(model, arch.resolution, arch.in_channels),
        params=trainable,
        dense_params=dense,
        activation_bytes=activation_bytes(model, arch.resolution, arch.in_channels),
        latency_ms=latency_ms(model, arch.resolution, arch.in_channels, batch, device) if latency else None,
        resolution=arch.resolution,
    )


__all__ = ["Profile", "arch_flops", "arch_params", "count_flops", "format_flops", "parse_budget", "profile", "FLOP_CONVENTION"]
