"""Symmetry groups of the plane that eqnas builds networks for.

A `Group` is a small value type: the kind (cyclic or dihedral) and the number of rotations.
`trivial` is C1 (a plain CNN); D1 is a single reflection. The mapping to escnn's groups lives
in `eqnas.nn.basis`, so this module stays free of heavy imports.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from eqnas.errors import EqnasError

MAX_ROTATIONS = 16
_NAME = re.compile(r"^([CD])(\d+)$")


@dataclass(frozen=True, order=True)
class Group:
    """C_N (N rotations) or D_N (N rotations and N reflections)."""

    kind: Literal["C", "D"]
    rotations: int

    @property
    def order(self) -> int:
        """|G|: the size of one regular field, in channels."""
        return self.rotations * (2 if self.kind == "D" else 1)

    @property
    def name(self) -> str:
        return "trivial" if self.is_trivial else f"{self.kind}{self.rotations}"

    @property
    def is_trivial(self) -> bool:
        return self.kind == "C" and self.rotations == 1

    @property
    def has_reflection(self) -> bool:
        return self.kind == "D"

    def is_subgroup_of(self, other: "Group") -> bool:
        """True for the subgroups eqnas can restrict to: fewer rotations dividing the larger
        count, and a reflection only where the larger group has one (same axis)."""
        if other.rotations % self.rotations:
            return False
        return other.kind == "D" or self.kind == "C"

    def index_in(self, other: "Group") -> int:
        """[other : self], the number of self-regular fields in one other-regular field."""
        return other.order // self.order

    def grid_rotations(self) -> tuple[int, ...]:
        """Multiples of 90 degrees (as k in rot90(k)) that the group contains: exact on a grid."""
        if self.rotations % 4 == 0:
            return (1, 2, 3)
        if self.rotations % 2 == 0:
            return (2,)
        return ()

    def __str__(self) -> str:
        return self.name


def parse_group(name: str) -> Group:
    """'trivial', 'C1'..'C16', 'D1'..'D16' (case-insensitive for the letter)."""
    text = str(name).strip()
    if text.lower() in ("trivial", "c1", "e"):
        return Group("C", 1)
    match = _NAME.match(text.upper())
    if not match or not 1 <= int(match.group(2)) <= MAX_ROTATIONS:
        raise EqnasError(
            f"unknown group {name!r}: use 'trivial', 'C1'..'C{MAX_ROTATIONS}' or 'D1'..'D{MAX_ROTATIONS}'"
        )
    return Group(match.group(1), int(match.group(2)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FieldType:
    """`fields` regular fields of `group` (or `fields` scalar channels when `regular` is False).

    Layout convention: channel = field * |G| + group element, so each field is a contiguous
    block of |G| channels. `channels` is computed here and nowhere else.
    """

    group: Group
    fields: int
    regular: bool = True

    @property
    def size(self) -> int:
        return self.group.order if self.regular else 1

    @property
    def channels(self) -> int:
        return self.fields * self.size

    def __str__(self) -> str:
        kind = "regular" if self.regular else "trivial"
        return f"{self.fields}x{kind}[{self.group}]"
