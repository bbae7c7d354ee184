"""Equivariant ResNet: lifting stem, then stages of basic or bottleneck residual blocks."""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families.blocks import BLOCKS, LayerOptions
from eqnas.families.network import EquivariantNet, assemble, repeat_layers
from eqnas.groups import FieldType


def residual_stage(current: FieldType, stage: Stage, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    """`depth` residual blocks; the first one applies the stage's stride."""
    block = BLOCKS[stage.block]
    return repeat_layers(current, stage.depth, stage.stride,
                         lambda in_type, stride: block(in_type, stage.width, stage.kernel, stride, options))


def build_resnet(arch: Arch) -> EquivariantNet:
    return assemble(arch, residual_stage)
