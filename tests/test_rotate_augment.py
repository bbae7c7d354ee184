"""The continuous rotation augmentation: labels are kept, and each image turns by the angle drawn
for it (a bright dot's centre of mass lands where the hand-rotated position says)."""
from __future__ import annotations

import math

import torch

from eqnas.train.augment import AUGMENTATIONS, Views

SIZE = 33  # odd: the centre is a pixel


def _dot_images(offsets: list[tuple[float, float]]) -> torch.Tensor:
    """[N, 1, SIZE, SIZE] with a Gaussian dot at (dx, dy) pixels right of / below the centre."""
    coords = torch.arange(SIZE, dtype=torch.float32) - (SIZE - 1) / 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([torch.exp(-((x - dx) ** 2 + (y - dy) ** 2) / 2.0)[None] for dx, dy in offsets])


def _centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    coords = torch.arange(SIZE, dtype=torch.float32) - (SIZE - 1) / 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    mass = image[0].sum()
    return float((image[0] * x).sum() / mass), float((image[0] * y).sum() / mass)


def test_rotate_turns_each_image_by_its_drawn_angle_counter_clockwise():
    offsets = [(8.0, 0.0), (0.0, -9.0), (6.0, 5.0), (-7.0, 3.0)]
    images = _dot_images(offsets)
    rotated = AUGMENTATIONS["rotate"](images, torch.Generator().manual_seed(3))
    drawn = torch.rand(len(offsets), generator=torch.Generator().manual_seed(3)) * 360.0  # the same draw
    assert len(set(drawn.round().tolist())) == len(offsets)  # four different angles: the test can tell them apart
    for image, (dx, dy), degrees in zip(rotated, offsets, drawn.tolist()):
        a = math.radians(degrees)
        # counter-clockwise on screen, whose y axis points down: rotate (dx, -dy) in the usual frame
        ux, uy = dx * math.cos(a) + dy * math.sin(a), -dx * math.sin(a) + dy * math.cos(a)
        cx, cy = _centre_of_mass(image)
        assert math.hypot(cx - ux, cy - uy) < 0.3, (degrees, (cx, cy), (ux, uy))


def test_rotation_views_keep_the_labels_and_rotate_flip_keeps_the_mass():
    images = _dot_images([(8.0, 0.0), (0.0, 6.0), (5.0, 5.0)])
    targets = torch.tensor([4, 1, 7])
    for name in ("rotate", "rotate_flip"):
        views, view_targets = Views(name, 2, torch.Generator().manual_seed(0))(images, targets)
        assert view_targets.tolist() == [4, 4, 1, 1, 7, 7]
        assert views.shape == (6, 1, SIZE, SIZE)
        # a rotation moves the dot, never off the image: its distance from the centre is kept
        for view, original in zip(views, images.repeat_interleave(2, dim=0)):
            assert abs(math.hypot(*_centre_of_mass(view)) - math.hypot(*_centre_of_mass(original))) < 0.3
        assert not torch.allclose(views[0], views[1])  # two views of one sample turn differently
