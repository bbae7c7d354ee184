"""Architecture families, registered by name: adding a family is adding one file here."""
from __future__ import annotations

from typing import Callable

from torch import nn

from eqnas.registry import Registry

FamilyBuilder = Callable[..., nn.Module]
FAMILIES: Registry[FamilyBuilder] = Registry("family")
register_family = FAMILIES.register
family_names = FAMILIES.names
get_family = FAMILIES.get_or_fail


# Importing the family modules registers them.
from eqnas.families import plain, resnet, resnet9  # noqa: E402,F401
