"""Per-sample gradient norms without keeping per-sample gradients (Opacus's ghost clipping).

Opacus's fast-gradient-clipping module asks each layer for the norm of every sample's gradient
(its norm samplers, looked up by exact layer class), clips by the total norm, and runs a second,
ordinary backward pass of the per-sample losses weighted by the clipping factors. eqnas's norm
rules live one per layer type (`norm_*.py`), registered with `norm_rule`, which also registers
them with Opacus.

Mixed rule (Bu et al. 2022): a layer whose gradient is sum_t g_t a_t^T over T positions, with
p outputs and d inputs per output, gets its norm from the Gram matrices of g and a
("ghost norm", about 2T^2 numbers per sample) when 2T^2 <= p*d and they also cost fewer
multiply-adds (2T(p + d) <= p*d), else from the per-sample gradient itself (p*d numbers per
sample), which is dropped as soon as its norm is taken. The time condition was added after the
space rule alone picked Gram matrices for late equivariant layers where they cost several times
the per-sample gradient (benchmarks/dp_overhead.py).

Augmentation multiplicity: the model sees K views per sample, sample-major ([B*K, ...]), and
a sample's gradient is the mean of its views' gradients (`eqnas.train.privacy`). A view is then
K more positions of the same sample: each rule regroups [B*K, T, ...] as [B, K*T, ...] (or
averages per-sample gradients over the K views) and divides by K. `ghost_module` binds K into
the wrapped module's own copy of the norm-sampler table, so the Opacus class, its accountant
path and its loss wrapper stay unchanged.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from opacus.grad_sample import GradSampleModuleFastGradientClipping, register_norm_sampler
from opacus.utils.module_utils import trainable_modules
from torch import Tensor, nn

from eqnas.train.grad_samplers.constant_buffers import checked_for_opacus

NormRule = Callable[..., dict[nn.Parameter, Tensor]]  # (layer, activations, backprops, views=K)
NORM_RULES: dict[type[nn.Module], NormRule] = {}


def norm_rule(layer_type: type[nn.Module]) -> Callable[[NormRule], NormRule]:
    """Registers a view-aware norm rule with eqnas and with Opacus; refuses a second one."""

    def add(rule: NormRule) -> NormRule:
        if layer_type in NORM_RULES:
            raise ValueError(f"norm rule of {layer_type.__name__} is registered twice")
        NORM_RULES[layer_type] = rule
        return register_norm_sampler(layer_type)(rule)

    return add


def by_sample(t: Tensor, views: int) -> Tensor:
    """[B*K, T, c] -> [B, K*T, c]: a sample's views become more of its positions."""
    return t.reshape(t.shape[0] // views, -1, t.shape[-1])


def ghost_is_cheaper(positions: int, outputs: int, inputs: int) -> bool:
    """Bu et al.'s rule in space, Gram matrices (2 T^2 numbers) against the per-sample gradient
    (p * d), and the same comparison in time: 2 T^2 (p + d) multiply-adds against T * p * d
    (the stricter of the two: it implies the first)."""
    return 2 * positions**2 <= outputs * inputs and 2 * positions * (outputs + inputs) <= outputs * inputs


def outer_norms(inputs: Tensor, grads: Tensor) -> Tensor:
    """[B, T, d], [B, T, p] -> [B]: the Frobenius norm of each sample's sum_t g_t a_t^T, by the
    mixed rule."""
    positions, outputs, features = grads.shape[1], grads.shape[2], inputs.shape[2]
    if ghost_is_cheaper(positions, outputs, features):
        # <A A^T, G G^T> = ||G^T A||^2
        squares = torch.einsum("bst,bst->b", inputs @ inputs.transpose(1, 2), grads @ grads.transpose(1, 2))
        return squares.clamp_min(0).sqrt()
    return torch.linalg.matrix_norm(grads.transpose(1, 2) @ inputs)


def mean_view_norms(grad_samples: dict[nn.Parameter, Tensor], views: int) -> dict[nn.Parameter, Tensor]:
    """Per-sample gradients [B*K, ...] -> the norms [B] of their means over each sample's views."""
    return {p: gs.reshape(gs.shape[0] // views, views, -1).mean(1).norm(dim=1) for p, gs in grad_samples.items()}


def ghost_module(model: nn.Module, views: int, max_grad_norm: float) -> GradSampleModuleFastGradientClipping:
    """`model` wrapped for Opacus's ghost clipping (mean-reduced loss), its norm rules bound to
    `views` augmented views per sample. With K > 1 every trainable layer needs an eqnas rule:
    Opacus's fallback would take one norm per view, not per sample."""
    checked_for_opacus(model)
    if views > 1:
        missing = sorted({type(m).__name__ for _, m in trainable_modules(model)} - {t.__name__ for t in NORM_RULES})
        if missing:
            raise NotImplementedError(f"no view-aware norm rule for {', '.join(missing)}")
    module = GradSampleModuleFastGradientClipping(model, loss_reduction="mean", strict=False,
                                                  max_grad_norm=max_grad_norm, use_ghost_clipping=True)
    module.NORM_SAMPLERS = {**type(module).NORM_SAMPLERS,
                            **{t: partial(rule, views=views) for t, rule in NORM_RULES.items()}}
    return module
