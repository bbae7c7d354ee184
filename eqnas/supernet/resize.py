"""Elastic resolution: images resized to a subnet's resolution. Bilinear with aligned corners
samples a grid symmetric under the square's rotations and flips, so resizing commutes with them."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, size, size] (x itself when it already has that size)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=True)


class Resize(torch.nn.Module):
    """`resize` as a module, put in front of a static subnet scored on images of another size."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, self.size)
