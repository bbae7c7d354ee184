"""The training data loader and the optional training subset, both seeded."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from eqnas.errors import EqnasError
from eqnas.train.runtime import generator


def take_subset(dataset: Dataset, size: int | None, seed: int) -> Dataset:
    """A seeded random `size` of the training images (all of them for None)."""
    if size is None:
        return dataset
    if size > len(dataset):
        raise EqnasError(f"subset={size}: the training split has only {len(dataset)} images")
    order = torch.randperm(len(dataset), generator=generator(seed, "subset"))
    return Subset(dataset, order[:size].sort().values.tolist())


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int) -> DataLoader:
    """Shuffled batches of `batch_size` in a seeded order. Under DP, Opacus replaces the order
    with Poisson sampling drawn from this loader's generator."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=False, num_workers=num_workers,
                      generator=generator(seed, "loader"), persistent_workers=num_workers > 0)
