"""Fitting a searched architecture file to the data and the training mode it meets.

The image channels, class count and resolution come from the dataset, the norm and activation
from the config (and DP); every change is returned as a sentence and recorded in metrics.json,
so one architecture file trains on any dataset and the record says what was actually built.
"""
from __future__ import annotations

from eqnas.arch import Arch
from eqnas.data.base import DatasetInfo
from eqnas.train.config import TrainConfig


def adapt_arch(arch: Arch, info: DatasetInfo, config: TrainConfig) -> tuple[Arch, list[str]]:
    """(the architecture to build, the changes made to the given one)."""
    wanted = {
        "in_channels": (info.channels, f"dataset {info.name!r} has {info.channels} image channels"),
        "num_classes": (info.num_classes, f"dataset {info.name!r} has {info.num_classes} classes"),
        "resolution": (info.resolution, f"images are {info.resolution}x{info.resolution}"),
    }
    if config.norm is not None:
        wanted["norm"] = (config.norm, "set by the training config")
    elif config.dp and arch.norm == "batch":
        wanted["norm"] = ("group", "DP-SGD needs per-sample normalisation (batch norm mixes samples)")
    if config.activation is not None:
        wanted["activation"] = (config.activation, "set by the training config")
    changes, notes = {}, []
    for key, (value, why) in wanted.items():
        if getattr(arch, key) != value:
            changes[key] = value
            notes.append(f"{key}: {getattr(arch, key)} -> {value} ({why})")
    return (arch.replace(**changes) if changes else arch), notes
