"""Equivariance check: how much the logits change when the input is transformed by the group.

Exact transformations on the pixel grid (rotations by multiples of 90 degrees, the group's
reflections) are the assertion; for 8 or 16 rotations the 45 / 22.5 degree rotations of a
disc-masked input are reported (interpolation makes them approximate). Every forward of one
check draws the same random numbers, so train-mode randomness (stochastic depth) is compared
like with like.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from eqnas.arch import Arch
from eqnas.groups import Group

Transform = Callable[[torch.Tensor], torch.Tensor]


def _rotate(k: int) -> Transform:
    return lambda x: torch.rot90(x, k, dims=(-2, -1))


def _reflect_then_rotate(k: int) -> Transform:
    # escnn's reflection (axis 0) acts on images as a left-right mirror
    return lambda x: torch.rot90(x.flip(-1), k, dims=(-2, -1))


def grid_transformations(group: Group) -> dict[str, Transform]:
    """The group's elements that map the pixel grid onto itself, by name."""
    transforms: dict[str, Transform] = {f"rot{90 * k}": _rotate(k) for k in group.grid_rotations()}
    if group.has_reflection:
        for k in (0, *group.grid_rotations()):
            transforms["flip" if k == 0 else f"flip+rot{90 * k}"] = _reflect_then_rotate(k)
    return transforms


def off_grid_angles(group: Group) -> list[float]:
    """Rotations of the group that are not multiples of 90 degrees, for N of 8 or 16."""
    if group.rotations not in (8, 16):
        return []
    step = 360.0 / group.rotations
    return [step * k for k in range(1, group.rotations) if (step * k) % 90]


def rotate_image(x: torch.Tensor, degrees: float) -> torch.Tensor:
    theta = math.radians(degrees)
    matrix = torch.tensor([[math.cos(theta), -math.sin(theta), 0.0], [math.sin(theta), math.cos(theta), 0.0]])
    grid = F.affine_grid(matrix.expand(x.shape[0], 2, 3).to(x), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def disc_mask(x: torch.Tensor) -> torch.Tensor:
    size = x.shape[-1]
    coords = torch.linspace(-1, 1, size)
    inside = (coords[None, :] ** 2 + coords[:, None] ** 2) <= 1.0
    return x * inside.to(x)


def relative_error(reference: torch.Tensor, other: torch.Tensor) -> float:
    return ((other - reference).abs().max() / reference.abs().max().clamp_min(1e-12)).item()


@torch.no_grad()
def equivariance_errors(model: nn.Module, arch: Arch, size: int | None = None, batch: int = 4,
                        seed: int = 0) -> dict[str, dict[str, float]]:
    """{'exact': {name: max relative error}, 'approximate': {'rot45': ...}} for the final group."""
    size = arch.exact_resolution(size)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    x = torch.randn(batch, arch.in_channels, size, size, generator=generator).to(device)
    model = _fixed_randomness(model, seed)
    reference = model(x)
    group = arch.final_group
    exact = {name: relative_error(reference, model(transform(x))) for name, transform in grid_transformations(group).items()}
    # a smooth input: interpolation error of white noise would swamp the rotation error
    smooth = F.interpolate(x[..., ::4, ::4], size=(size, size), mode="bicubic", align_corners=True)
    masked = disc_mask(smooth)
    masked_reference = model(masked)
    approximate = {
        f"rot{angle:g}": relative_error(masked_reference, model(disc_mask(rotate_image(masked, angle))))
        for angle in off_grid_angles(group)
    }
    return {"exact": exact, "approximate": approximate, "size": size}  # type: ignore[dict-item]


def _fixed_randomness(model: nn.Module, seed: int) -> Transform:
    """`model` with the same random draws on every call (stochastic depth's masks in train mode
    compare like with like), leaving the global random state as it was."""

    def run(x: torch.Tensor) -> torch.Tensor:
        devices = [x.device] if x.is_cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return model(x)

    return run
