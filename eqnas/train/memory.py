"""How many images one forward/backward pass may hold, estimated before anything is allocated.

The network is built on PyTorch's meta device (shapes only, no memory) and run on one image.
Conventions, stated once (bytes at the parameters' precision, float32):
- fixed: parameters, their gradients, optimizer state and a weight average: 4x the parameters,
  plus WORKSPACE_BYTES for the per-layer chunks of eqnas's grad samplers and the allocator.
- per image (one augmented view): the output of every leaf module, times ACTIVATION_FACTOR for
  what autograd saves inside modules and the backward pass's gradients of activations; under
  DP `hooks` also the per-sample gradient of every parameter (held for all layers until
  clipping) and Opacus's flattened copy of it; under `ghost` the factor is larger (the graph is
  kept for the second backward pass) and per-sample gradients live one layer at a time.
- budget: BUDGET_SHARE of the memory the device has available when the run starts (CUDA:
  `torch.cuda.mem_get_info`; CPU: /proc/meminfo's MemAvailable, capped by a cgroup limit).
ACTIVATION_FACTOR was read off benchmarks/dp_overhead.py's measured peaks (CPU profiler) for the
Hölzl ResNet-9 and the C8 ResNet, rounded up.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.errors import EqnasError

ACTIVATION_FACTOR = {"plain": 1.5, "hooks": 1.5, "ghost": 2.0}
PER_SAMPLE_GRADIENT_COPIES = {"plain": 0, "hooks": 2, "ghost": 0}
FIXED_PARAMETER_COPIES = 4
WORKSPACE_BYTES = 256 * 2**20
BUDGET_SHARE = 0.7
GIB = 2**30


@dataclass(frozen=True)
class MemoryPlan:
    fixed_bytes: int
    image_bytes: int  # one augmented view
    available_bytes: int
    physical_batch_size: int | None  # images per pass, views included; None: the whole batch at once
    mode: str  # plain, hooks or ghost

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        chosen = "the whole batch at once" if self.physical_batch_size is None else (
            f"{self.physical_batch_size} images per pass")
        return (f"physical batch: {chosen} (estimated {self.image_bytes / 2**20:.1f} MiB per image, "
                f"{self.fixed_bytes / GIB:.2f} GiB fixed, {self.available_bytes / GIB:.1f} GiB available)")


def leaf_output_bytes(arch: Arch) -> tuple[int, int]:
    """(parameters, bytes of every leaf module's output for one image), on the meta device."""
    with torch.device("meta"):
        model = build(arch)
    model = model.to("meta")  # buffers made from NumPy (the kernel bases) were on the CPU
    total = 0

    def count(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * output.element_size()

    handles = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution, device="meta"))
    for handle in handles:
        handle.remove()
    return sum(p.numel() for p in model.parameters()), total


def available_bytes(device: torch.device) -> int:
    """Memory the device can still give: free CUDA memory, or the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    available = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemAvailable:")).split()[1]) * 1024
    limit, used = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    if limit.exists() and used.exists() and limit.read_text().strip() != "max":
        available = min(available, int(limit.read_text()) - int(used.read_text()))
    return available


def plan_memory(arch: Arch, batch_size: int, views: int, mode: str, device: torch.device,
                physical_batch_size: int | None = None) -> MemoryPlan:
    """The physical batch (given, or the largest that fits), or an EqnasError when the network
    or one sample with its views does not fit. A Poisson batch may exceed `batch_size`, so the
    whole batch counts 4 standard deviations more samples."""
    params, leaf_bytes = leaf_output_bytes(arch)
    parameter_bytes = FIXED_PARAMETER_COPIES * params * 4
    fixed = parameter_bytes + WORKSPACE_BYTES
    image = int(ACTIVATION_FACTOR[mode] * leaf_bytes) + PER_SAMPLE_GRADIENT_COPIES[mode] * params * 4
    available = available_bytes(device)
    budget = int(BUDGET_SHARE * available)
    where = f"{BUDGET_SHARE:.0%} of the {available / GIB:.1f} GiB available on {device}"
    if fixed > budget:
        raise EqnasError(f"the architecture does not fit in memory: its {params:,} parameters need about "
                         f"{parameter_bytes / GIB:.2f} GiB with gradients and optimizer state, plus "
                         f"{WORKSPACE_BYTES / 2**20:.0f} MiB workspace, over {where}")
    if fixed + views * image > budget:
        raise EqnasError(f"one sample does not fit in memory: {views} view(s) of {image / 2**20:.0f} MiB each "
                         f"(activations{'' if mode == 'plain' else ', per-sample gradients'}) plus "
                         f"{fixed / GIB:.2f} GiB fixed is over {where}")
    if physical_batch_size is None:
        fits = (budget - fixed) // image
        largest = math.ceil(batch_size + 4 * math.sqrt(batch_size)) * views
        physical_batch_size = None if fits >= largest else max(views, fits // views * views)
    return MemoryPlan(fixed, image, available, physical_batch_size, mode)
