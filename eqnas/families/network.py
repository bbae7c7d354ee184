"""The common frame of every family: features -> pooling (`arch.head`) -> linear, with an
optional hidden layer (`arch.hidden`) before it. As in timm, `forward_features` gives the last
(equivariant) feature map, `forward_head` the logits from it, and `reset_classifier` a fresh
last linear layer for another number of classes.

Pooling over the whole group and the whole image makes the logits invariant and lets the model
take any input size above its minimum; the "flatten" head (plain CNNs) keeps every position, so
the model takes `arch.resolution` only.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from eqnas.arch import Arch, Stage
from eqnas.errors import EqnasError
from eqnas.families.blocks import ConvNormAct, LayerOptions
from eqnas.groups import FieldType, Group
from eqnas.nn import Restrict, make_activation
from eqnas.nn.pooling import FlattenPool, InvariantPool

# (input type, stage, options) -> (the stage's layers, output type): all a family defines
StageBuilder = Callable[[FieldType, Stage, LayerOptions], tuple[list[nn.Module], FieldType]]
# (arch, options) -> (the stem's layers, output type)
StemBuilder = Callable[[Arch, LayerOptions], tuple[list[nn.Module], FieldType]]


class EquivariantNet(nn.Module):
    def __init__(self, arch: Arch, features: nn.Sequential, out_type: FieldType,
                 stage_spans: tuple[tuple[int, int], ...] = ()) -> None:
        super().__init__()
        self.arch = arch
        self.features = features
        # (index in `features` of a stage's first layer, its number of layers), one per stage: a
        # supernet maps the layers of a shallower subnet onto its own by these
        self.stage_spans = stage_spans
        if arch.head == "flatten":
            self.pool: nn.Module = FlattenPool(out_type, feature_map_size(features, arch))
        else:
            self.pool = InvariantPool(out_type, arch.head)
        logits = logits_layer(arch.hidden or self.pool.features, arch.num_classes)
        self.classifier = logits if not arch.hidden else nn.Sequential(
            nn.Linear(self.pool.features, arch.hidden), make_activation(arch.activation), logits)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map [B, fields x |G|, H', W'], equivariant (not yet pooled)."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from `forward_features`' map: pooled to invariants, then classified."""
        return self.classifier(self.pool(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """A freshly initialised last linear layer with `num_classes` outputs (a hidden layer, if
        any, keeps its weights); `arch.num_classes` follows."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise EqnasError(f"num_classes {num_classes!r}: expected an integer >= 1")
        old = self.classifier[-1] if isinstance(self.classifier, nn.Sequential) else self.classifier
        new = logits_layer(old.in_features, num_classes).to(old.weight.device, old.weight.dtype)
        if isinstance(self.classifier, nn.Sequential):
            self.classifier[-1] = new
        else:
            self.classifier = new
        self.arch = self.arch.replace(num_classes=num_classes)


def logits_layer(in_features: int, num_classes: int) -> nn.Linear:
    """The last linear layer. Small logits at initialisation: the first loss is about
    log(classes), whatever the depth (not zero, so an untrained network's logits still show
    whether it is invariant)."""
    layer = nn.Linear(in_features, num_classes)
    nn.init.normal_(layer.weight, std=0.01)
    nn.init.zeros_(layer.bias)
    return layer


def feature_map_size(features: nn.Module, arch: Arch) -> int:
    """Side of the last feature map for an `arch.resolution` input: one pass in eval mode, so
    no statistics move."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        size = features(torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution)).shape[-1]
    features.train(was_training)
    return size


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


def conv_stem(arch: Arch, options: LayerOptions) -> tuple[list[nn.Module], FieldType]:
    """The lifting convolution, normalised and activated."""
    stem = ConvNormAct(input_type(arch), arch.stem.width, arch.stem.kernel, arch.stem.stride, options,
                       padding=arch.stem.padding)
    return [stem], stem.out_type


def assemble(arch: Arch, stage_layers: StageBuilder, stem_layers: StemBuilder = conv_stem) -> EquivariantNet:
    """Lifting stem, then each stage (restricted to its group first), then the head."""
    options = layer_options(arch)
    layers, current = stem_layers(arch, options)
    spans = []
    for stage, group in zip(arch.stages, arch.stage_groups()):
        current = restrict_if_needed(layers, current, group)
        new_layers, current = stage_layers(current, stage, options)
        spans.append((len(layers), len(new_layers)))
        layers.extend(new_layers)
    return EquivariantNet(arch, nn.Sequential(*layers), current, tuple(spans))
