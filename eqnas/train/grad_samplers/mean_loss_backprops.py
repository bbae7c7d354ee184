"""Opacus's per-sample gradients of a mean loss, with the batch size applied once, not per layer.

Each sample's gradient of a mean loss over n rows is 1/n of its own loss's gradient, so Opacus's
GradSampleModule with loss_reduction="mean" multiplies every layer's backprops by n before its
grad sampler: one pass over the output gradient of every layer, 5-7% of a DP step of the C8
ResNet of benchmarks/dp_overhead.py on CPU. Here the wrapper's hooks take the backprops as they
come (Opacus's "sum"), and the gradient of the wrapper's output is multiplied by n instead, once:
every layer's backprops are then those of the summed loss, and its per-sample gradients are the
same numbers Opacus's "mean" gives. The wrapper still expects a mean loss and says so
(`loss_reduction == "mean"`, which PrivacyEngine.make_private checks against its optimizer's).

What changes is `p.grad` of the parameters autograd still differentiates (biases, norms, the
classifier; see `coefficients_from_hooks` for the coefficients): n times the mean loss's. The DP
optimizer never reads it; it replaces it by the clipped, noised sum of the per-sample gradients.
"""
from __future__ import annotations

import torch
from opacus import GradSampleModule
from torch import nn


class ScaledGradient(torch.autograd.Function):
    """The identity forward; the backward multiplies the gradient by `factor`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def mean_loss_module(model: nn.Module) -> GradSampleModule:
    """`model` wrapped for the per-sample gradients of a mean loss over the rows of its input."""
    wrapper = GradSampleModule(model, loss_reduction="sum", strict=False)
    wrapper.loss_reduction = "mean"  # what the caller's loss is; the hooks were bound to "sum" above

    def scale_output_gradient(_module, _args, output):
        if wrapper.hooks_enabled and isinstance(output, torch.Tensor) and output.requires_grad:
            return ScaledGradient.apply(output, len(output))
        return None

    wrapper.register_forward_hook(scale_output_gradient)
    return wrapper
