"""Batch augmentations on the training device, and augmentation multiplicity.

Each augmentation maps a batch [B, C, H, W] to a batch of the same shape, drawing one random
transformation per sample from an explicit generator, so runs repeat exactly under a seed.

Augmentation multiplicity (De et al. 2022, "Unlocking high-accuracy differentially private image
classification through scale", arXiv:2204.13650, Sec. 3.1): every sample is shown as K
independently augmented views. `Views` lays them out sample-major ([B*K]: view j of sample i at
i*K + j) so the per-sample gradients can be averaged over the K views before clipping (see
`eqnas.train.privacy.average_views`). The accountant only ever sees the B samples.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from eqnas.data.rotate import rotate_images
from eqnas.registry import Registry

Augmentation = Callable[[Tensor, torch.Generator], Tensor]
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
register_augmentation = AUGMENTATIONS.register


def _flip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Horizontal flip of a random half of the samples."""
    flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


@register_augmentation("none")
def no_augmentation(x: Tensor, generator: torch.Generator) -> Tensor:
    return x


@register_augmentation("crop_flip")
def crop_flip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Random crop after reflect padding by 1/8 of the size (4 px at 32, as in De et al.), then a
    random horizontal flip: the CIFAR augmentation of De et al. 2022 and Hölzl et al. 2023."""
    batch, _, height, width = x.shape
    pad = max(1, round(height / 8))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (batch, 1), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (batch, 1), generator=generator, device=x.device)
    rows = (dy + torch.arange(height, device=x.device))[:, :, None]  # [B, H, 1]
    cols = (dx + torch.arange(width, device=x.device))[:, None, :]  # [B, 1, W]
    samples = torch.arange(batch, device=x.device)[:, None, None]
    # advanced indices around a slice put their dims first: [B, H, W, C] -> [B, C, H, W]
    crops = padded[samples, :, rows, cols].permute(0, 3, 1, 2)
    return _flip(crops, generator)


@register_augmentation("rot90_flip")
def rot90_flip(x: Tensor, generator: torch.Generator) -> Tensor:
    """A random element of D4 acting on the pixel grid (k*90 degrees, then a random flip): exact
    for square images, for data without a canonical orientation (microscopy, dermatoscopy)."""
    turns = torch.randint(0, 4, (len(x),), generator=generator, device=x.device)
    out = x.clone()
    for k in (1, 2, 3):
        chosen = turns == k
        out[chosen] = torch.rot90(x[chosen], k, dims=(-2, -1))
    return _flip(out, generator)


def random_angles(batch: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """One angle in degrees per sample, uniform in [0, 360)."""
    return torch.rand(batch, generator=generator, device=device) * 360.0


@register_augmentation("rotate")
def rotate(x: Tensor, generator: torch.Generator) -> Tensor:
    """A rotation by a continuous random angle (bilinear, zeros outside the image), the same
    transformation that makes fashion-mnist-rot: an augmentation arm against rotation
    equivariance on such data."""
    return rotate_images(x, random_angles(len(x), generator, x.device))


@register_augmentation("rotate_flip")
def rotate_flip(x: Tensor, generator: torch.Generator) -> Tensor:
    """`rotate`, then a random horizontal flip: a random element of O(2)."""
    return _flip(rotate(x, generator), generator)


class Views:
    """K augmented views of each sample, sample-major: [B, ...] -> [B*K, ...]."""

    def __init__(self, augment: str, k: int, generator: torch.Generator) -> None:
        self.augmentation, self.k, self.generator = AUGMENTATIONS[augment], k, generator

    def __call__(self, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        images = images.repeat_interleave(self.k, dim=0)
        return self.augmentation(images, self.generator), targets.repeat_interleave(self.k, dim=0)
