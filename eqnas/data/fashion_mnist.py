"""Fashion-MNIST from its idx files, and fashion-mnist-rot: every image turned by a random angle.

Files are looked for in ``root`` (also ``root/fashion-mnist`` and torchvision's
``root/FashionMNIST/raw``), else in the Debian package's folder and eqnas's download cache.
"""
from __future__ import annotations

from pathlib import Path

import torch

from eqnas.data import network
from eqnas.data.base import DatasetInfo
from eqnas.data.idx import read_idx
from eqnas.data.registry import register_dataset
from eqnas.data.rotate import rotate_images
from eqnas.data.source import DatasetSource, RawSplits
from eqnas.data.tensors import SPLIT_CODE, ImageTensors, seeded_rng
from eqnas.errors import EqnasError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
CACHE_DIR = network.CACHE_DIR / "fashion-mnist"
BASE_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
HOST = "raw.githubusercontent.com"
# split -> (images file, labels file); MD5s are of the published .gz files.
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MD5 = {"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
       "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
       "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
       "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"}
GZ_NAMES = [f"{stem}.gz" for stem in MD5]
INFO = DatasetInfo(name="fashion-mnist", channels=1, resolution=28, num_classes=10)


def _candidates(root: Path | None) -> list[Path]:
    if root is None:
        return [DEBIAN_DIR, CACHE_DIR]
    return [root, root / "fashion-mnist", root / "FashionMNIST" / "raw"]


def _file(folder: Path, stem: str) -> Path | None:
    """The idx file, gzipped or not, or None."""
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def _folder(root: Path | None, name: str) -> Path:
    """The first candidate folder holding all four files, downloading into one if none does."""
    candidates = _candidates(root)
    for folder in candidates:
        if all(_file(folder, stem) for stem in MD5):
            return folder
    target = root if root is not None else CACHE_DIR

    def fetch() -> None:
        for stem, md5 in MD5.items():
            if _file(target, stem) is None:
                network.download(BASE_URL + f"{stem}.gz", target / f"{stem}.gz", md5=md5)

    hint = "" if root is not None else f" (or apt-get install dataset-fashion-mnist, which fills {DEBIAN_DIR})"
    network.fetch_or_fail(name, HOST, fetch, target, GZ_NAMES, candidates, hint)
    return target


def _read_split(folder: Path, split: str) -> ImageTensors:
    image_stem, label_stem = FILES[split]
    images, labels = read_idx(_file(folder, image_stem)), read_idx(_file(folder, label_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise EqnasError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match; "
                         f"expected [N, 28, 28] and [N]")
    if labels.size and (labels.min() < 0 or labels.max() >= INFO.num_classes):
        raise EqnasError(f"{folder}: {split} labels span [{labels.min()}, {labels.max()}]; expected 0..9")
    return ImageTensors(torch.from_numpy(images.astype("uint8")[:, None].copy()),
                        torch.from_numpy(labels.astype("int64")))


@register_dataset("fashion-mnist")
class FashionMNIST(DatasetSource):
    name = "fashion-mnist"

    def info(self, root: Path | None) -> DatasetInfo:
        return INFO

    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        folder = _folder(root, self.name)
        return RawSplits(train=_read_split(folder, "train"), val=None, test=_read_split(folder, "test"),
                         info=self.info(root))


_ROT_STREAM = 0x2074


def rotation_angles(n: int, split: str, seed: int) -> torch.Tensor:
    """Angle in degrees, uniform in [0, 360), of each image: fixed by (seed, split, index)."""
    return torch.from_numpy(seeded_rng(seed, _ROT_STREAM, SPLIT_CODE[split]).uniform(0.0, 360.0, n))


@register_dataset("fashion-mnist-rot")
class FashionMNISTRot(FashionMNIST):
    """Like MNIST-rot: rotated train and test alike (an invariance benchmark, not augmentation)."""

    name = "fashion-mnist-rot"  # the registry names the info it returns

    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        plain = super().load(root, resolution, seed)
        turned = {split: ImageTensors(rotate_images(data.images, rotation_angles(len(data), split, seed)),
                                      data.targets)
                  for split, data in (("train", plain.train), ("test", plain.test))}
        return RawSplits(train=turned["train"], val=None, test=turned["test"], info=self.info(root))
