"""How each point of a scaling-law sweep is trained, so that every run learns: the learning rate
falls with model size, the epochs rise as the data shrinks, training stops when the validation
loss stops falling, and a run that ends at or above chance loss counts as diverged.

The rule (pure arithmetic, no training here):
    lr     = lr_ref x (ref_flops / flops) ** lr_power   # 0.5: lr ~ 1 / width, as FLOPs ~ width^2;
                                                         # lr_ref: the space proxy's lr (--lr)
    epochs = clamp(ceil(min_samples / subset), min_epochs, max_epochs)
    stop   after `patience` epochs without a lower validation loss
    retry  a diverged run once at lr x retry_factor; diverged twice: recorded as failed
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from eqnas.errors import EqnasError


@dataclass(frozen=True)
class PointRecipe:
    """The per-point learning rate, epochs, early stopping and retry of `eqnas laws`."""

    ref_flops: float = 2e6  # forward FLOPs of the model that trains at the proxy's learning rate
    lr_power: float = 0.5
    min_samples: int = 20_000  # training samples each point sees at least (before early stopping) ...
    min_epochs: int = 2
    max_epochs: int = 12  # ... within these epoch bounds
    patience: int = 2  # epochs without a lower validation loss before stopping; 0: never stop early
    retry_factor: float = 0.3  # a diverged run's one retry uses lr x this

    def __post_init__(self) -> None:
        for name in ("ref_flops", "retry_factor"):
            if not getattr(self, name) > 0:
                raise EqnasError(f"{name}={getattr(self, name)!r}: use a positive number")
        if not 1 <= self.min_epochs <= self.max_epochs:
            raise EqnasError(f"epochs {self.min_epochs}..{self.max_epochs}: use 1 <= min_epochs <= max_epochs")
        if self.min_samples < 1 or self.patience < 0:
            raise EqnasError(f"min_samples={self.min_samples}, patience={self.patience}: use min_samples >= 1 "
                             "and patience >= 0")

    @classmethod
    def fixed_epochs(cls, epochs: int, **changes) -> "PointRecipe":
        """Every point trains `epochs` epochs (early stopping aside), whatever its data size."""
        return cls(min_epochs=epochs, max_epochs=epochs, **changes)

    def lr(self, lr_ref: float, flops: float) -> float:
        """Peak learning rate of a model with `flops` forward FLOPs per sample, when one of
        ref_flops trains at lr_ref (3 significant figures)."""
        return float(f"{lr_ref * (self.ref_flops / flops) ** self.lr_power:.3g}")

    def epochs(self, subset: int) -> int:
        """Epochs for a training subset of `subset` images."""
        return min(self.max_epochs, max(self.min_epochs, math.ceil(self.min_samples / subset)))

    def to_dict(self) -> dict:
        return {**self.__dict__}


def chance_loss(num_classes: int, task: str) -> float:
    """Cross-entropy of a uniform guess: ln C for C classes; ln 2 for multi-label tasks (mean
    binary cross-entropy at p = 1/2)."""
    return math.log(num_classes) if task == "multiclass" else math.log(2)


def diverged(loss: float | None, chance: float) -> bool:
    """No finite loss, or none below chance: the run did not learn."""
    return loss is None or not math.isfinite(loss) or loss >= chance


class Patience:
    """The epoch hook of one run: stop after `patience` epochs without a lower validation loss."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = math.inf
        self.since_best = 0

    def __call__(self, epoch: int, loss: float) -> bool:
        if loss < self.best:  # NaN is never lower, so a diverging run stops too
            self.best, self.since_best = loss, 0
        else:
            self.since_best += 1
        return self.patience == 0 or self.since_best < self.patience
