"""`export()`: the same network with every eqnas layer replaced by its plain PyTorch twin."""
from __future__ import annotations

import copy

from torch import nn


def export(model: nn.Module) -> nn.Module:
    """A copy in eval mode made of nn.Conv2d / nn.BatchNorm2d / nn.GroupNorm / nn.Linear and
    parameter-free reshapes; outputs match the original in eval mode."""
    plain = copy.deepcopy(model).eval()
    _replace(plain)
    return plain.eval()


def _replace(module: nn.Module) -> None:
    for name, child in module.named_children():
        if hasattr(child, "to_plain"):
            setattr(module, name, child.to_plain())
        else:
            _replace(child)
