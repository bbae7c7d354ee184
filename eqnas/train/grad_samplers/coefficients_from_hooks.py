"""Opacus's GradSampleModule without autograd's own coefficient gradients.

Under DP (hooks mode) the grad samplers give each sample's coefficient gradient and the DP
optimizer replaces `p.grad` with their clipped, noised sum, so the batch coefficient gradient
that autograd computes as well (the convolution's weight gradient and its contraction with the
basis: about a third of a non-DP backward of a C8 ResNet on CPU) is thrown away. During the
wrapper's forward every EquivariantConv2d whose input carries a gradient builds its filter
without autograd's path to the coefficients; the backward still reaches its input, so Opacus's
hook on it fires and samples the coefficients as before. A layer whose input needs no gradient
(the stem) keeps the path, else its hook would never fire. Outside the wrapper's forward (the
model called directly, evaluation) the layers are unchanged. Hooks on the wrapper rather than a
subclass: Opacus's make_private accepts a GradSampleModule only of its exact class.
"""
from __future__ import annotations

from opacus import GradSampleModule

from eqnas.nn import EquivariantConv2d


def coefficients_from_hooks(wrapper: GradSampleModule) -> GradSampleModule:
    """`wrapper`, its forward switching its EquivariantConv2d layers to hook-only coefficients."""
    layers = [m for m in wrapper._module.modules() if isinstance(m, EquivariantConv2d)]

    def before(_module, _args) -> None:
        for layer in layers:
            layer.coefficient_grads_from_hooks = wrapper.hooks_enabled

    def after(_module, _args, _output) -> None:
        for layer in layers:
            layer.coefficient_grads_from_hooks = False

    wrapper.register_forward_pre_hook(before)
    wrapper.register_forward_hook(after, always_call=True)
    return wrapper
