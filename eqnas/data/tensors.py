"""In-memory image datasets and the few operations every source shares: converting arrays,
carving a seeded validation split and resizing once at load."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from eqnas.errors import EqnasError

# Images are kept as uint8 where the source is uint8 (4x less memory than float32, which matters
# for MedMNIST at 224) and scaled to [0, 1] per item.
_CHUNK = 4096


class ImageTensors(Dataset):
    """``(image, target)`` pairs held as two tensors.

    images: uint8 [N, C, H, W] (scaled by 1/255 on access) or float32 [N, C, H, W] in [0, 1].
    targets: long [N] (multiclass) or float32 [N, K] of 0/1 (multilabel).
    """

    def __init__(self, images: Tensor, targets: Tensor) -> None:
        if images.ndim != 4 or images.dtype not in (torch.uint8, torch.float32):
            raise ValueError(f"images must be uint8 or float32 [N,C,H,W], got {images.dtype} {tuple(images.shape)}")
        if targets.dtype not in (torch.long, torch.float32) or targets.ndim not in (1, 2):
            raise ValueError(f"targets must be long [N] or float32 [N,K], got {targets.dtype} {tuple(targets.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images = images
        self.targets = targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = self.images[index]
        if image.dtype == torch.uint8:
            image = image.float().div_(255.0)
        return image, self.targets[index]

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])

    def subset(self, indices: Tensor) -> "ImageTensors":
        return ImageTensors(self.images[indices], self.targets[indices])


def images_from_array(array: np.ndarray, what: str) -> Tensor:
    """[N, H, W] or channels-last [N, H, W, C] (C = 1 or 3) -> [N, C, H, W], uint8 or float32."""
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    else:
        raise EqnasError(f"{what}: images of shape {array.shape}; expected [N,H,W] or [N,H,W,C] with C 1 or 3")
    if array.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(array))
    if np.issubdtype(array.dtype, np.floating):
        if array.size and (array.min() < 0 or array.max() > 1):
            raise EqnasError(f"{what}: float images must lie in [0, 1], got [{array.min()}, {array.max()}]")
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    raise EqnasError(f"{what}: images of dtype {array.dtype}; expected uint8 or float in [0, 1]")


SPLIT_CODE = {"train": 0, "test": 1}  # a split's part of a seeded_rng stream


def seeded_rng(seed: int, *stream: int) -> np.random.Generator:
    """One independent random stream per (seed, purpose, ...), stable across numpy versions."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


_VAL_STREAM = 0x7A1


def carve_val(train: ImageTensors, val_fraction: float, seed: int) -> tuple[ImageTensors, ImageTensors]:
    """Split a fixed, seed-determined validation set off the training split (disjoint by index)."""
    n = len(train)
    n_val = max(1, round(val_fraction * n))
    if n_val >= n:
        raise EqnasError(f"val_fraction={val_fraction} leaves no training images out of {n}; use a value in (0, 1)")
    order = torch.from_numpy(seeded_rng(seed, _VAL_STREAM).permutation(n))
    val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
    return train.subset(train_idx), train.subset(val_idx)


def resize(data: ImageTensors, size: int) -> ImageTensors:
    """Bilinear, antialiased resize to size x size, in chunks to bound peak memory; keeps dtype."""
    if data.image_size == (size, size):
        return data
    out = []
    for chunk in data.images.split(_CHUNK):
        x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        if chunk.dtype == torch.uint8:
            x = x.round_().clamp_(0, 255).to(torch.uint8)
        else:
            x = x.clamp_(0.0, 1.0)
        out.append(x)
    images = torch.cat(out) if out else data.images.new_empty((0, data.images.shape[1], size, size))
    return ImageTensors(images, data.targets)
