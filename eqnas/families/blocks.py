"""Building blocks shared by the families. Each takes an input field type and reports its
output field type (`out_type`), so a network reads as a chain of types."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from eqnas.groups import FieldType
from eqnas.nn import EquivariantConv2d, make_activation, make_norm


@dataclass(frozen=True)
class LayerOptions:
    """The per-layer choices an architecture file makes once for the whole network."""

    norm: str = "batch"
    activation: str = "relu"
    weight_standardization: bool = False
    post_residual_norm: bool = False


class ConvNormAct(nn.Sequential):
    """Equivariant convolution -> field norm -> pointwise nonlinearity (optional). The
    convolution has a bias only without a norm (a norm's shift makes it redundant)."""

    def __init__(self, in_type: FieldType, out_fields: int, kernel: int, stride: int,
                 options: LayerOptions, activate: bool = True, padding: int | None = None) -> None:
        out_type = FieldType(in_type.group, out_fields)
        layers = [
            EquivariantConv2d(in_type, out_type, kernel, stride, bias=options.norm == "none",
                              weight_standardization=options.weight_standardization, padding=padding),
            make_norm(options.norm, out_type),
        ]
        if activate:
            layers.append(make_activation(options.activation))
        super().__init__(*layers)
        self.out_type = out_type


class _Residual(nn.Module):
    """Residual wrapper: act(norm?(body(x) + shortcut(x)))."""

    def __init__(self, in_type: FieldType, body: nn.Module, out_type: FieldType, stride: int,
                 options: LayerOptions) -> None:
        super().__init__()
        self.body, self.out_type = body, out_type
        needs_projection = stride != 1 or in_type != out_type
        self.shortcut = (
            ConvNormAct(in_type, out_type.fields, 1, stride, options, activate=False) if needs_projection else nn.Identity()
        )
        self.after_add = make_norm(options.norm, out_type) if options.post_residual_norm else nn.Identity()
        self.act = make_activation(options.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.after_add(self.body(x) + self.shortcut(x)))


class BasicBlock(_Residual):
    """Two k x k convolutions (ResNet-18/34 style)."""

    def __init__(self, in_type: FieldType, out_fields: int, kernel: int, stride: int, options: LayerOptions) -> None:
        first = ConvNormAct(in_type, out_fields, kernel, stride, options)
        second = ConvNormAct(first.out_type, out_fields, kernel, 1, options, activate=False)
        super().__init__(in_type, nn.Sequential(first, second), second.out_type, stride, options)


class Bottleneck(_Residual):
    """1x1 reduce -> k x k (strided) -> 1x1 expand (ResNet-50 style); the middle has width/4 fields."""

    expansion = 4

    def __init__(self, in_type: FieldType, out_fields: int, kernel: int, stride: int, options: LayerOptions) -> None:
        mid = max(1, out_fields // self.expansion)
        reduce = ConvNormAct(in_type, mid, 1, 1, options)
        spatial = ConvNormAct(reduce.out_type, mid, kernel, stride, options)
        expand = ConvNormAct(spatial.out_type, out_fields, 1, 1, options, activate=False)
        super().__init__(in_type, nn.Sequential(reduce, spatial, expand), expand.out_type, stride, options)


BLOCKS: dict[str, type[_Residual]] = {"basic": BasicBlock, "bottleneck": Bottleneck}
