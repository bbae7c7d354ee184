"""Per-sample gradient norms of nn.Linear (the classifier and hidden layer), views grouped.

Replaces Opacus's own nn.Linear norm sampler in its table: the same numbers for one view per
sample, plus the grouping of K views (see `ghost`)."""
from __future__ import annotations

import torch
from torch import nn

from eqnas.train.grad_samplers.ghost import by_sample, norm_rule, outer_norms


@norm_rule(nn.Linear)
def linear_norm_sample(layer: nn.Linear, activations: list[torch.Tensor], backprops: torch.Tensor,
                       views: int = 1) -> dict[nn.Parameter, torch.Tensor]:
    x = activations[0].to(backprops.dtype)
    # [N, ..., d] -> [B, K*T, d]: a sequence's positions and a sample's views are positions
    inputs = by_sample(x.reshape(x.shape[0], -1, x.shape[-1]), views)
    grads = by_sample(backprops.reshape(backprops.shape[0], -1, backprops.shape[-1]), views)
    norms = {}
    if layer.weight.requires_grad:
        norms[layer.weight] = outer_norms(inputs, grads) / views
    if layer.bias is not None and layer.bias.requires_grad:
        norms[layer.bias] = grads.sum(1).norm(dim=1) / views
    return norms
