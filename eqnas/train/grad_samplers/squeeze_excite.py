"""Per-sample gradients of FieldSqueezeExcite.

y = x * gate, gate = sigmoid(W2 act(W1 p + b1) + b2) per field, p the field averages of x. The
parameters reach the output only through the gate, so with the backprops dy [B, F*G, H, W]:
d gate = sum over each field's channels and positions of dy * x [B, F], then back through the
sigmoid and the two affine maps one sample at a time (outer products per sample). The
activation's derivative comes from autograd (it acts elementwise, so one vector-Jacobian
product gives every sample's).
"""
from __future__ import annotations

import torch
from opacus.grad_sample import register_grad_sampler

from eqnas.nn.squeeze_excite import FieldSqueezeExcite


def parameter_grads(layer: FieldSqueezeExcite, x: torch.Tensor, backprops: torch.Tensor) -> dict:
    """Each parameter's per-sample gradient, [B, *parameter shape]."""
    with torch.enable_grad():
        pooled = layer.pooled(x).detach()
        pre = (pooled @ layer.reduce_weight.detach().T + layer.reduce_bias.detach()).requires_grad_()
        hidden = layer.act(pre)
    gate = torch.sigmoid(hidden.detach() @ layer.expand_weight.detach().T + layer.expand_bias.detach())
    # [B, F*G, H, W] -> [B, F]: the gradient of each field's gate
    d_gate = (backprops * x).reshape(x.shape[0], layer.field_type.fields, -1).sum(-1)
    d_logit = d_gate * gate * (1 - gate)
    d_pre = torch.autograd.grad(hidden, pre, d_logit @ layer.expand_weight.detach())[0]
    return {
        layer.expand_weight: torch.einsum("bf,bh->bfh", d_logit, hidden.detach()),
        layer.expand_bias: d_logit,
        layer.reduce_weight: torch.einsum("bh,bf->bhf", d_pre, pooled),
        layer.reduce_bias: d_pre,
    }


@register_grad_sampler(FieldSqueezeExcite)
def compute_squeeze_excite_grad_sample(
    layer: FieldSqueezeExcite, activations: list[torch.Tensor], backprops: torch.Tensor
) -> dict[torch.nn.Parameter, torch.Tensor]:
    grads = parameter_grads(layer, activations[0].to(backprops.dtype), backprops)
    return {param: grad for param, grad in grads.items() if param.requires_grad}
