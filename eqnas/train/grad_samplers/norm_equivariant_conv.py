"""Per-sample gradient norms of EquivariantConv2d.

The output is linear in the coefficients: y[o, go, t] = sum_(i,k) c[o, i, k] z[(i, k), go, t],
with z the input unfolded and contracted with the basis (z = sum_q basis[k, go, q] a[(i, q), t]).
So the coefficients are a linear layer with p = O outputs, d = I*K inputs and T = |Go| * L
positions (output group elements count as positions: one coefficient serves them all), and the
mixed rule of `ghost` applies: Gram matrices of z and of the backprops when 2T^2 <= p*d, else
the per-sample gradient from `equivariant_conv` (its cheaper contraction order), a cache-sized
chunk of samples at a time. Weight standardisation makes the filter nonlinear in the coefficients, so it always
takes the per-sample gradient.
"""
from __future__ import annotations

import torch
from torch import nn

from eqnas.nn import EquivariantConv2d
from eqnas.train.grad_samplers.equivariant_conv import chunk_size, coefficient_grad_sample, windows
from eqnas.train.grad_samplers.ghost import by_sample, ghost_is_cheaper, mean_view_norms, norm_rule, outer_norms


def uses_ghost_norm(layer: EquivariantConv2d, positions: int, views: int) -> bool:
    """Gram matrices or per-sample gradient, for `positions` output pixels per view."""
    out_f, in_f, size = layer.coefficients.shape
    gram_positions = views * layer.basis.shape[1] * positions
    return not layer.weight_standardization and ghost_is_cheaper(gram_positions, out_f, in_f * size)


def folded_input(layer: EquivariantConv2d, x: torch.Tensor) -> torch.Tensor:
    """[n, C, H, W] -> z as [n, Go*L, I*K]: the basis folded into the unfolded input."""
    n, in_f = x.shape[0], layer.coefficients.shape[1]
    patches = windows(x, layer.kernel, layer.padding, layer.stride).permute(0, 2, 3, 1, 4, 5)
    patches = patches.reshape(n, -1, in_f, layer.basis[0, 0].numel())  # [n, L, I, Gi*k*k]
    z = torch.einsum("nliq,kgq->nglik", patches, layer.basis.to(x.dtype).flatten(2))
    return z.reshape(n, -1, z.shape[-2] * z.shape[-1])


def gradient_norms(layer: EquivariantConv2d, x: torch.Tensor, backprops: torch.Tensor, positions: int,
                   views: int) -> torch.Tensor:
    """[B]: per-sample coefficient gradients a chunk of whole samples at a time (CPU: cache-sized,
    see `equivariant_conv.chunk_size`), each chunk dropped once its norms are taken."""
    step = max(1, chunk_size(layer, x, positions) // views) * views
    return torch.cat([
        mean_view_norms({layer.coefficients: coefficient_grad_sample(layer, x[start:start + step],
                                                                     backprops[start:start + step])}, views)[layer.coefficients]
        for start in range(0, x.shape[0], step)
    ])


@norm_rule(EquivariantConv2d)
def equivariant_conv_norm_sample(layer: EquivariantConv2d, activations: list[torch.Tensor], backprops: torch.Tensor,
                                 views: int = 1) -> dict[nn.Parameter, torch.Tensor]:
    x = activations[0].to(backprops.dtype)
    n, out_f, positions = x.shape[0], layer.coefficients.shape[0], backprops.shape[2] * backprops.shape[3]
    norms = {}
    if layer.coefficients.requires_grad:
        if uses_ghost_norm(layer, positions, views):
            # backprops [n, O*Go, H, W] -> [n, Go*L, O], positions ordered as in z
            grads = backprops.reshape(n, out_f, -1).transpose(1, 2)
            norms[layer.coefficients] = outer_norms(by_sample(folded_input(layer, x), views),
                                                    by_sample(grads, views)) / views
        else:
            norms[layer.coefficients] = gradient_norms(layer, x, backprops, positions, views)
    if layer.bias is not None and layer.bias.requires_grad:
        # [n, O*Go, H, W] -> [n, O]: a field's bias feeds all |G| channels at every position
        norms.update(mean_view_norms({layer.bias: backprops.reshape(n, out_f, -1).sum(-1)}, views))
    return norms
