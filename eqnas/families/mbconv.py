"""Equivariant EfficientNet family (Tan & Le 2019; Fused-MBConv from Tan & Le 2021): lifting
stem, then stages of MBConv, Fused-MBConv or plain conv blocks, named per stage by
`Stage.block` (eqnas.families.block_names: ``mbconv_e6_se0.25``, ``fused_e4``, ``conv``).

Widths are in fields of the stage's group, so the 1x1 expand and project convolutions are
the group convolution with kernel 1, the spatial layer is the depthwise group convolution,
and squeeze-and-excitation gates whole fields. A block adds its input back (with stochastic
depth, where its name asks for it) when it keeps the stride and the field type, as in
EfficientNet; the others have no shortcut. `arch.post_residual_norm` does not apply here.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families.block_names import BlockSpec, parse_block
from eqnas.families.blocks import ConvNormAct, LayerOptions
from eqnas.families.network import EquivariantNet, assemble, repeat_layers
from eqnas.groups import FieldType
from eqnas.nn import make_activation, make_norm
from eqnas.nn.depthwise import DepthwiseGroupConv2d
from eqnas.nn.drop_path import DropPath
from eqnas.nn.squeeze_excite import FieldSqueezeExcite


def se_hidden(in_fields: int, ratio: float) -> int:
    """Squeeze-and-excitation width: a ratio of the block's input fields (EfficientNet), at least 1."""
    return max(1, int(in_fields * ratio))


class DepthwiseNormAct(nn.Sequential):
    """Depthwise group convolution -> field norm -> nonlinearity (bias only without a norm)."""

    def __init__(self, field_type: FieldType, kernel: int, stride: int, options: LayerOptions) -> None:
        super().__init__(
            DepthwiseGroupConv2d(field_type, kernel, stride, bias=options.norm == "none",
                                 weight_standardization=options.weight_standardization),
            make_norm(options.norm, field_type),
            make_activation(options.activation),
        )
        self.out_type = field_type


class MobileBlock(nn.Module):
    """body(x), plus x (through stochastic depth) when the block keeps stride and field type."""

    def __init__(self, in_type: FieldType, layers: list[nn.Module], stride: int, drop: float) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.out_type = layers[-1].out_type
        self.residual = stride == 1 and in_type == self.out_type
        self.drop_path = DropPath(drop) if self.residual and drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + self.drop_path(out) if self.residual else out


def _squeeze(current: FieldType, in_type: FieldType, spec: BlockSpec, options: LayerOptions) -> list[nn.Module]:
    return [FieldSqueezeExcite(current, se_hidden(in_type.fields, spec.se), options.activation)] if spec.se else []


def mbconv(in_type: FieldType, out_fields: int, kernel: int, stride: int, spec: BlockSpec,
           options: LayerOptions) -> MobileBlock:
    """1x1 expand (skipped for expand 1) -> k x k depthwise (strided) -> SE -> 1x1 project."""
    layers: list[nn.Module] = []
    if spec.expand != 1:
        layers.append(ConvNormAct(in_type, in_type.fields * spec.expand, 1, 1, options))
    current = layers[-1].out_type if layers else in_type
    layers.append(DepthwiseNormAct(current, kernel, stride, options))
    layers += _squeeze(current, in_type, spec, options)
    layers.append(ConvNormAct(current, out_fields, 1, 1, options, activate=False))
    return MobileBlock(in_type, layers, stride, spec.drop)


def fused(in_type: FieldType, out_fields: int, kernel: int, stride: int, spec: BlockSpec,
          options: LayerOptions) -> MobileBlock:
    """k x k expand (strided) -> SE -> 1x1 project; with expand 1, one k x k conv-norm-act."""
    if spec.expand == 1:
        first = ConvNormAct(in_type, out_fields, kernel, stride, options)
        return MobileBlock(in_type, [first, *_squeeze(first.out_type, in_type, spec, options)], stride, spec.drop)
    first = ConvNormAct(in_type, in_type.fields * spec.expand, kernel, stride, options)
    layers = [first, *_squeeze(first.out_type, in_type, spec, options),
              ConvNormAct(first.out_type, out_fields, 1, 1, options, activate=False)]
    return MobileBlock(in_type, layers, stride, spec.drop)


def conv(in_type: FieldType, out_fields: int, kernel: int, stride: int, spec: BlockSpec,
         options: LayerOptions) -> ConvNormAct:
    """One conv-norm-act, no shortcut (EfficientNet's 1x1 head convolution)."""
    return ConvNormAct(in_type, out_fields, kernel, stride, options)


BlockBuilder = Callable[[FieldType, int, int, int, BlockSpec, LayerOptions], nn.Module]
BUILDERS: dict[str, BlockBuilder] = {"mbconv": mbconv, "fused": fused, "conv": conv}  # eqnas.families lists these names


def mbconv_stage(current: FieldType, stage: Stage, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    """`depth` blocks named by `stage.block`; the first one applies the stage's stride."""
    spec = parse_block(stage.block, tuple(BUILDERS))
    make = BUILDERS[spec.kind]
    return repeat_layers(current, stage.depth, stage.stride,
                         lambda in_type, stride: make(in_type, stage.width, stage.kernel, stride, spec, options))


def build_mbconv(arch: Arch) -> EquivariantNet:
    return assemble(arch, mbconv_stage)
