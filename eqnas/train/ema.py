"""Exponential moving average of the weights, used for evaluation.

decay_t = min(decay, (1 + t) / (10 + t)) at update t (t = 0, 1, ...): the warm-up of
jax_privacy's `averaging.ema` (De et al. 2022) and of torch_ema's `use_num_updates` (Hölzl et
al. 2023), without which a decay of 0.9999 over a few thousand DP steps would stay near the
initial weights.

Written here rather than with `torch.optim.swa_utils.AveragedModel` because that averages every
buffer, including integer ones (a restriction's channel index), and has no warm-up. Floating
persistent buffers (batch-norm running statistics) are averaged like the weights, as timm's
ModelEmaV2 does; integer ones are copied.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEMA:
    """An averaged copy of a network. Under DP, pass the wrapped module (not Opacus's wrapper)."""

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(network).eval()
        self.module.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        decay = self.current_decay()
        # state_dict tensors share storage with the modules, so in-place ops update them
        for averaged, current in zip(self.module.state_dict().values(), network.state_dict().values()):
            if averaged.is_floating_point():
                averaged.lerp_(current.to(averaged.dtype), 1.0 - decay)
            else:
                averaged.copy_(current)
        self.updates += 1
