"""Every knob of one training run, with its default next to it.

The same frozen `TrainConfig` drives search proxies and full retraining; the resolved value is
saved as `config.json` beside every result it produced.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from eqnas.arch import ACTIVATIONS, NORMS
from eqnas.errors import EqnasError
from eqnas.train.augment import AUGMENTATIONS
from eqnas.train.optim import OPTIMIZERS, SCHEDULES

ACCOUNTANTS = ("rdp", "prv")  # Opacus accountant mechanisms offered by `eqnas retrain`
DP_MODES = ("ghost", "hooks")  # how per-sample clipping runs (see eqnas.train.privacy)
SELECT_METRICS = ("acc", "auc", "loss")  # validation metric that picks the checkpoint
LOWER_IS_BETTER = ("loss",)


@dataclass(frozen=True)
class TrainConfig:
    # --- length and batches ------------------------------------------------------------
    epochs: int = 10
    batch_size: int = 128  # logical batch: samples per optimizer step (under DP: expected Poisson batch)
    physical_batch_size: int | None = None  # most images per forward pass, views included; None: all at once
    eval_batch_size: int = 256
    subset: int | None = None  # train on a seeded random subset of this many training images
    # --- optimisation ------------------------------------------------------------------
    optimizer: str = "adamw"  # see eqnas.train.optim.OPTIMIZERS
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    schedule: str = "cosine"  # see eqnas.train.optim.SCHEDULES
    label_smoothing: float = 0.0
    # --- augmentation and evaluation -----------------------------------------------------
    augment: str = "none"  # see eqnas.train.augment.AUGMENTATIONS
    aug_mult: int = 1  # augmented views per sample (De et al. 2022); per-sample gradients averaged over them
    ema_decay: float = 0.0  # 0: evaluate the raw weights; else an EMA of the weights is evaluated
    select: str = "acc"  # validation metric choosing the checkpoint: acc or auc (highest), loss (lowest)
    # --- architecture overrides ----------------------------------------------------------
    norm: str | None = None  # None: the arch's norm (turned into group norm under DP)
    activation: str | None = None  # None: the arch's activation
    # --- differential privacy (DP-SGD through Opacus) ------------------------------------
    dp: bool = False
    epsilon: float = 8.0  # target epsilon; the noise multiplier is chosen to reach it at the last epoch
    noise_multiplier: float | None = None  # a fixed noise multiplier instead (epsilon is then only reported)
    delta: float | None = None  # None: min(1e-5, 1/N) for N training images
    max_grad_norm: float = 1.0  # per-sample clipping norm
    accountant: str = "rdp"  # rdp or prv
    dp_mode: str = "hooks"  # hooks: per-sample gradients; ghost: per-sample norms, then a second backward
    # --- runtime -------------------------------------------------------------------------
    seed: int = 0
    device: str = "auto"  # auto: CUDA if present, else CPU
    num_workers: int = 0  # 0 keeps data loading in-process and CPU runs exactly repeatable

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def physical_samples(self) -> int | None:
        """Samples per forward pass that `physical_batch_size` allows once each is seen
        `aug_mult` times; None: the whole batch at once."""
        return None if self.physical_batch_size is None else max(1, self.physical_batch_size // self.aug_mult)

    def improves(self, value: float, best: float | None) -> bool:
        """Is `value` of metric `select` better than `best` (None: nothing yet)? NaN never is, so
        a diverged epoch is not kept over a finite one."""
        if value != value:
            return best is None
        if best is None or best != best:
            return True
        return value < best if self.select in LOWER_IS_BETTER else value > best

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EqnasError(f"training config: unknown key {unknown[0]!r} (valid keys: {', '.join(sorted(known))})")
        return cls(**data)


DP_FIELDS = ("epsilon", "noise_multiplier", "delta", "max_grad_norm", "accountant", "dp_mode")


def _positive_int(config: TrainConfig, name: str, allow_none: bool = False) -> None:
    value = getattr(config, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EqnasError(f"{name}={value!r}: use a positive integer")


def _number(config: TrainConfig, name: str, low: float, high: float, low_open: bool = False) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EqnasError(f"{name}={value!r}: use a finite number")
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise EqnasError(f"{name}={value!r}: use a number in {bracket}{low:g}, {high:g}]")


def _choice(config: TrainConfig, name: str, valid: tuple[str, ...], allow_none: bool = False) -> None:
    value = getattr(config, name)
    if (value is None and allow_none) or value in valid:
        return
    raise EqnasError(f"{name}={value!r}: choose one of {', '.join(valid)}")


def _validate(config: TrainConfig) -> None:
    for name in ("epochs", "batch_size", "eval_batch_size", "aug_mult"):
        _positive_int(config, name)
    for name in ("physical_batch_size", "subset"):
        _positive_int(config, name, allow_none=True)
    _number(config, "lr", 0.0, float("inf"), low_open=True)
    _number(config, "momentum", 0.0, 1.0)
    _number(config, "weight_decay", 0.0, float("inf"))
    _number(config, "label_smoothing", 0.0, 1.0)
    _number(config, "ema_decay", 0.0, 1.0)
    if config.ema_decay == 1.0:
        raise EqnasError("ema_decay=1.0 would never move the averaged weights: use a value in [0, 1), 0 for no EMA")
    _choice(config, "optimizer", tuple(OPTIMIZERS))
    _choice(config, "schedule", tuple(SCHEDULES))
    _choice(config, "augment", tuple(AUGMENTATIONS))
    _choice(config, "select", SELECT_METRICS)
    _choice(config, "norm", NORMS, allow_none=True)
    _choice(config, "activation", ACTIVATIONS, allow_none=True)
    _choice(config, "accountant", ACCOUNTANTS)
    _choice(config, "dp_mode", DP_MODES)
    if config.aug_mult > 1 and config.augment == "none":
        raise EqnasError(f"aug_mult={config.aug_mult} needs an augmentation to draw views from: "
                         f"set augment to one of {', '.join(a for a in AUGMENTATIONS if a != 'none')}")
    _number(config, "epsilon", 0.0, float("inf"), low_open=True)
    if config.noise_multiplier is not None:
        _number(config, "noise_multiplier", 0.0, float("inf"), low_open=True)
    if config.delta is not None:
        _number(config, "delta", 0.0, 1.0, low_open=True)
        if config.delta == 1.0:
            raise EqnasError("delta=1.0 gives no privacy: use a value in (0, 1), typically below 1/N")
    _number(config, "max_grad_norm", 0.0, float("inf"), low_open=True)
    if config.dp and config.norm == "batch":
        raise EqnasError("norm='batch' cannot be used with DP-SGD: batch statistics mix samples, so per-sample "
                         "gradients are not per-sample; use norm 'group' (or leave norm unset under DP)")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise EqnasError(f"seed={config.seed!r}: use a non-negative integer")
    if isinstance(config.num_workers, bool) or not isinstance(config.num_workers, int) or config.num_workers < 0:
        raise EqnasError(f"num_workers={config.num_workers!r}: use a non-negative integer")
    if not isinstance(config.device, str) or not (config.device in ("auto", "cpu") or config.device.startswith("cuda")):
        raise EqnasError(f"device={config.device!r}: use auto, cpu, cuda or cuda:N")
