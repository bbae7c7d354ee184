"""Pooling that keeps equivariance: over the group (to invariants) and over space."""
from __future__ import annotations

import torch
from torch import nn

from eqnas.groups import FieldType


class GroupPool(nn.Module):
    """Max over the |G| channels of each regular field: [B, F*G, H, W] -> [B, F, H, W], invariant.

    Plain PyTorch already, so `export()` keeps it as it is.
    """

    def __init__(self, field_type: FieldType) -> None:
        super().__init__()
        self.fields, self.size = field_type.fields, field_type.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        return x.reshape(batch, self.fields, self.size, height, width).amax(dim=2)


def spatial_max_pool(stride: int) -> nn.MaxPool2d:
    """Max pooling that commutes with grid rotations and flips: a centred, odd window
    (stride 2 -> 3x3, padding 1), exact when (size - 1) is divisible by the stride."""
    return nn.MaxPool2d(kernel_size=2 * stride - 1, stride=stride, padding=stride - 1)
