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
    cap: str = "budget"  # train subnets within the largest budget ("budget"), within FLOPS ("100M"), or all ("none")

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
        if self.cap not in ("budget", "none"):
            from eqnas.profiling import parse_budget

            try:
                parse_budget(self.cap)
            except EqnasError:
                raise EqnasError(f"--supernet-cap {self.cap!r}: use FLOPs (e.g. 100M), 'budget' (the largest "
                                 f"--flops) or 'none' (every subnet)") from None

    def flops_cap(self, budgets: tuple[int, ...]) -> int | None:
        """The FLOPs the supernet trains within for these budgets (None: every subnet); a cap below
        the largest budget would leave the subnets between them untrained, so it is refused."""
        from eqnas.profiling import format_flops, parse_budget

        if self.cap == "none":
            return None
        if self.cap == "budget":
            return max(budgets)
        cap = parse_budget(self.cap)
        if cap < max(budgets):
            raise EqnasError(f"--supernet-cap {self.cap}: below the largest budget {format_flops(max(budgets))}, "
                             f"whose subnets above it would be scored untrained")
        return cap
