"""Per-sample gradients of EquivariantConv2d.

The layer convolves with a filter made from its coefficients and the basis, so each sample's
coefficient gradient contracts three tensors: its backprops [O, Go, L] (L output positions), its
unfolded input [I, Gi*k*k, L] and the basis [K, Go, Gi*k*k]. Two orders, per sample, in
multiply-adds (one multiply-add = one FLOP), with Q = Gi*k*k:

- filter first: the per-sample filter gradient, as Opacus computes it for nn.Conv2d, then the
  contraction with the basis: O*Go*I*Q*(L + K);
- basis first: the basis folded into the unfolded input, then the contraction with the
  backprops: I*K*Go*L*(Q + O).

The cheaper one runs. Filter first wins on early, large maps; basis first on late maps smaller
than about the field count (a 4x4 map of 32 C8 fields: 2-4x faster measured). Folding the basis
into the backprops first, O*K*Q*L*(Go + I), costs more than one of these except for layers with
a handful of basis filters, so it is not implemented.

Weight standardisation makes the filter a nonlinear function of the coefficients. Its Jacobian
depends on the weights only, not on the sample, so one linear map (closed form below) pulls back
every sample's filter gradient; it needs whole filter gradients, so only filter first applies.

Layout (eqnas.groups.FieldType: channel = field * |G| + element; unfolding: channel-major, then
kernel position): filter row = (o, go), filter column = (i, gi, ky, kx).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from opacus.grad_sample import register_grad_sampler

from eqnas.nn import EquivariantConv2d
from eqnas.nn.conv import WS_EPS, standardize
from eqnas.train.grad_samplers.constant_buffers import register_constant_buffers

register_constant_buffers(EquivariantConv2d, "basis")  # fixed by group and kernel size

# On CPU, samples go through in chunks whose working set (unfolded input, backprops, filter
# gradients) is about this size: cache-sized chunks run the narrow late layers 2-3x faster than
# one batched call. 16 MiB was the best or near-best of 2..64 MiB at 1, 2, 4, 8 and 16 threads
# (benchmarks/dp_overhead.py's C8 ResNet). Other devices take the whole batch in one call.
CPU_CHUNK_BYTES = 16 * 2**20


def windows(x: torch.Tensor, kernel: int, padding: int, stride: int) -> torch.Tensor:
    """[n, C, H, W] -> the strided view [n, C, Ho, Wo, k, k]; reshaping it copies several times
    faster than F.unfold's im2col on CPU."""
    return F.pad(x, (padding,) * 4).unfold(2, kernel, stride).unfold(3, kernel, stride)


Pullback = tuple[torch.Tensor, torch.Tensor] | None  # weight standardisation's (filter, scale)


