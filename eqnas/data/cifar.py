"""CIFAR-10 in torchvision's on-disk format, read without torchvision.

``root/cifar-10-batches-py/`` (or ``root`` itself) holds ``data_batch_1`` .. ``data_batch_5`` and
``test_batch``: pickled dicts with b"data" (uint8 [N, 3072], channel-major 3x32x32) and b"labels".
"""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from eqnas.data import network
from eqnas.data.base import DatasetInfo
from eqnas.data.registry import register_dataset
from eqnas.data.source import DatasetSource, RawSplits
from eqnas.data.tensors import ImageTensors
from eqnas.errors import EqnasError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
CACHE_DIR = network.CACHE_DIR / "cifar10"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
HOST = "www.cs.toronto.edu"
INFO = DatasetInfo(name="cifar10", channels=3, resolution=32, num_classes=10)


def _folder(root: Path | None) -> Path:
    base = root if root is not None else CACHE_DIR
    candidates = [base / FOLDER, base]
    for folder in candidates:
        if all((folder / name).is_file() for name in TRAIN_FILES + TEST_FILES):
            return folder

    def fetch() -> None:
        archive = network.download(URL, base / "cifar-10-python.tar.gz", md5=ARCHIVE_MD5)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(base, filter="data")
        except tarfile.TarError as err:
            raise EqnasError(f"{archive}: cannot unpack ({err})") from err
        archive.unlink()

    network.fetch_or_fail("cifar10", HOST, fetch, base / FOLDER, TRAIN_FILES + TEST_FILES, candidates)
    return base / FOLDER


def _read_batches(folder: Path, names: tuple[str, ...]) -> ImageTensors:
    images, labels = [], []
    for name in names:
        path = folder / name
        try:
            with path.open("rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data, batch_labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])
        except (OSError, pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as err:
            raise EqnasError(f"{path}: not a CIFAR-10 batch (a pickled dict with b'data' and b'labels'): {err}") from err
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(batch_labels):
            raise EqnasError(f"{path}: data {data.shape} and labels {batch_labels.shape}; expected [N, 3072] and [N]")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(batch_labels.astype(np.int64))
    targets = np.concatenate(labels)
    if targets.size and (targets.min() < 0 or targets.max() >= INFO.num_classes):
        raise EqnasError(f"{folder}: labels span [{targets.min()}, {targets.max()}]; expected 0..9")
    return ImageTensors(torch.from_numpy(np.concatenate(images)), torch.from_numpy(targets))


@register_dataset("cifar10")
class CIFAR10(DatasetSource):
    def info(self, root: Path | None) -> DatasetInfo:
        return INFO

    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        folder = _folder(root)
        return RawSplits(train=_read_batches(folder, TRAIN_FILES), val=None,
                         test=_read_batches(folder, TEST_FILES), info=INFO)
