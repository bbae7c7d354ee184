"""Architecture families, registered by name: adding a family is one module here plus one line
below. The built-in families are listed by reference (``eqnas.lazy.Lazy``) with their geometry,
so this package imports no builder: ``eqnas.arch`` checks names and sizes here, and every builder
imports ``eqnas.arch``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from eqnas.lazy import Lazy
from eqnas.registry import Registry

FamilyBuilder = Callable[..., Any]  # Arch -> torch.nn.Module (torch is not imported here)


@dataclass(frozen=True)
class Family:
    build: FamilyBuilder
    shrink: int = 0  # pixels a stride-1 pool takes off the map after the stem and after each stage
    stage_padding: bool = False  # whether stages honour `Stage.padding` (residual blocks keep the map size)
    blocks: tuple[str, ...] = ("basic", "bottleneck")  # block kinds its stages may name (eqnas.families.block_names)


FAMILIES: Registry[Family] = Registry("family")
family_names = FAMILIES.names


def register_family(name: str, build: FamilyBuilder, shrink: int = 0, stage_padding: bool = False,
                    blocks: tuple[str, ...] = Family.blocks) -> None:
    """A family's builder (a callable or a `Lazy` reference to one), its geometry and its block kinds (see `Family`)."""
    FAMILIES.add(name, Family(build, shrink, stage_padding, blocks))


def get_family(name: str) -> FamilyBuilder:
    return FAMILIES.get_or_fail(name).build


register_family("plain", Lazy("eqnas.families.plain:build_plain"), stage_padding=True)
register_family("resnet", Lazy("eqnas.families.resnet:build_resnet"))
register_family("resnet9", Lazy("eqnas.families.resnet9:build_resnet9"))
# shrink: convpool.POOL_SHRINK (tests/test_arch.py checks they agree)
register_family("convpool", Lazy("eqnas.families.convpool:build_convpool"), shrink=1, stage_padding=True)
register_family("mbconv", Lazy("eqnas.families.mbconv:build_mbconv"), blocks=("mbconv", "fused", "conv"))
