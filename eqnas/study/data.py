"""The images of a study: every dataset loaded once per resolution with the study's data seed
(so every arm and seed sees the same splits), the searches' data and the retrainings' data,
and the `DataUse` list that records them (see `eqnas.study.provenance`)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from eqnas.data.base import Splits
from eqnas.data.registry import load_dataset
from eqnas.data.tensors import carve_val
from eqnas.search.proxy import PROXY_VAL_SIZE
from eqnas.study.config import StudyConfig
from eqnas.study.provenance import DataUse, check_disjoint, describe_subset, fingerprint, public_private
from eqnas.train.config import TrainConfig


class StudyData:
    def __init__(self, config: StudyConfig) -> None:
        self.config = config
        self._splits: dict[tuple[str, int | None], Splits] = {}
        self._parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def splits(self, dataset: str, resolution: int | None = None) -> Splits:
        """All splits of `dataset` at `resolution`, loaded once."""
        key = (dataset, resolution)
        if key not in self._splits:
            self._splits[key] = load_dataset(dataset, self.config.data_root, resolution, seed=self.config.data_seed,
                                             val_fraction=self.config.val_fraction)
        return self._splits[key]

    def search_dataset(self, dataset: str) -> str:
        return self.config.search_data.dataset or dataset

    def parts(self, dataset: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(public, private) indices into the training split, or None without a public split."""
        public = self.config.search_data.public_split
        if public is None:
            return None
        if dataset not in self._parts:
            parts = public_private(len(self.splits(dataset).train), public, self.config.search_data.seed)
            check_disjoint(*parts)
            self._parts[dataset] = parts
        return self._parts[dataset]

    def search_splits(self, dataset: str, resolution: int) -> Splits:
        """What the searches for `dataset` train and validate on."""
        full = self.splits(self.search_dataset(dataset), resolution)
        parts = self.parts(dataset)
        if parts is None:
            return full
        train, val = carve_val(full.train.subset(torch.from_numpy(parts[0])), self.config.val_fraction,
                               self.config.search_data.seed)
        return Splits(train=train, val=val, test=val, info=full.info)

    def retrain_splits(self, dataset: str, resolution: int) -> Splits:
        """What the retrainings train on (the private part under a public split), validate and test on."""
        full = self.splits(dataset, resolution)
        parts = self.parts(dataset)
        return full if parts is None else dataclasses.replace(full, train=full.train.subset(torch.from_numpy(parts[1])))

    def uses(self, dataset: str, searched: bool, run: TrainConfig) -> list[DataUse]:
        """The images each stage of one run saw: search (if the arm was searched), retraining,
        checkpoint selection and test."""
        full = self.splits(dataset)
        parts = self.parts(dataset)
        n_train = len(full.train)
        uses = self._search_uses(dataset) if searched else []
        if parts is None:
            pool, where, sha = n_train, f"the training split ({n_train} images)", None
        else:
            pool, sha = len(parts[1]), fingerprint(parts[1])
            where = (f"the private part: the {pool} training-split indices not in the public part "
                     f"(seeded permutation, seed {self.config.search_data.seed})")
        count = pool if run.subset is None else run.subset
        uses.append(DataUse("retrain", dataset, "train",
                            f"{where}; {describe_subset(count, pool, 'drawn with the seed of each run')}",
                            count, run.dp, sha))
        uses.append(DataUse("select", dataset, "val", f"the validation split (data seed {self.config.data_seed}) "
                            f"chooses the checkpoint", len(full.val), False))
        uses.append(DataUse("test", dataset, "test", "the test split: scores the chosen checkpoint",
                            len(full.test), False))
        return uses

    def _search_uses(self, dataset: str) -> list[DataUse]:
        search = self.config.search
        split = self.search_splits(dataset, None)
        name = self.search_dataset(dataset)
        parts = self.parts(dataset)
        if parts is not None:
            where = (f"the public part: the first {len(parts[0])} of a seeded permutation (seed "
                     f"{self.config.search_data.seed}) of the {len(self.splits(dataset).train)} training-split "
                     f"indices, disjoint from the private part")
            sha = fingerprint(parts[0])
        elif name != dataset:
            where, sha = f"the training split of {name} (another dataset)", None
        else:
            where, sha = "the training split (the images the retraining uses)", None
        n = len(split.train)
        trained = n if search.subset is None else min(search.subset, n)
        val = min(PROXY_VAL_SIZE, len(split.val))
        return [
            DataUse("search", name, "train", f"{where}; the proxy trains on, of its training images, "
                    f"{describe_subset(trained, n, f'seed {search.seed}')}", trained, False, sha),
            DataUse("search-select", name, "val" if parts is None else "train",
                    f"proxy validation: a seeded {val} of "
                    + ("the public part's held-out tenth" if parts is not None else "the validation split"),
                    val, False, sha),
        ]