def standardization(layer: EquivariantConv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(standardised filter [O*Go, I*Gi*k*k], scale [O*Go, 1]) of the layer's current weights."""
    with torch.no_grad():
        # [O, I, K] x [K, Go, Gi*k*k] -> [O, Go, I, Gi*k*k]: the filter before standardisation
        raw = torch.einsum("oik,kgq->ogiq", layer.coefficients, layer.basis.flatten(2))
        raw = raw.reshape(layer.out_type.channels, -1)
        scale = torch.sqrt(raw.var(dim=1, keepdim=True, unbiased=False) + WS_EPS)
        return standardize(raw[:, :, None, None]).flatten(1), scale


def pull_back_standardization(grads: torch.Tensor, standardized: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Gradients w.r.t. the standardised filter -> w.r.t. the filter before it, per output channel:
    (g - mean(g) - y * mean(g * y)) / s, with y the standardised filter and s = sqrt(var + eps)."""
    centred = grads - grads.mean(-1, keepdim=True)
    return (centred - standardized * (grads * standardized).mean(-1, keepdim=True)) / scale


def sample_bytes(layer: EquivariantConv2d, positions: int, element_size: int) -> int:
    """Working set of one sample: unfolded input, backprops and filter gradient."""
    columns = layer.in_type.channels * layer.kernel**2
    return (columns * positions + layer.out_type.channels * (positions + columns)) * element_size


def chunk_size(layer: EquivariantConv2d, x: torch.Tensor, positions: int) -> int:
    if x.device.type != "cpu":
        return x.shape[0]
    return max(1, CPU_CHUNK_BYTES // sample_bytes(layer, positions, x.element_size()))


def flop_counts(layer: EquivariantConv2d, positions: int) -> dict[str, int]:
    """Multiply-adds per sample of each contraction order (one multiply-add = one FLOP)."""
    out_f, in_f, size = layer.coefficients.shape
    _, out_g, in_g, k, _ = layer.basis.shape
    q = in_g * k * k
    return {
        "filter first": out_f * out_g * in_f * q * (positions + size),
        "basis first": in_f * size * out_g * positions * (q + out_f),
    }


def contraction_order(layer: EquivariantConv2d, positions: int) -> str:
    """The cheaper order; weight standardisation needs whole filter gradients (filter first)."""
    if layer.weight_standardization:
        return "filter first"
    counts = flop_counts(layer, positions)
    return min(counts, key=counts.get)


def filter_first(layer: EquivariantConv2d, x: torch.Tensor, backprops: torch.Tensor, pullback: Pullback) -> torch.Tensor:
    """[n, O, I, K] through the per-sample filter gradients [n, O*Go, I*Gi*k*k]."""
    n, (out_f, in_f, size), out_g = x.shape[0], layer.coefficients.shape, layer.basis.shape[1]
    columns = windows(x, layer.kernel, layer.padding, layer.stride).permute(0, 1, 4, 5, 2, 3)
    columns = columns.reshape(n, layer.in_type.channels * layer.kernel**2, -1)  # [n, I*Gi*k*k, L]
    filters = torch.bmm(backprops.reshape(n, -1, columns.shape[-1]), columns.transpose(1, 2))
    if pullback is not None:
        filters = pull_back_standardization(filters, *pullback)
    # [n, O, Go, I, Gi*k*k] -> [n*O*I, Go*Gi*k*k], matching the basis
    filters = filters.reshape(n, out_f, out_g, in_f, -1).transpose(2, 3).reshape(n * out_f * in_f, -1)
    return (filters @ layer.basis.to(filters.dtype).reshape(size, -1).T).view(n, out_f, in_f, size)


def basis_first(layer: EquivariantConv2d, x: torch.Tensor, backprops: torch.Tensor, pullback: Pullback) -> torch.Tensor:
    """[n, O, I, K] through the basis folded into the input, one output group element at a time."""
    n, (out_f, in_f, size), out_g = x.shape[0], layer.coefficients.shape, layer.basis.shape[1]
    patches = windows(x, layer.kernel, layer.padding, layer.stride).permute(0, 2, 3, 1, 4, 5)
    patches = patches.reshape(-1, layer.basis[0, 0].numel())  # [n*L*I, Gi*k*k]
    basis = layer.basis.to(backprops.dtype).flatten(2)  # [K, Go, Gi*k*k]
    rows = backprops.reshape(n, out_f, out_g, -1)  # [n, O, Go, L]
    grads = backprops.new_zeros(n, out_f, in_f * size)
    for element in range(out_g):
        folded = (patches @ basis[:, element].T).view(n, -1, in_f * size)  # [n, L, I*K]
        grads.baddbmm_(rows[:, :, element], folded)
    return grads.view(n, out_f, in_f, size)


ORDERS = {"filter first": filter_first, "basis first": basis_first}


def coefficient_grad_sample(layer: EquivariantConv2d, x: torch.Tensor, backprops: torch.Tensor) -> torch.Tensor:
    """[B, O, I, K]: each sample's gradient of the coefficients."""
    positions = backprops.shape[2] * backprops.shape[3]
    contract = ORDERS[contraction_order(layer, positions)]
    pullback = standardization(layer) if layer.weight_standardization else None
    step = chunk_size(layer, x, positions)
    chunks = [
        contract(layer, x[start:start + step], backprops[start:start + step], pullback)
        for start in range(0, x.shape[0], step)
    ]
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


def layer_grad_sample(layer: EquivariantConv2d, activations: list[torch.Tensor], backprops: torch.Tensor,
                      coefficient_rule) -> dict[torch.nn.Parameter, torch.Tensor]:
    """Coefficients by `coefficient_rule(layer, x, backprops)`, and the bias, one per field."""
    x = activations[0].to(backprops.dtype)
    grads = {}
    if layer.coefficients.requires_grad:
        grads[layer.coefficients] = coefficient_rule(layer, x, backprops)
    if layer.bias is not None and layer.bias.requires_grad:
        # [B, O*Go, H, W] -> [B, O]: a field's bias feeds all |G| channels at every position
        grads[layer.bias] = backprops.reshape(x.shape[0], layer.out_type.fields, -1).sum(-1)
    return grads


@register_grad_sampler(EquivariantConv2d)
def compute_equivariant_conv_grad_sample(
    layer: EquivariantConv2d, activations: list[torch.Tensor], backprops: torch.Tensor
) -> dict[torch.nn.Parameter, torch.Tensor]:
    return layer_grad_sample(layer, activations, backprops, coefficient_grad_sample)
