"""Architecture families, registered by name: adding a family is adding one file here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from eqnas.registry import Registry

FamilyBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class Family:
    build: FamilyBuilder
    shrink: int = 0  # pixels a stride-1 pool takes off the map after the stem and after each stage
    stage_padding: bool = False  # whether stages honour `Stage.padding` (residual blocks keep the map size)


FAMILIES: Registry[Family] = Registry("family")
family_names = FAMILIES.names


def register_family(name: str, shrink: int = 0,
                    stage_padding: bool = False) -> Callable[[FamilyBuilder], FamilyBuilder]:
    """Decorator registering a family's builder and its geometry (see `Family`)."""

    def add(build: FamilyBuilder) -> FamilyBuilder:
        FAMILIES.add(name, Family(build, shrink, stage_padding))
        return build

    return add


def get_family(name: str) -> FamilyBuilder:
    return FAMILIES.get_or_fail(name).build


# Importing the family modules registers them.
from eqnas.families import convpool, plain, resnet, resnet9  # noqa: E402,F401
