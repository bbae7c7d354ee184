"""Restriction of regular fields of G to regular fields of a subgroup H: a fixed channel
permutation, no parameters, exact ([G:H] copies of H's regular representation per field)."""
from __future__ import annotations

import torch
from torch import nn

from eqnas.groups import FieldType, Group
from eqnas.nn.basis import restriction_permutation


def restricted_type(field_type: FieldType, subgroup: Group) -> FieldType:
    """The same channels, read as regular fields of `subgroup`."""
    return FieldType(subgroup, field_type.fields * subgroup.index_in(field_type.group))


class Restrict(nn.Module):
    """Reorders each field's channels so they read as [G:H] regular fields of H."""

    def __init__(self, field_type: FieldType, subgroup: Group) -> None:
        super().__init__()
        self.in_type, self.out_type = field_type, restricted_type(field_type, subgroup)
        within = torch.tensor(restriction_permutation(field_type.group, subgroup))
        offsets = torch.arange(field_type.fields).repeat_interleave(field_type.size) * field_type.size
        self.register_buffer("index", offsets + within.repeat(field_type.fields), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}"
