"""Fitting a searched architecture file to the data and the training mode it meets.

The image channels, class count and resolution come from the dataset, the norm and activation
from the config (and DP); every change is returned as a sentence and recorded in metrics.json,
so one architecture file trains on any dataset and the record says what was actually built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eqnas.arch import Arch
from eqnas.data.base import DatasetInfo
from eqnas.train.config import TrainConfig


@dataclass(frozen=True)
class TrainingMode:
    """The part of a training config that changes the network besides the data: the norm and
    activation it sets, and DP (batch norm becomes group norm). A search whose winner will train
    in several modes checks its FLOP budget in each (`eqnas.search.flop_filter`)."""
    dp: bool = False
    norm: str | None = None
    activation: str | None = None

    @classmethod
    def of(cls, config: TrainConfig) -> "TrainingMode":
        return cls(dp=config.dp, norm=config.norm, activation=config.activation)

    def wanted(self, arch: Arch) -> dict[str, tuple[Any, str]]:
        """{field: (value, why)} this mode sets on `arch`."""
        wanted: dict[str, tuple[Any, str]] = {}
        if self.norm is not None:
            wanted["norm"] = (self.norm, "set by the training config")
        elif self.dp and arch.norm == "batch":
            wanted["norm"] = ("group", "DP-SGD needs per-sample normalisation (batch norm mixes samples)")
        if self.activation is not None:
            wanted["activation"] = (self.activation, "set by the training config")
        return wanted

    def apply(self, arch: Arch) -> Arch:
        changes = {key: value for key, (value, _) in self.wanted(arch).items() if getattr(arch, key) != value}
        return arch.replace(**changes) if changes else arch


def adapt_arch(arch: Arch, info: DatasetInfo, config: TrainConfig) -> tuple[Arch, list[str]]:
    """(the architecture to build, the changes made to the given one)."""
    wanted = {
        "in_channels": (info.channels, f"dataset {info.name!r} has {info.channels} image channels"),
        "num_classes": (info.num_classes, f"dataset {info.name!r} has {info.num_classes} classes"),
        "resolution": (info.resolution, f"images are {info.resolution}x{info.resolution}"),
        **TrainingMode.of(config).wanted(arch),
    }
    changes, notes = {}, []
    for key, (value, why) in wanted.items():
        if getattr(arch, key) != value:
            changes[key] = value
            notes.append(f"{key}: {getattr(arch, key)} -> {value} ({why})")
    return (arch.replace(**changes) if changes else arch), notes
