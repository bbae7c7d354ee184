"""Rotating a batch of images by per-image angles (bilinear, zeros outside), as in MNIST-rot."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

_CHUNK = 8192


def rotate_images(images: Tensor, degrees: Tensor) -> Tensor:
    """Rotate each of images [N, C, H, W] counter-clockwise by degrees [N]; keeps the dtype.

    Square images only: normalized grid coordinates are then isotropic, so the affine matrix is
    a plain rotation.
    """
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotate_images needs square images, got {tuple(images.shape[-2:])}")
    out = torch.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        x = images[start:start + _CHUNK].float()
        a = degrees[start:start + _CHUNK].double() * (math.pi / 180.0)
        cos, sin = torch.cos(a), torch.sin(a)
        # grid_sample reads the input at theta @ (x_out, y_out); with y pointing down, the
        # inverse of a counter-clockwise turn on screen is this matrix.
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], -1),
                             torch.stack([sin, cos, torch.zeros_like(a)], -1)], 1).float()
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if images.dtype == torch.uint8:
            y = y.round_().clamp_(0, 255)
        out[start:start + _CHUNK] = y.to(images.dtype)
    return out
