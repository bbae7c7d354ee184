"""Optimizers, learning-rate schedules and losses, each chosen by name from a table.

A schedule is a multiplier of the base learning rate as a function of training progress
t = step / total_steps in [0, 1], stepped once per optimizer step, so every schedule works the
same with or without DP and for any number of steps per epoch.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from eqnas.registry import Registry

OptimizerFactory = Callable[..., torch.optim.Optimizer]  # (params, *, lr, momentum, weight_decay)
Schedule = Callable[[float], float]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")
SCHEDULES: Registry[Schedule] = Registry("schedule")


@OPTIMIZERS.register("sgd")
def _sgd(params: Iterable[nn.Parameter], lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@OPTIMIZERS.register("adam")
def _adam(params: Iterable[nn.Parameter], lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)  # no momentum term


@OPTIMIZERS.register("adamw")
def _adamw(params: Iterable[nn.Parameter], lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)  # no momentum term


@SCHEDULES.register("constant")
def _constant(t: float) -> float:
    return 1.0


@SCHEDULES.register("cosine")
def _cosine(t: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * t))


ONECYCLE_WARMUP = 0.3  # torch's OneCycleLR default pct_start
ONECYCLE_START, ONECYCLE_END = 1 / 25, 1 / 25 / 1e4  # its div_factor and final_div_factor


@SCHEDULES.register("onecycle")
def _onecycle(t: float) -> float:
    """Cosine warm-up from lr/25 to lr over the first 30 %, then cosine annealing to lr/2.5e5."""
    if t < ONECYCLE_WARMUP:
        return ONECYCLE_START + (1 - ONECYCLE_START) * 0.5 * (1 - math.cos(math.pi * t / ONECYCLE_WARMUP))
    u = (t - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP)
    return ONECYCLE_END + (1 - ONECYCLE_END) * 0.5 * (1 + math.cos(math.pi * u))


STEP_MILESTONES, STEP_GAMMA = (0.5, 0.75), 0.1  # MedMNIST v2: x0.1 at epochs 50 and 75 of 100


@SCHEDULES.register("step")
def _step(t: float) -> float:
    return STEP_GAMMA ** sum(t >= milestone for milestone in STEP_MILESTONES)


def make_optimizer(params: Iterable[nn.Parameter], name: str, lr: float, momentum: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    return OPTIMIZERS.get_or_fail(name)(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step scheduler; progress is clamped so extra steps (an uneven last epoch) keep the final rate."""
    shape, total = SCHEDULES[schedule], max(1, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: shape(min(1.0, step / total)))


class SmoothedBCE(nn.Module):
    """Binary cross-entropy on logits with label smoothing towards 0.5 (multilabel targets)."""

    def __init__(self, smoothing: float) -> None:
        super().__init__()
        self.smoothing = smoothing
        self.reduction = "mean"  # "none" gives [B, C] (DP ghost clipping asks for per-sample losses)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets * (1 - self.smoothing) + 0.5 * self.smoothing
        return nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction=self.reduction)


CRITERIA: dict[str, Callable[[float], nn.Module]] = {
    "multiclass": lambda smoothing: nn.CrossEntropyLoss(label_smoothing=smoothing),
    "multilabel": SmoothedBCE,
}


def make_criterion(task: str, label_smoothing: float) -> nn.Module:
    """Mean-reduced loss for the task (Opacus scales per-sample gradients assuming a mean)."""
    return CRITERIA[task](label_smoothing)
