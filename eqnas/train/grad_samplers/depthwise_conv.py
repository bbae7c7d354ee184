"""Per-sample gradients of DepthwiseGroupConv2d.

Field f's output channels (f, go) see only its own input channels (f, gi), so the per-sample
filter gradient is one small product per sample and field: backprops [Go, L] x unfolded input
[L, Gi*k*k] (L output positions), then the contraction with the basis [K, Go*Gi*k*k]. In
multiply-adds per sample (one multiply-add = one FLOP), with Q = Gi*k*k: F*Go*Q*(L + K).
Weight standardisation is pulled back on the filter gradient as for EquivariantConv2d.
"""
from __future__ import annotations

import torch
from opacus.grad_sample import register_grad_sampler

from eqnas.nn.conv import WS_EPS, standardize
from eqnas.nn.depthwise import DepthwiseGroupConv2d
from eqnas.train.grad_samplers.constant_buffers import register_constant_buffers
from eqnas.train.grad_samplers.equivariant_conv import layer_grad_sample, pull_back_standardization, windows

register_constant_buffers(DepthwiseGroupConv2d, "basis")  # fixed by group and kernel size


def standardization(layer: DepthwiseGroupConv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(standardised filter [F*Go, Gi*k*k], scale [F*Go, 1]) of the layer's current weights."""
    with torch.no_grad():
        raw = _raw_filter(layer)
        scale = torch.sqrt(raw.var(dim=1, keepdim=True, unbiased=False) + WS_EPS)
        return standardize(raw[:, :, None, None]).flatten(1), scale


def _raw_filter(layer: DepthwiseGroupConv2d) -> torch.Tensor:
    # [F, K] x [K, Go*Gi*k*k] -> [F*Go, Gi*k*k]: the filter before standardisation
    return (layer.coefficients[:, 0] @ layer.basis.flatten(1)).reshape(layer.out_type.channels, -1)


def coefficient_grad_sample(layer: DepthwiseGroupConv2d, x: torch.Tensor, backprops: torch.Tensor) -> torch.Tensor:
    """[B, F, 1, K]: each sample's gradient of the coefficients."""
    n, fields, size = x.shape[0], layer.out_type.fields, layer.coefficients.shape[-1]
    group, k = layer.out_type.size, layer.kernel
    # [n, F*Gi, Ho, Wo, k, k] -> [n*F, Gi*k*k, L]
    columns = windows(x, k, layer.padding, layer.stride).permute(0, 1, 4, 5, 2, 3)
    columns = columns.reshape(n * fields, group * k * k, -1)
    rows = backprops.reshape(n * fields, group, -1)  # [n*F, Go, L]
    filters = torch.bmm(rows, columns.transpose(1, 2))  # [n*F, Go, Gi*k*k]
    if layer.weight_standardization:
        filters = pull_back_standardization(filters.reshape(n, fields * group, -1), *standardization(layer))
    filters = filters.reshape(n * fields, -1)  # [n*F, Go*Gi*k*k], matching the basis
    return (filters @ layer.basis.to(filters.dtype).reshape(size, -1).T).view(n, fields, 1, size)


@register_grad_sampler(DepthwiseGroupConv2d)
def compute_depthwise_conv_grad_sample(
    layer: DepthwiseGroupConv2d, activations: list[torch.Tensor], backprops: torch.Tensor
) -> dict[torch.nn.Parameter, torch.Tensor]:
    return layer_grad_sample(layer, activations, backprops, coefficient_grad_sample)
