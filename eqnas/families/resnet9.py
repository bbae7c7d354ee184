"""ResNet-9 (Page's DAWNBench net, the backbone of Hölzl et al. 2023): each stage is one
conv-norm-act, a centred max pool for its stride, then `depth` residual blocks."""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch
from eqnas.families import register_family
from eqnas.families.blocks import BLOCKS, ConvNormAct
from eqnas.families.network import EquivariantNet, input_type, layer_options, restrict_if_needed
from eqnas.nn import spatial_max_pool


@register_family("resnet9")
def build_resnet9(arch: Arch) -> EquivariantNet:
    options = layer_options(arch)
    stem = ConvNormAct(input_type(arch), arch.stem.width, arch.stem.kernel, arch.stem.stride, options)
    layers: list[nn.Module] = [stem]
    current = stem.out_type
    for stage, group in zip(arch.stages, arch.stage_groups()):
        current = restrict_if_needed(layers, current, group)
        conv = ConvNormAct(current, stage.width, stage.kernel, 1, options)
        layers.append(conv)
        current = conv.out_type
        if stage.stride > 1:
            layers.append(spatial_max_pool(stage.stride))
        for _ in range(stage.depth):
            block = BLOCKS[stage.block](current, stage.width, stage.kernel, 1, options)
            layers.append(block)
            current = block.out_type
    return EquivariantNet(arch, nn.Sequential(*layers), current)
