"""Equivariant ResNet: lifting stem, then stages of basic or bottleneck residual blocks."""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families import register_family
from eqnas.families.blocks import BLOCKS, LayerOptions
from eqnas.families.network import EquivariantNet, assemble
from eqnas.groups import FieldType


def residual_stage(current: FieldType, stage: Stage, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    """`depth` residual blocks; the first one applies the stage's stride."""
    layers: list[nn.Module] = []
    for index in range(stage.depth):
        block = BLOCKS[stage.block](current, stage.width, stage.kernel, stage.stride if index == 0 else 1, options)
        layers.append(block)
        current = block.out_type
    return layers, current


@register_family("resnet")
def build_resnet(arch: Arch) -> EquivariantNet:
    return assemble(arch, residual_stage)
