"""Which images each stage of a study sees, and the refusal of a private study whose searches
would see its private training images.

An architecture search that trains on the private data without DP leaks it, so the epsilon of
the retraining covers the whole pipeline only if the searches saw other images. Two ways:
- `search_data: {public_split: N, seed: S}`: a seeded permutation (S) of the indices of each
  study dataset's training split; its first N indices are the public part, given to the
  searches only, and the rest is the private part, the only images any retraining sees. The
  two index sets are disjoint by construction and checked again before anything trains.
- `search_data: {dataset: NAME}`: another dataset, refused under DP when it holds the same
  images as a study dataset (fashion-mnist-rot is fashion-mnist rotated).
The validation split chooses checkpoints and the test split scores them; neither is covered
by the epsilon of DP-SGD (which protects the training split only).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from eqnas.data.tensors import seeded_rng
from eqnas.errors import EqnasError

# datasets made by transforming another dataset's images share that dataset's images
IMAGE_SOURCES = {"fashion-mnist-rot": "fashion-mnist"}
_PUBLIC_STREAM = 0x9B1C


def image_source(dataset: str) -> str:
    """The name of the images behind a dataset (itself unless it transforms another's)."""
    return IMAGE_SOURCES.get(dataset, dataset)


def public_private(train_size: int, public: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(public, private) indices into a training split of `train_size` images, each sorted:
    the first `public` of a seeded permutation, and the rest."""
    if not 0 < public < train_size:
        raise EqnasError(f"search_data.public_split={public}: the training split has {train_size} images; "
                         f"use a number between 1 and {train_size - 1}")
    order = seeded_rng(seed, _PUBLIC_STREAM).permutation(train_size)
    return np.sort(order[:public]), np.sort(order[public:])


def fingerprint(indices: np.ndarray) -> str:
    """A short hash of an index set, so a reader can check two records name the same images."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]


def check_disjoint(public: np.ndarray, private: np.ndarray) -> None:
    shared = np.intersect1d(public, private)
    if shared.size:
        raise EqnasError(f"the search's public part and the private training part share {shared.size} images "
                         f"(first index {int(shared[0])})")


def check_search_data(datasets: tuple[str, ...], search_dataset: str | None, public_split: int | None,
                      private: bool) -> None:
    """Refuses settings whose searches would see a private training set (under DP), and
    contradictory ones."""
    if public_split is not None and search_dataset is not None:
        raise EqnasError("search_data: public_split splits each study dataset itself; drop 'dataset' "
                         "(or drop public_split to search on another dataset)")
    if not private:
        return
    if public_split is None and search_dataset is None:
        raise EqnasError(f"a DP study must search on data disjoint from its private training set, but its "
                         f"searches would train on the training split of {datasets[0]}: set search_data: "
                         f"{{public_split: N}} (a seeded public part of each dataset) or {{dataset: OTHER}}")
    if search_dataset is not None:
        for dataset in datasets:
            if image_source(search_dataset) == image_source(dataset):
                raise EqnasError(f"search_data.dataset {search_dataset!r} holds the images of {dataset!r}, whose "
                                 f"training split is private in this DP study: search on a public_split of it "
                                 f"or on other data")


@dataclass(frozen=True)
class DataUse:
    """The images one stage saw."""

    stage: str                 # search | search-select | retrain | select | test (eqnas.study.report.STAGES)
    dataset: str
    split: str                 # train | val | test
    selection: str             # which images, in words (index range, or seed and count)
    count: int
    covered_by_epsilon: bool   # protected by the retraining's DP-SGD
    indices_sha256: str | None = None  # fingerprint of the index set, where it is a subset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_subset(count: int, total: int, seed_text: str) -> str:
    return f"all {total}" if count == total else f"a seeded random {count} of {total} ({seed_text})"
