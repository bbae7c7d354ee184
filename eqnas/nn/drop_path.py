"""Stochastic depth (Huang et al. 2016, per sample as in EfficientNet): in training, each
sample's residual branch is dropped with probability `prob` and kept ones are scaled by
1 / (1 - prob); in eval mode the identity.

Per-sample-gradient safe: the mask of sample b multiplies only sample b's branch output, so
no quantity mixes samples and each sample's gradient stays its own (DP-SGD's requirement;
tests/test_mbconv.py checks Opacus against the one-sample loop with the masks held fixed).
A scalar mask per sample commutes with every group transformation, so equivariance holds
in training mode too, for a fixed mask.
"""
from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    def __init__(self, prob: float) -> None:
        super().__init__()
        if not 0.0 <= prob < 1.0:
            raise ValueError(f"drop probability must be in [0, 1), got {prob}")
        self.prob = prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.prob == 0.0:
            return x
        keep = 1.0 - self.prob
        mask = torch.empty(x.shape[0], *(1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"prob={self.prob}"
