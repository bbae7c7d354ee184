"""Batch-norm recalibration: a subnet's running statistics re-estimated from a few batches.

The supernet's running statistics are shared by every subnet it trains, so they fit none
exactly (BigNAS, Yu et al. 2020). Field group norm keeps no statistics and needs nothing.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batch_norms(model: nn.Module) -> list[_BatchNorm]:
    return [module for module in model.modules() if isinstance(module, _BatchNorm)]


def recalibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Sets every batch norm's running statistics to the plain average over `batches` (forward in
    train mode, no gradients) and returns the model in eval mode; without batch norm, only eval."""
    norms = batch_norms(model)
    if norms:
        momenta = [norm.momentum for norm in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the batches
        model.train()
        with torch.no_grad():
            for images in batches:
                model(images)
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
    return model.eval()
