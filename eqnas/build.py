"""Architecture file -> module, and back."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from eqnas.arch import Arch
from eqnas.catalog import ARCHS
from eqnas.families import get_family
from eqnas.train.checkpoint import read_checkpoint


def build(arch: Arch) -> nn.Module:
    """A freshly initialised network for `arch` (its family's one builder)."""
    return get_family(arch.family)(arch)


def load(path: str | Path) -> nn.Module:
    """The module an architecture file or shipped example name describes (untrained), or, for a
    checkpoint folder/file written by `eqnas retrain`, the trained module."""
    path = ARCHS.find(path)
    if path.suffix == ".json":
        return build(Arch.load(path))
    return load_trained(path)


def load_trained(path: str | Path) -> nn.Module:
    """The trained network of a checkpoint (file or output folder), in eval mode on the CPU."""
    payload = read_checkpoint(path)
    model = build(Arch.from_dict(payload["arch"], where=f"{path}:arch"))
    model.load_state_dict(payload["state_dict"])
    return model.eval()
