"""Opacus per-sample-gradient rules for eqnas layers, one file per layer type.

Importing this package registers every rule with Opacus (its `register_grad_sampler`
decorator). Layers without parameters (Restrict, GroupPool, pooling, activations) need none,
and nn.Linear uses Opacus's own rule. Wrap models
with `grad_sample_module`, which knows the buffers eqnas layers hold that Opacus's own check
would refuse.
"""
from eqnas.train.grad_samplers import depthwise_conv, equivariant_conv, field_group_norm, squeeze_excite  # noqa: F401
from eqnas.train.grad_samplers.constant_buffers import grad_sample_module, private_buffers

__all__ = ["grad_sample_module", "private_buffers"]
