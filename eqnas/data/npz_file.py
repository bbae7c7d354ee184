"""``npz:PATH``: a user's own dataset in MedMNIST's npz layout (see `eqnas.data.npz_layout`).

Labels with more than one column are multi-label (classes = columns); otherwise classes are
``max label + 1`` over all splits. Without val arrays the registry carves a seeded val split.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from eqnas.data.base import DatasetInfo, Task
from eqnas.data.npz_layout import array_shape, channels_of, check_layout, read_split
from eqnas.data.source import DatasetSource, RawSplits
from eqnas.errors import EqnasError


class NpzFileSource(DatasetSource):
    def __init__(self, path: Path) -> None:
        self.path = path

    def _check(self) -> bool:
        if not self.path.is_file():
            raise EqnasError(f"npz dataset file {self.path} does not exist; give npz:PATH to a MedMNIST-layout "
                             f".npz file (relative paths are taken from the working directory)")
        return check_layout(self.path)

    def _task(self, has_val: bool) -> tuple[Task, int]:
        splits = ("train", "val", "test") if has_val else ("train", "test")
        with np.load(self.path) as npz:
            labels = [npz[f"{s}_labels"] for s in splits]
        widths = {1 if y.ndim == 1 else y.shape[1] for y in labels}
        if len(widths) != 1:
            raise EqnasError(f"{self.path}: label widths differ between splits ({sorted(widths)})")
        width = widths.pop()
        if width > 1:
            return "multilabel", width
        return "multiclass", int(max(y.max() for y in labels if y.size)) + 1

    def _describe(self) -> tuple[DatasetInfo, bool]:
        """(info, whether the file has val arrays), from one layout check."""
        has_val = self._check()
        shape = array_shape(self.path, "train_images")
        channels = channels_of(shape, str(self.path))
        if shape[1] != shape[2]:
            raise EqnasError(f"{self.path}: images are {shape[1]}x{shape[2]}; eqnas needs square images")
        task, num_classes = self._task(has_val)
        info = DatasetInfo(name=f"npz:{self.path}", channels=channels, resolution=int(shape[1]),
                           num_classes=num_classes, task=task)
        return info, has_val

    def info(self, root: Path | None) -> DatasetInfo:
        return self._describe()[0]

    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        info, has_val = self._describe()
        what = str(self.path)
        with np.load(self.path) as npz:
            train = read_split(npz, "train", info.task, info.num_classes, what)
            val = read_split(npz, "val", info.task, info.num_classes, what) if has_val else None
            test = read_split(npz, "test", info.task, info.num_classes, what)
        for split in (train, val, test):
            if split is not None and split.images.shape[1:] != train.images.shape[1:]:
                raise EqnasError(f"{what}: image shapes differ between splits "
                                 f"({tuple(train.images.shape[1:])} vs {tuple(split.images.shape[1:])})")
        return RawSplits(train=train, val=val, test=test, info=info)
