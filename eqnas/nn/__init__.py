"""Equivariant layers with tensors in and out (channel = field * |G| + group element)."""
from eqnas.nn.activation import make_activation
from eqnas.nn.conv import EquivariantConv2d
from eqnas.nn.export import export
from eqnas.nn.norm import FieldBatchNorm, FieldGroupNorm, make_norm
from eqnas.nn.pooling import GroupPool, spatial_max_pool
from eqnas.nn.restriction import Restrict, restricted_type

__all__ = [
    "EquivariantConv2d", "FieldBatchNorm", "FieldGroupNorm", "GroupPool", "Restrict",
    "export", "make_activation", "make_norm", "restricted_type", "spatial_max_pool",
]
