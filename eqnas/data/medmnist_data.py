"""The MedMNIST 2D datasets, read from MedMNIST's own npz files.

Files are ``{flag}.npz`` (28x28) or ``{flag}_{size}.npz`` (64, 128, 224) in ``root`` if given,
else in medmnist's default folder ``~/.medmnist``. ``resolution`` picks the file: the smallest
stored size at least as large (so resizing only shrinks), else a download of that size, else the
largest stored size. chestmnist is multi-label; retinamnist (ordinal regression in MedMNIST) is
treated as multiclass. medmnist is imported only for its ``INFO`` table and only when needed.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from eqnas.data import network
from eqnas.data.base import DatasetInfo, Task
from eqnas.data.npz_layout import check_layout, read_split
from eqnas.data.registry import register_dataset
from eqnas.data.source import DatasetSource, RawSplits
from eqnas.errors import EqnasError

FLAGS = ("pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist", "breastmnist",
         "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist")
SIZES = (28, 64, 128, 224)
DEFAULT_ROOT = Path.home() / ".medmnist"
HOST = "zenodo.org"


def file_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def _medmnist_info(flag: str) -> dict[str, Any]:
    try:
        from medmnist.info import INFO
    except ImportError as err:
        raise EqnasError(f"dataset {flag!r} needs the medmnist package: pip install --no-deps medmnist") from err
    return INFO[flag]


def _wanted_size(resolution: int | None) -> int:
    """The stored size to read for a requested resolution: the smallest one not below it."""
    wanted = resolution or SIZES[0]
    return next((s for s in SIZES if s >= wanted), SIZES[-1])


class MedMNISTSource(DatasetSource):
    def __init__(self, flag: str) -> None:
        self.flag = flag

    def info(self, root: Path | None) -> DatasetInfo:
        meta = _medmnist_info(self.flag)
        task: Task = "multilabel" if meta["task"].startswith("multi-label") else "multiclass"
        return DatasetInfo(name=self.flag, channels=int(meta["n_channels"]), resolution=SIZES[0],
                           num_classes=len(meta["label"]), task=task)

    def _find(self, folder: Path, resolution: int | None) -> Path:
        """The file to read, downloading the wanted size if nothing large enough is stored."""
        wanted = _wanted_size(resolution)
        stored = [s for s in SIZES if (folder / file_name(self.flag, s)).is_file()]
        larger = [s for s in stored if s >= wanted]
        if larger:
            return folder / file_name(self.flag, larger[0])
        target = folder / file_name(self.flag, wanted)
        if stored and not network.network_available(HOST):
            warnings.warn(f"{target} is not on disk and cannot be downloaded; upsampling "
                          f"{file_name(self.flag, stored[-1])} instead", stacklevel=4)
            return folder / file_name(self.flag, stored[-1])

        def fetch() -> None:
            meta = _medmnist_info(self.flag)
            suffix = "" if wanted == 28 else f"_{wanted}"
            # medmnist's own download goes through torchvision, which eqnas does not install.
            network.download(meta[f"url{suffix}"], target, md5=meta[f"MD5{suffix}"])

        network.fetch_or_fail(self.flag, HOST, fetch, folder, [target.name])
        return target

    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        path = self._find(root or DEFAULT_ROOT, resolution)
        has_val = check_layout(path)
        if not has_val:
            raise EqnasError(f"{path}: a MedMNIST file must hold val_images and val_labels")
        info = self.info(root)
        with np.load(path) as npz:
            splits = [read_split(npz, s, info.task, info.num_classes, str(path)) for s in ("train", "val", "test")]
        channels = splits[0].images.shape[1]
        if channels != info.channels:
            raise EqnasError(f"{path}: images have {channels} channels; {self.flag} has {info.channels}")
        # info keeps the 28 that dataset_info reports, so resolution=None means 28 whichever file was read
        return RawSplits(*splits, info=info)


for _flag in FLAGS:
    register_dataset(_flag)(lambda flag=_flag: MedMNISTSource(flag))
