"""Per-sample gradient norms of FieldGroupNorm: its per-sample gradient has two numbers per
field, fewer than any Gram matrix, so the norm comes from the gradient itself."""
from __future__ import annotations

import torch
from torch import nn

from eqnas.nn import FieldGroupNorm
from eqnas.train.grad_samplers.field_group_norm import compute_field_group_norm_grad_sample
from eqnas.train.grad_samplers.ghost import mean_view_norms, norm_rule


@norm_rule(FieldGroupNorm)
def field_group_norm_norm_sample(layer: FieldGroupNorm, activations: list[torch.Tensor], backprops: torch.Tensor,
                                 views: int = 1) -> dict[nn.Parameter, torch.Tensor]:
    return mean_view_norms(compute_field_group_norm_grad_sample(layer, activations, backprops), views)
