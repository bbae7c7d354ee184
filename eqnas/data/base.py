"""What every dataset hands to training: three splits and a description of the task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch.utils.data import Dataset

Task = Literal["multiclass", "multilabel"]


@dataclass(frozen=True)
class DatasetInfo:
    """Shape and task of a dataset, so models and metrics can be set up without loading it."""

    name: str
    channels: int
    resolution: int
    num_classes: int
    task: Task = "multiclass"


@dataclass(frozen=True)
class Splits:
    """Train / validation / test splits.

    Each item of each split is ``(image, target)``: image a float tensor [C, H, W] scaled to
    [0, 1]; target a long scalar (multiclass) or a float vector of 0/1 of length num_classes
    (multilabel).
    """

    train: Dataset
    val: Dataset
    test: Dataset
    info: DatasetInfo
