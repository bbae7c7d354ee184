"""Architecture families, registered by name: adding a family is adding one file here."""
from __future__ import annotations

from typing import Callable

from torch import nn

from eqnas.errors import EqnasError

FamilyBuilder = Callable[..., nn.Module]
_FAMILIES: dict[str, FamilyBuilder] = {}


def register_family(name: str) -> Callable[[FamilyBuilder], FamilyBuilder]:
    def decorator(builder: FamilyBuilder) -> FamilyBuilder:
        if name in _FAMILIES:
            raise ValueError(f"family {name!r} is registered twice")
        _FAMILIES[name] = builder
        return builder

    return decorator


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str) -> FamilyBuilder:
    if name not in _FAMILIES:
        raise EqnasError(f"unknown family {name!r}: choose one of {', '.join(family_names())}")
    return _FAMILIES[name]


# Importing the family modules registers them.
from eqnas.families import plain, resnet, resnet9  # noqa: E402,F401
