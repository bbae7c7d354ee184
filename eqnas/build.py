"""Architecture file -> module, and back."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from eqnas.arch import Arch
from eqnas.families import get_family


def build(arch: Arch) -> nn.Module:
    """A freshly initialised network for `arch` (its family's one builder)."""
    return get_family(arch.family)(arch)


def load(path: str | Path) -> nn.Module:
    """`eqnas.load("best.json")`: the module an architecture file describes (untrained), or, for
    a checkpoint folder/file written by `eqnas retrain`, the trained module."""
    path = Path(path)
    if path.suffix == ".json":
        return build(Arch.load(path))
    from eqnas.train.checkpoint import load_trained

    return load_trained(path)
