"""Equivariant ResNet: lifting stem, then stages of basic or bottleneck residual blocks."""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch
from eqnas.families import register_family
from eqnas.families.blocks import BLOCKS, ConvNormAct
from eqnas.families.network import EquivariantNet, input_type, layer_options, restrict_if_needed


@register_family("resnet")
def build_resnet(arch: Arch) -> EquivariantNet:
    options = layer_options(arch)
    stem = ConvNormAct(input_type(arch), arch.stem.width, arch.stem.kernel, arch.stem.stride, options)
    layers: list[nn.Module] = [stem]
    current = stem.out_type
    for stage, group in zip(arch.stages, arch.stage_groups()):
        current = restrict_if_needed(layers, current, group)
        for index in range(stage.depth):
            block = BLOCKS[stage.block](current, stage.width, stage.kernel, stage.stride if index == 0 else 1, options)
            layers.append(block)
            current = block.out_type
    return EquivariantNet(arch, nn.Sequential(*layers), current)
