"""The small CNNs of the DP-SGD literature (Papernot et al. 2021; Tramèr & Boneh 2021, whose
Fashion-MNIST net is examples/tramer2021_cnn.json): plain stages, with a 2x2 max pool of stride 1
after the stem and after every stage; usually tanh, no norm, the flattening head and a hidden layer.

Equivariance: the pool is a maximum per channel, so it commutes with the channel permutations of
regular fields, and it takes every 2x2 window of the grid, which a grid rotation or flip maps onto
another 2x2 window while the (H-1)x(W-1) output grid keeps the input's centre: it is exact on the
pixel grid. Exactness of the whole net is then decided by the strided convolutions, as for the
plain family (`Arch.exact_resolution`, with `POOL_SHRINK`).
"""
from __future__ import annotations

from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families.blocks import LayerOptions
from eqnas.families.network import EquivariantNet, assemble, conv_stem
from eqnas.families.plain import plain_stage
from eqnas.groups import FieldType

POOL = 2  # window of the stride-1 max pool
POOL_SHRINK = POOL - 1  # pixels it takes off each side of the map


def pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(POOL, stride=1)


def pooled_stem(arch: Arch, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    layers, out_type = conv_stem(arch, options)
    return [*layers, pool()], out_type


def pooled_stage(current: FieldType, stage: Stage, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    layers, out_type = plain_stage(current, stage, options)
    return [*layers, pool()], out_type


def build_convpool(arch: Arch) -> EquivariantNet:
    return assemble(arch, pooled_stage, pooled_stem)
