"""The common frame of every family: features -> invariant pooling (over the group and over
space, `arch.head`) -> linear.

Pooling over the whole group and the whole image makes the logits invariant and lets the model
take any input size above its minimum.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.families.blocks import ConvNormAct, LayerOptions
from eqnas.groups import FieldType, Group
from eqnas.nn import Restrict
from eqnas.nn.pooling import InvariantPool

# (input type, stage, options) -> (the stage's layers, output type): all a family defines
StageBuilder = Callable[[FieldType, Stage, LayerOptions], tuple[list[nn.Module], FieldType]]


class EquivariantNet(nn.Module):
    def __init__(self, arch: Arch, features: nn.Sequential, out_type: FieldType,
                 stage_spans: tuple[tuple[int, int], ...] = ()) -> None:
        super().__init__()
        self.arch = arch
        self.features = features
        # (index in `features` of a stage's first layer, its number of layers), one per stage: a
        # supernet maps the layers of a shallower subnet onto its own by these
        self.stage_spans = stage_spans
        self.pool = InvariantPool(out_type, arch.head)
        self.classifier = nn.Linear(self.pool.features, arch.num_classes)
        # Small logits at initialisation: the first loss is about log(classes), whatever the depth
        # (not zero, so an untrained network's logits still show whether it is invariant).
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


def layer_options(arch: Arch) -> LayerOptions:
    return LayerOptions(arch.norm, arch.activation, arch.weight_standardization, arch.post_residual_norm)


def input_type(arch: Arch) -> FieldType:
    """Image channels are scalar (trivial) fields of the stem's group."""
    return FieldType(arch.base_group, arch.in_channels, regular=False)


def restrict_if_needed(layers: list[nn.Module], current: FieldType, stage_group: Group) -> FieldType:
    """Appends a restriction layer when a stage declares a subgroup; returns the new type."""
    if stage_group == current.group:
        return current
    restrict = Restrict(current, stage_group)
    layers.append(restrict)
    return restrict.out_type


def repeat_layers(current: FieldType, depth: int, stride: int,
                  make: Callable[[FieldType, int], nn.Module]) -> tuple[list[nn.Module], FieldType]:
    """`depth` layers from `make(input type, stride)`, the first with `stride`, chained by type."""
    layers: list[nn.Module] = []
    for index in range(depth):
        layer = make(current, stride if index == 0 else 1)
        layers.append(layer)
        current = layer.out_type
    return layers, current


def assemble(arch: Arch, stage_layers: StageBuilder) -> EquivariantNet:
    """Lifting stem, then each stage (restricted to its group first), then the invariant head."""
    options = layer_options(arch)
    stem = ConvNormAct(input_type(arch), arch.stem.width, arch.stem.kernel, arch.stem.stride, options)
    layers: list[nn.Module] = [stem]
    current = stem.out_type
    spans = []
    for stage, group in zip(arch.stages, arch.stage_groups()):
        current = restrict_if_needed(layers, current, group)
        new_layers, current = stage_layers(current, stage, options)
        spans.append((len(layers), len(new_layers)))
        layers.extend(new_layers)
    return EquivariantNet(arch, nn.Sequential(*layers), current, tuple(spans))
