"""How one batch becomes one optimizer step. The loop drives a `Session` and does not know
whether training is private: `PlainSession` here, `PrivateSession` in `eqnas.train.privacy`.

A logical batch (one optimizer step) may be split into physical batches that fit in memory;
`learn` reports whether its call completed a logical step, so schedules and the weight average
advance once per step in both cases.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from eqnas.train.augment import Views
from eqnas.train.runtime import Runtime


@dataclass(frozen=True)
class Outcome:
    loss: float  # mean training loss over the batch's views (NaN for an empty batch)
    samples: int
    stepped: bool  # True when this call finished a logical batch and the weights changed


class ForwardLoss:
    """Views -> device -> (autocast) forward -> mean loss over all B*K views, in float32."""

    def __init__(self, views: Views, criterion: nn.Module, runtime: Runtime) -> None:
        self.views, self.criterion, self.runtime = views, criterion, runtime

    def __call__(self, model: nn.Module, images: Tensor, targets: Tensor) -> Tensor:
        device = self.runtime.device
        images, targets = self.views(images.to(device, non_blocking=True), targets.to(device, non_blocking=True))
        if self.runtime.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with self.runtime.autocast():
            logits = model(images)
        return self.criterion(logits.float(), targets)


class Session(Protocol):
    network: nn.Module  # the eqnas network being trained (unwrapped): EMA source, checkpoint
    optimizer: torch.optim.Optimizer  # the plain optimizer whose learning rate is scheduled
    steps_per_epoch: int  # logical steps in one pass over the data

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]: ...

    def learn(self, images: Tensor, targets: Tensor) -> Outcome: ...

    def privacy(self) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class PlainSession:
    """Non-private training: the gradients of a logical batch's physical chunks add up to the
    gradient of its mean loss, then one optimizer step. `model` is what the forward pass runs
    through: `network` itself, or a DistributedDataParallel around it, which then averages the
    gradients over ranks once per logical batch (`no_sync` for the chunks before the last)."""

    def __init__(self, network: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                 forward: ForwardLoss, physical_samples: int, model: nn.Module | None = None) -> None:
        self.network, self.optimizer, self.loader = network, optimizer, loader
        self.forward, self.physical_samples = forward, physical_samples
        self.model = network if model is None else model
        self.steps_per_epoch = len(loader)
        self.epoch = 0

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # a DistributedSampler reshuffles per epoch
            sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)

    def learn(self, images: Tensor, targets: Tensor) -> Outcome:
        total = 0.0
        chunks = list(zip(images.split(self.physical_samples), targets.split(self.physical_samples)))
        for index, (chunk, chunk_targets) in enumerate(chunks):
            last = index == len(chunks) - 1
            with contextlib.nullcontext() if last or not hasattr(self.model, "no_sync") else self.model.no_sync():
                loss = self.forward(self.model, chunk, chunk_targets)
                (loss * (len(chunk) / len(images))).backward()
            total += loss.item() * len(chunk)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return Outcome(loss=total / len(images), samples=len(images), stepped=True)

    def privacy(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        pass
