"""The knobs of `eqnas search --strategy supernet` (the rest is an ordinary SearchConfig).

Plain values only, so the CLI checks them before torch is imported."""
from __future__ import annotations

from dataclasses import dataclass

from eqnas.errors import EqnasError
from eqnas.search.fidelity import parse_rungs

KERNEL_MODE_NAMES = ("map", "separate")  # eqnas.supernet.kernels.KERNEL_MODES (a test keeps them equal)
DEFAULT_REFERENCE = "3x20000"  # the stand-alone recipe of benchmarks/rank_fidelity.py: 3 epochs on 20,000 images


@dataclass(frozen=True)
class SupernetOptions:
    epochs: int = 3  # supernet training epochs (sandwich steps over the training images)
    images: int | None = None  # training images (a seeded subset); None: all of the training split
    kernels: str = "map"  # elastic-kernel mode (eqnas.supernet.kernels)
    top_k: int = 0  # winners per budget retrained stand-alone with `reference`
    reference: str = DEFAULT_REFERENCE  # EPOCHSxIMAGES of that retraining

    def __post_init__(self) -> None:
        if self.kernels not in KERNEL_MODE_NAMES:
            raise EqnasError(f"--kernels {self.kernels!r}: use one of {', '.join(KERNEL_MODE_NAMES)}")
        for name, value, low in (("--supernet-epochs", self.epochs, 1), ("--top-k", self.top_k, 0)):
            if not isinstance(value, int) or value < low:
                raise EqnasError(f"{name} {value!r}: must be an integer >= {low}")
        if self.images is not None and (not isinstance(self.images, int) or self.images < 1):
            raise EqnasError(f"--supernet-images {self.images!r}: must be a positive integer")
        if len(parse_rungs(self.reference)) != 1:
            raise EqnasError(f"--reference {self.reference!r}: one EPOCHSxIMAGES, e.g. {DEFAULT_REFERENCE}")
