"""Pooling over the group (to invariants) and over space, and the flattening head of plain CNNs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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


class InvariantPool(nn.Module):
    """The invariant features the classifier sees, per field of the last stage: [B, F*G, H, W] ->
    [B, k*F]. Pooling over the whole group and the whole image keeps them invariant.

    "max": max over the group, mean over space (k = 1), the usual G-CNN head.
    "max_mean": max and mean over the group, each averaged and maxed over space (k = 4). With
    few last-stage fields the single invariant starves the classifier: a plain CNN of equal
    FLOPs hands it about |G| times more channels.
    """

    INVARIANTS = {"max": 1, "max_mean": 4}

    def __init__(self, field_type: FieldType, kind: str) -> None:
        super().__init__()
        self.group_pool = GroupPool(field_type)
        self.kind = kind
        self.features = self.INVARIANTS[kind] * field_type.fields

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        group_max = self.group_pool(x)
        if self.kind == "max":
            return F.adaptive_avg_pool2d(group_max, 1).flatten(1)
        batch, _, height, width = x.shape
        group_mean = x.reshape(batch, self.group_pool.fields, self.group_pool.size, height, width).mean(dim=2)
        invariant = torch.cat([group_max, group_mean], dim=1)
        pooled = (F.adaptive_avg_pool2d(invariant, 1), F.adaptive_max_pool2d(invariant, 1))
        return torch.cat(pooled, dim=1).flatten(1)


class FlattenPool(nn.Module):
    """Max over the group, then every position kept: [B, F*G, H, W] -> [B, F*H*W]. Invariant only
    for the trivial group (a plain CNN's flatten); `size` is the side of the map it expects."""

    def __init__(self, field_type: FieldType, size: int) -> None:
        super().__init__()
        self.group_pool = GroupPool(field_type)
        self.features = field_type.fields * size * size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.group_pool(x).flatten(1)


def spatial_max_pool(stride: int) -> nn.MaxPool2d:
    """Max pooling that commutes with grid rotations and flips: a centred, odd window
    (stride 2 -> 3x3, padding 1), exact when (size - 1) is divisible by the stride."""
    return nn.MaxPool2d(kernel_size=2 * stride - 1, stride=stride, padding=stride - 1)
