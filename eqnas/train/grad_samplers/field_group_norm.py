"""Per-sample gradients of FieldGroupNorm: one weight and one bias per field, shared by the
field's |G| channels, so each sums over those channels and over space."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from opacus.grad_sample import register_grad_sampler

from eqnas.nn import FieldGroupNorm


@register_grad_sampler(FieldGroupNorm)
def compute_field_group_norm_grad_sample(
    layer: FieldGroupNorm, activations: list[torch.Tensor], backprops: torch.Tensor
) -> dict[torch.nn.Parameter, torch.Tensor]:
    x = activations[0].to(backprops.dtype)
    batch, fields = x.shape[0], layer.field_type.fields
    grads = {}
    if layer.weight.requires_grad:
        normalized = F.group_norm(x, fields, eps=layer.eps)
        # [B, F*G, H, W] -> [B, F, G*H*W]
        grads[layer.weight] = (normalized * backprops).reshape(batch, fields, -1).sum(-1)
    if layer.bias.requires_grad:
        grads[layer.bias] = backprops.reshape(batch, fields, -1).sum(-1)
    return grads
