"""The contract a dataset implements to join the registry: describe itself, and load its splits."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from eqnas.data.base import DatasetInfo
from eqnas.data.tensors import ImageTensors


@dataclass(frozen=True)
class RawSplits:
    """Splits as a source stores them, at native resolution; ``val`` is None where the source
    has no validation split (the registry then carves one from ``train``)."""

    train: ImageTensors
    val: ImageTensors | None
    test: ImageTensors
    info: DatasetInfo


class DatasetSource(ABC):
    """One dataset. ``root`` is the user's data folder (``--data-root``) or None for defaults."""

    @abstractmethod
    def info(self, root: Path | None) -> DatasetInfo:
        """Channels, classes, task and native resolution, without reading images where possible."""

    @abstractmethod
    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        """All splits. ``resolution`` only lets a source that stores several sizes pick a file;
        the registry resizes; ``seed`` is for sources whose content is random."""
