"""ResNet-9 (Page's DAWNBench net, the backbone of Hölzl et al. 2023): each stage is one
conv-norm-act, a centred max pool for its stride, then `depth` residual blocks."""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families.blocks import BLOCKS, ConvNormAct, LayerOptions
from eqnas.families.network import EquivariantNet, assemble, repeat_layers
from eqnas.groups import FieldType
from eqnas.nn import spatial_max_pool


def resnet9_stage(current: FieldType, stage: Stage, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    conv = ConvNormAct(current, stage.width, stage.kernel, 1, options)
    layers: list[nn.Module] = [conv]
    current = conv.out_type
    if stage.stride > 1:
        layers.append(spatial_max_pool(stage.stride))
    block = BLOCKS[stage.block]
    blocks, current = repeat_layers(current, stage.depth, 1,
                                    lambda in_type, stride: block(in_type, stage.width, stage.kernel, stride, options))
    return layers + blocks, current


def build_resnet9(arch: Arch) -> EquivariantNet:
    return assemble(arch, resnet9_stage)
