"""Depthwise group convolution: each regular field convolved with itself, with its own
coefficients (MBConv's spatial layer). Exported as `nn.Conv2d(groups=fields)`: each group of
that convolution is one field's |G| channels, so it mixes the group elements of a field but
never two fields; for the trivial group it is the plain depthwise convolution.
"""
from __future__ import annotations

import math

from torch import nn

from eqnas.groups import FieldType
from eqnas.nn.conv import EquivariantConv2d


class DepthwiseGroupConv2d(EquivariantConv2d):
    """`coefficients` [fields, 1, K] over the regular-to-regular basis [K, |G|, |G|, k, k];
    the expanded filter is [fields * |G|, |G|, k, k]. Bias (optional) is one per field."""

    def __init__(self, field_type: FieldType, kernel: int, stride: int = 1, bias: bool = False,
                 weight_standardization: bool = False, padding: int | None = None) -> None:
        if not field_type.regular:
            raise ValueError(f"a depthwise group convolution needs regular fields, got {field_type}")
        # One input field per output field: the parent then holds [fields, 1, K] coefficients.
        one_field = FieldType(field_type.group, 1)
        super().__init__(one_field, field_type, kernel, stride, bias, weight_standardization, padding)
        self.in_type = field_type

    def reset_parameters(self) -> None:
        """He initialisation with a depthwise filter's fan-in, |G| k^2."""
        nn.init.normal_(self.coefficients, std=math.sqrt(2.0 / (self.out_type.size * self.kernel**2)))

    @property
    def groups(self) -> int:
        return self.out_type.fields

    def extra_repr(self) -> str:
        return f"depthwise {self.out_type}, kernel={self.kernel}, stride={self.stride}, basis={self.basis.shape[0]}"
