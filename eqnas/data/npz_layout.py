"""MedMNIST's npz layout, shared by the MedMNIST datasets and ``npz:PATH``.

Keys ``{split}_images`` (uint8 [N,H,W] or [N,H,W,C]) and ``{split}_labels`` ([N,1] class
indices, or [N,K] 0/1 for multi-label) for split in train, val, test; val is optional.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from eqnas.data.base import Task
from eqnas.data.tensors import ImageTensors, images_from_array
from eqnas.errors import EqnasError

REQUIRED_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
VAL_KEYS = ("val_images", "val_labels")


def npz_keys(path: Path) -> set[str]:
    """Array names stored in an npz file, read from the zip directory only."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")}
    except (OSError, zipfile.BadZipFile) as err:
        raise EqnasError(f"{path}: not a readable .npz file ({err})") from err


def check_layout(path: Path) -> bool:
    """Raise unless the required keys are present; return whether a val split is stored."""
    keys = npz_keys(path)
    missing = [k for k in REQUIRED_KEYS if k not in keys]
    if missing:
        raise EqnasError(f"{path}: missing arrays {', '.join(missing)}; an npz dataset needs "
                         f"{', '.join(REQUIRED_KEYS)} (and optionally {', '.join(VAL_KEYS)})")
    has_val = [k in keys for k in VAL_KEYS]
    if any(has_val) and not all(has_val):
        raise EqnasError(f"{path}: has only one of {', '.join(VAL_KEYS)}; store both or neither")
    return all(has_val)


def array_shape(path: Path, key: str) -> tuple[int, ...]:
    """Shape of one stored array from its .npy header, without reading the data."""
    with zipfile.ZipFile(path) as archive, archive.open(key + ".npy") as stream:
        major, _ = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(stream)
    return tuple(shape)


def channels_of(shape: tuple[int, ...], what: str) -> int:
    if len(shape) == 3:
        return 1
    if len(shape) == 4 and shape[-1] in (1, 3):
        return int(shape[-1])
    raise EqnasError(f"{what}: images of shape {shape}; expected [N,H,W] or [N,H,W,C] with C 1 or 3")


def targets_from_labels(labels: np.ndarray, task: Task, num_classes: int, what: str) -> Tensor:
    """Class indices -> long [N]; multi-label 0/1 columns -> float32 [N, K]."""
    if task == "multilabel":
        if labels.ndim != 2 or labels.shape[1] != num_classes or not np.isin(labels, (0, 1)).all():
            raise EqnasError(f"{what}: multi-label targets must be 0/1 of shape [N, {num_classes}], "
                             f"got shape {labels.shape}")
        return torch.from_numpy(labels.astype(np.float32))
    flat = labels.reshape(len(labels), -1)
    if flat.shape[1] != 1:
        raise EqnasError(f"{what}: class labels must have shape [N] or [N, 1], got {labels.shape}")
    flat = flat[:, 0]
    if not np.issubdtype(flat.dtype, np.integer) and not np.all(flat == np.round(flat)):
        raise EqnasError(f"{what}: class labels must be whole numbers, got dtype {labels.dtype}")
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise EqnasError(f"{what}: labels span [{flat.min()}, {flat.max()}]; expected 0..{num_classes - 1}")
    return torch.from_numpy(flat.astype(np.int64))


def read_split(npz: np.lib.npyio.NpzFile, split: str, task: Task, num_classes: int, what: str) -> ImageTensors:
    images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
    if len(images) != len(labels):
        raise EqnasError(f"{what}: {len(images)} {split} images but {len(labels)} labels")
    return ImageTensors(images_from_array(images, f"{what} {split}"),
                        targets_from_labels(labels, task, num_classes, f"{what} {split}"))
