"""`eqnas.load`: one entry point for everything eqnas writes, above both the builder and the
supernet (which builds its subnets through `eqnas.build`, so `eqnas.build` cannot import it)."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from eqnas.arch import Arch
from eqnas.build import load as load_file


def load(path: str | Path, subnet: Arch | dict | str | Path | None = None) -> nn.Module:
    """`eqnas.load("best.json")`: the module an architecture file describes (untrained), or, for
    a checkpoint folder/file written by `eqnas retrain`, the trained module.
    `eqnas.load(run_dir, subnet="best.json")`: that subnet (an architecture file, Arch or sample)
    with the weights of the supernet trained in `run_dir` (`eqnas.supernet.load_subnet`)."""
    if subnet is None:
        return load_file(path)
    from eqnas.supernet.record import load_subnet

    return load_subnet(Path(path), subnet)
