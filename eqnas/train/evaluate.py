"""Loss, accuracy and AUC of a network on one split (eval mode, no augmentation)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from eqnas.train.metrics import accuracy, auc, scores_from_logits
from eqnas.train.runtime import Runtime, eval_mode


def predict(model: nn.Module, dataset: Dataset, runtime: Runtime, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits [N, K] (float32) and targets of `dataset`, in its order."""
    logits, targets = [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with eval_mode(model):
        for images, target in loader:
            images = images.to(runtime.device)
            if runtime.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                out = model(images)
            logits.append(out.float().cpu())
            targets.append(target)
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def evaluate(model: nn.Module, dataset: Dataset, task: str, criterion: nn.Module, runtime: Runtime,
             batch_size: int) -> dict[str, float]:
    """{"loss", "acc", "auc"} on `dataset` (MedMNIST conventions, see eqnas.train.metrics)."""
    logits, targets = predict(model, dataset, runtime, batch_size)
    with torch.no_grad():
        loss = float(criterion(torch.from_numpy(logits), torch.from_numpy(targets)))
    scores = scores_from_logits(logits.astype(np.float64), task)
    return {"loss": loss, "acc": accuracy(scores, targets, task), "auc": auc(scores, targets, task)}
