"""Squeeze-and-excitation on invariants (Hu et al. 2018, as in EfficientNet): each regular
field is averaged over its |G| channels and over space (an invariant), a small MLP maps the
field averages to one gate per field, and the gate scales all |G| channels of its field.
A gate that is constant on a field commutes with the group's channel permutations, and the
averages are invariant, so the layer is equivariant. Plain PyTorch already (an average pool,
two affine maps, reshapes), so `export()` keeps it as it is.

The layer holds its MLP's tensors itself, [hidden, fields] and [fields, hidden] with biases,
so that each is sliced by field prefixes like any per-field tensor (the supernet) and has one
per-sample-gradient rule (eqnas.train.grad_samplers.squeeze_excite).

FLOPs (fvcore): the pool counts one per input element, each affine map in x out; the
activation, sigmoid and product count zero.
"""
from __future__ import annotations

import math

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
        fields = field_type.fields
        self.reduce_weight = nn.Parameter(torch.empty(hidden, fields))
        self.reduce_bias = nn.Parameter(torch.empty(hidden))
        self.expand_weight = nn.Parameter(torch.empty(fields, hidden))
        self.expand_bias = nn.Parameter(torch.empty(fields))
        self.act = make_activation(activation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation for both maps."""
        for weight, bias in ((self.reduce_weight, self.reduce_bias), (self.expand_weight, self.expand_bias)):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(weight.shape[1])
            nn.init.uniform_(bias, -bound, bound)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """[B, F*G, H, W] -> [B, F*G] -> [B, F]: the mean of each field over space and group."""
        return F.adaptive_avg_pool2d(x, 1).reshape(x.shape[0], self.field_type.fields, self.field_type.size).mean(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.act(F.linear(self.pooled(x), self.reduce_weight, self.reduce_bias))
        gate = torch.sigmoid(F.linear(hidden, self.expand_weight, self.expand_bias))
        return x * gate.repeat_interleave(self.field_type.size, dim=1)[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.field_type}, hidden={self.reduce_weight.shape[0]}"
