"""Opacus per-sample-gradient rules for eqnas layers, one file per layer type.

Importing this package registers every rule with Opacus: per-sample gradients (its
`register_grad_sampler` decorator) and, for ghost clipping, per-sample gradient norms
(`norm_*.py`, see `ghost`; layers without a norm rule fall back to their per-sample gradient).
Layers without parameters (Restrict, GroupPool, pooling, activations) need none; nn.Linear uses
Opacus's own gradient rule and eqnas's norm rule. Wrap models with `grad_sample_module` or
`ghost_module`, which know the buffers eqnas layers hold that Opacus's own check would refuse.
"""
from eqnas.train.grad_samplers import depthwise_conv, equivariant_conv, field_group_norm, squeeze_excite  # noqa: F401
from eqnas.train.grad_samplers import norm_equivariant_conv, norm_field_group_norm, norm_linear  # noqa: F401
from eqnas.train.grad_samplers.constant_buffers import grad_sample_module, private_buffers
from eqnas.train.grad_samplers.ghost import ghost_module

__all__ = ["ghost_module", "grad_sample_module", "private_buffers"]
