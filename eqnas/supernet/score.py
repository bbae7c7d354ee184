"""Scoring one subnet with the supernet's weights: extract it, recalibrate batch norm on a few
training batches, evaluate on a validation subset held in memory."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from eqnas.data.base import Splits
from eqnas.train.evaluate import evaluate
from eqnas.train.loaders import take_subset
from eqnas.train.optim import make_criterion
from eqnas.train.runtime import Runtime, generator
from eqnas.supernet.norms import recalibrate
from eqnas.supernet.resize import Resize
from eqnas.supernet.supernet import Subnet, Supernet

VAL_SIZE = 500  # validation images per score (seeded subset): a score of a 100M-FLOP subnet stays within seconds on a CPU
CALIBRATION_BATCHES = 2  # training batches that re-estimate batch-norm statistics
CALIBRATION_BATCH_SIZE = 64


@dataclass(frozen=True)
class ScoreData:
    """What every score reads, loaded once: calibration batches and a validation subset."""

    calibration: list[torch.Tensor]
    val: TensorDataset
    task: str
    batch_size: int = 256


def score_data(splits: Splits, seed: int = 0, val_size: int = VAL_SIZE,
               calibration_batches: int = CALIBRATION_BATCHES,
               calibration_batch_size: int = CALIBRATION_BATCH_SIZE) -> ScoreData:
    val = take_subset(splits.val, min(val_size, len(splits.val)), seed)
    images, targets = next(iter(DataLoader(val, batch_size=len(val))))
    loader = DataLoader(splits.train, batch_size=calibration_batch_size, shuffle=True,
                        generator=generator(seed, "calibration"))
    batches = iter(loader)
    calibration = [next(batches)[0] for _ in range(min(calibration_batches, len(loader)))]
    return ScoreData(calibration=calibration, val=TensorDataset(images, targets), task=splits.info.task)


def score_subnet(supernet: Supernet, subnet: Subnet, data: ScoreData) -> dict[str, float]:
    """{"acc", "auc", "loss", "seconds"} of the subnet with inherited weights (CPU or the
    supernet's device)."""
    start = time.perf_counter()
    arch = supernet.arch(subnet)
    device = next(supernet.parameters()).device
    model = nn.Sequential(Resize(arch.resolution), supernet.extract(arch))
    recalibrate(model, (batch.to(device) for batch in data.calibration))
    runtime = Runtime(device=device, amp=False, channels_last=False)
    scores = evaluate(model, data.val, data.task, make_criterion(data.task, 0.0), runtime, data.batch_size)
    return {**scores, "seconds": time.perf_counter() - start}
