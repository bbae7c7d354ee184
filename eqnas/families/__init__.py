"""Architecture families, registered by name: adding a family is one module here plus one line
below. The built-in families are listed by reference (``eqnas.lazy.Lazy``), so this package
imports no builder: ``eqnas.arch`` checks names here, and every builder imports ``eqnas.arch``."""
from __future__ import annotations

from typing import Any, Callable

from eqnas.lazy import Lazy
from eqnas.registry import Registry

FamilyBuilder = Callable[..., Any]  # Arch -> torch.nn.Module (torch is not imported here)
FAMILIES: Registry[FamilyBuilder] = Registry("family")
register_family = FAMILIES.register
family_names = FAMILIES.names
get_family = FAMILIES.get_or_fail

FAMILIES.add("plain", Lazy("eqnas.families.plain:build_plain"))
FAMILIES.add("resnet", Lazy("eqnas.families.resnet:build_resnet"))
FAMILIES.add("resnet9", Lazy("eqnas.families.resnet9:build_resnet9"))
