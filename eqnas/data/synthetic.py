"""``synthetic``: small images of shapes at random rotations, positions and sizes.

The class is the shape (bar, cross, L, T, square outline, ring), never its orientation, so a
rotation-invariant model can reach full accuracy. Shapes are drawn analytically with a one-pixel
soft edge, so generation is vectorized and takes well under a second.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from eqnas.data.base import DatasetInfo
from eqnas.data.registry import register_dataset
from eqnas.data.source import DatasetSource, RawSplits
from eqnas.data.tensors import SPLIT_CODE, ImageTensors, seeded_rng

SIZE = 29
TRAIN_SIZE = 3000
TEST_SIZE = 1000
MAX_SHIFT = 2.5  # pixels; with MAX_SCALE every shape stays inside the 29x29 frame
MIN_SCALE, MAX_SCALE = 0.85, 1.1


def _box(x: Tensor, y: Tensor, cx: float, cy: float, hx: float, hy: float) -> Tensor:
    """Distance-like field of an axis-aligned rectangle: negative inside, in local pixels."""
    return torch.maximum((x - cx).abs() - hx, (y - cy).abs() - hy)


def _union(*fields: Tensor) -> Tensor:
    return torch.stack(fields).amin(0)


# Each shape: local coordinates (pixels, centred) -> field that is negative inside.
SHAPES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "bar": lambda x, y: _box(x, y, 0, 0, 8, 1.5),
    "cross": lambda x, y: _union(_box(x, y, 0, 0, 8, 1.5), _box(x, y, 0, 0, 1.5, 8)),
    "ell": lambda x, y: _union(_box(x, y, -4, 0, 1.5, 7), _box(x, y, 0.5, 5.5, 6, 1.5)),
    "tee": lambda x, y: _union(_box(x, y, 0, -5.5, 7, 1.5), _box(x, y, 0, 1, 1.5, 6.5)),
    "square": lambda x, y: torch.maximum(_box(x, y, 0, 0, 6.5, 6.5), -_box(x, y, 0, 0, 3.5, 3.5)),
    "ring": lambda x, y: (torch.sqrt(x * x + y * y) - 5.5).abs() - 1.5,
}
CLASSES = tuple(SHAPES)
INFO = DatasetInfo(name="synthetic", channels=1, resolution=SIZE, num_classes=len(CLASSES))
_STREAM = 0x5E7


def render(labels: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> Tensor:
    """float32 [N, 1, size, size] in [0, 1]: shape ``labels[i]`` at a random pose and brightness."""
    n = len(labels)
    angle = torch.from_numpy(rng.uniform(0.0, 2 * math.pi, n)).float()[:, None, None]
    shift = torch.from_numpy(rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 2))).float()[:, :, None, None]
    scale = torch.from_numpy(rng.uniform(MIN_SCALE, MAX_SCALE, n)).float()[:, None, None]
    brightness = torch.from_numpy(rng.uniform(0.6, 1.0, n)).float()[:, None, None]
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    py, px = torch.meshgrid(coords, coords, indexing="ij")
    dx, dy = px - shift[:, 0], py - shift[:, 1]  # [N, size, size]
    # inverse pose: un-rotate and un-scale pixel positions into the shape's own frame
    x = (torch.cos(angle) * dx + torch.sin(angle) * dy) / scale
    y = (-torch.sin(angle) * dx + torch.cos(angle) * dy) / scale
    field = torch.empty(n, size, size)
    label_t = torch.from_numpy(labels)
    for k, shape in enumerate(SHAPES.values()):
        mask = label_t == k
        field[mask] = shape(x[mask], y[mask]) * scale[mask]  # back to image pixels for the soft edge
    return ((0.5 - field).clamp(0.0, 1.0) * brightness)[:, None]


def make_split(n: int, split: str, seed: int) -> ImageTensors:
    """``n`` balanced, shuffled images; the same for the same (n, split, seed)."""
    rng = seeded_rng(seed, _STREAM, SPLIT_CODE[split])
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    return ImageTensors(render(labels, rng), torch.from_numpy(labels.astype(np.int64)))


@register_dataset("synthetic")
class Synthetic(DatasetSource):
    def info(self, root: Path | None) -> DatasetInfo:
        return INFO

    def load(self, root: Path | None, resolution: int | None, seed: int) -> RawSplits:
        return RawSplits(train=make_split(TRAIN_SIZE, "train", seed), val=None,
                         test=make_split(TEST_SIZE, "test", seed), info=INFO)
