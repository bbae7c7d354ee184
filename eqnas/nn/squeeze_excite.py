"""Squeeze-and-excitation on invariants (Hu et al. 2018, as in EfficientNet): each regular
field is averaged over its |G| channels and over space (an invariant), a small MLP maps the
field averages to one gate per field, and the gate scales all |G| channels of its field.
A gate that is constant on a field commutes with the group's channel permutations, and the
averages are invariant, so the layer is equivariant. Plain PyTorch already (nn.Linear, an
average pool, reshapes), so `export()` keeps it as it is.

FLOPs (fvcore): the pool counts one per input element, each linear layer in x out; the
activation, sigmoid and product count zero.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from eqnas.groups import FieldType
from eqnas.nn.activation import make_activation


class FieldSqueezeExcite(nn.Module):
    """[B, F*G, H, W] -> same shape, each field scaled by sigmoid(MLP(field averages))."""

    def __init__(self, field_type: FieldType, hidden: int, activation: str = "relu") -> None:
        super().__init__()
        self.field_type = self.out_type = field_type
        self.reduce = nn.Linear(field_type.fields, hidden)
        self.act = make_activation(activation)
        self.expand = nn.Linear(hidden, field_type.fields)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, fields, size = x.shape[0], self.field_type.fields, self.field_type.size
        # [B, F*G, H, W] -> [B, F*G] -> [B, F]: the mean of each field over space and group
        pooled = F.adaptive_avg_pool2d(x, 1).reshape(batch, fields, size).mean(-1)
        gate = torch.sigmoid(self.expand(self.act(self.reduce(pooled))))
        return x * gate.repeat_interleave(size, dim=1)[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.field_type}, hidden={self.reduce.out_features}"
