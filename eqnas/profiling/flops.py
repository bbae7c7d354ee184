"""FLOPs through fvcore: the only place fvcore enters eqnas.

Convention (fvcore's, the ResNet/EfficientNet one): one multiply-add = one FLOP. PyTorch's
FlopCounterMode counts two. Counted on the exported plain model in eval mode for one sample,
with fvcore's default operator table (convolutions, linear layers, norms; elementwise ops,
pooling maxima and additions count zero).
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from eqnas.nn import export

FLOP_CONVENTION = "fvcore: one multiply-add = one FLOP, one sample, eval mode"


def count_flops(model: nn.Module, resolution: int, in_channels: int) -> int:
    """Forward FLOPs of one sample at `resolution`."""
    from fvcore.nn import FlopCountAnalysis

    plain = export(model).cpu()
    sample = torch.zeros(1, in_channels, resolution, resolution)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(plain, sample)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analysis.total())
