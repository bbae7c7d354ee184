"""Architecture file -> module, and back."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from eqnas.arch import Arch
from eqnas.families import get_family


def build(arch: Arch) -> nn.Module:
    """A freshly initialised network for `arch` (its family's one builder)."""
    return get_family(arch.family)(arch)


def load(path: str | Path, subnet: Arch | dict | str | Path | None = None) -> nn.Module:
    """`eqnas.load("best.json")`: the module an architecture file describes (untrained), or, for
    a checkpoint folder/file written by `eqnas retrain`, the trained module.
    `eqnas.load(run_dir, subnet="best.json")`: that subnet (an architecture file, Arch or sample)
    with the weights of the supernet trained in `run_dir` (eqnas.supernet.record.load_subnet)."""
    path = Path(path)
    if subnet is not None:
        from eqnas.supernet.record import load_subnet

        return load_subnet(path, subnet)
    if path.suffix == ".json":
        return build(Arch.load(path))
    from eqnas.train.checkpoint import load_trained

    return load_trained(path)
