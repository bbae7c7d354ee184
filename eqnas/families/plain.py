"""A small plain-style net: lifting stem, then stages of conv-norm-act layers (no residuals)."""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families.blocks import ConvNormAct, LayerOptions
from eqnas.families.network import EquivariantNet, assemble, repeat_layers
from eqnas.groups import FieldType


def plain_stage(current: FieldType, stage: Stage, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    """`depth` conv-norm-act layers padded by `stage.padding`; the first one applies the stage's stride."""
    return repeat_layers(current, stage.depth, stage.stride,
                         lambda in_type, stride: ConvNormAct(in_type, stage.width, stage.kernel, stride, options,
                                                             padding=stage.padding))


def build_plain(arch: Arch) -> EquivariantNet:
    return assemble(arch, plain_stage)
