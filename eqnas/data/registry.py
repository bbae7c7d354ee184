"""Datasets by name: ``register_dataset`` adds one, ``load_dataset`` hands out its splits.

``npz:PATH`` is not registered: it names a user's own file in MedMNIST's layout.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from eqnas.data.base import DatasetInfo, Splits
from eqnas.data.source import DatasetSource
from eqnas.data.tensors import carve_val, resize
from eqnas.errors import EqnasError
from eqnas.registry import Registry

NPZ_PREFIX = "npz:"

Factory = Callable[[], DatasetSource]
FactoryT = TypeVar("FactoryT", bound=Factory)

_REGISTRY: Registry[Factory] = Registry("dataset")


def register_dataset(name: str) -> Callable[[FactoryT], FactoryT]:
    """Decorator: register a zero-argument factory (usually a `DatasetSource` class) under ``name``."""
    if name.startswith(NPZ_PREFIX):
        raise ValueError(f"dataset names may not start with {NPZ_PREFIX!r}")
    return _REGISTRY.register(name)


def dataset_names() -> list[str]:
    """Registered names, sorted (``npz:PATH`` is accepted as well but is not listed)."""
    return _REGISTRY.names()


def _source(name: str) -> DatasetSource:
    if name.startswith(NPZ_PREFIX):
        from eqnas.data.npz_file import NpzFileSource

        return NpzFileSource(Path(name[len(NPZ_PREFIX):]).expanduser())
    if name not in _REGISTRY:
        raise EqnasError(f"unknown dataset {name!r}: use one of {', '.join(dataset_names())}, or npz:PATH")
    return _REGISTRY[name]()


def _root(root: str | Path | None) -> Path | None:
    return None if root is None else Path(root).expanduser()


def _check_resolution(resolution: int | None) -> None:
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1):
        raise EqnasError(f"resolution={resolution!r}: use a positive integer, or None for the native size")


def dataset_info(name: str, root: str | Path | None = None, resolution: int | None = None) -> DatasetInfo:
    """What `load_dataset` would return as ``info``, reading no images where the source allows."""
    _check_resolution(resolution)
    info = _source(name).info(_root(root))
    return dataclasses.replace(info, name=name, resolution=resolution or info.resolution)


def load_dataset(name: str, root: str | Path | None = None, resolution: int | None = None, seed: int = 0,
                 val_fraction: float = 0.1) -> Splits:
    """Train / val / test splits of ``name``, resized to ``resolution`` (native if None).

    A dataset without a validation split gets ``val_fraction`` of its training images, chosen by
    ``seed`` and the same on every call; ``val_fraction`` is unused where a val split exists.
    """
    _check_resolution(resolution)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise EqnasError(f"seed={seed!r}: use a non-negative integer")
    if not 0.0 < val_fraction < 1.0:
        raise EqnasError(f"val_fraction={val_fraction!r}: use a number strictly between 0 and 1")
    raw = _source(name).load(_root(root), resolution, seed)
    train, val = (raw.train, raw.val) if raw.val is not None else carve_val(raw.train, val_fraction, seed)
    size = resolution or raw.info.resolution
    info = dataclasses.replace(raw.info, name=name, resolution=size)
    return Splits(train=resize(train, size), val=resize(val, size), test=resize(raw.test, size), info=info)
