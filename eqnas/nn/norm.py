"""Normalisation over whole regular fields, so every channel of a field is treated alike.

`FieldBatchNorm` keeps one statistic per field (across batch, group and space).
`FieldGroupNorm` normalises each sample's fields on their own, sharing nothing between
samples, which is what DP-SGD needs (per-sample gradients stay per-sample).
`NoNorm` is the identity, for networks without normalisation (their convolutions keep a bias).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eqnas.groups import FieldType


class FieldBatchNorm(nn.Module):
    """Batch norm with statistics and affine parameters per field."""

    def __init__(self, field_type: FieldType, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.field_type = field_type
        self.bn = nn.BatchNorm1d(field_type.fields, eps=eps, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        # [B, F*G, H, W] -> [B, F, G*H*W]: one statistic per field
        return self.bn(x.reshape(batch, self.field_type.fields, -1)).reshape(batch, -1, height, width)

    def to_plain(self) -> nn.BatchNorm2d:
        """Eval-mode equivalent: statistics and affine repeated over each field's channels."""
        size, bn = self.field_type.size, self.bn
        plain = nn.BatchNorm2d(self.field_type.channels, eps=bn.eps, momentum=bn.momentum)
        with torch.no_grad():
            plain.running_mean.copy_(bn.running_mean.repeat_interleave(size))
            plain.running_var.copy_(bn.running_var.repeat_interleave(size))
            plain.weight.copy_(bn.weight.repeat_interleave(size))
            plain.bias.copy_(bn.bias.repeat_interleave(size))
        return plain.eval().to(bn.weight.device)


class FieldGroupNorm(nn.Module):
    """Per-sample norm over each field (GroupNorm with one group per field, affine per field)."""

    def __init__(self, field_type: FieldType, eps: float = 1e-5) -> None:
        super().__init__()
        self.field_type, self.eps = field_type, eps
        self.weight = nn.Parameter(torch.ones(field_type.fields))
        self.bias = nn.Parameter(torch.zeros(field_type.fields))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.field_type.size
        return F.group_norm(
            x, self.field_type.fields, self.weight.repeat_interleave(size), self.bias.repeat_interleave(size), self.eps
        )

    def to_plain(self) -> nn.GroupNorm:
        size = self.field_type.size
        plain = nn.GroupNorm(self.field_type.fields, self.field_type.channels, eps=self.eps)
        with torch.no_grad():
            plain.weight.copy_(self.weight.repeat_interleave(size))
            plain.bias.copy_(self.bias.repeat_interleave(size))
        return plain.to(self.weight.device)


class NoNorm(nn.Identity):
    """No normalisation: the identity (it takes the field type like the others)."""

    def __init__(self, field_type: FieldType) -> None:
        super().__init__()


NORMS: dict[str, type[nn.Module]] = {"batch": FieldBatchNorm, "group": FieldGroupNorm, "none": NoNorm}


def make_norm(name: str, field_type: FieldType) -> nn.Module:
    return NORMS[name](field_type)
