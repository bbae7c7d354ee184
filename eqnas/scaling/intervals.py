"""A point estimate with its bootstrap percentile interval, shared by every reported scaling
quantity (law parameters, frontier exponents, samples per parameter, the IsoFLOP slope)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Estimate:
    """value with a level-percentile interval from n_boot finite bootstrap replicates (low and
    high are None when fewer than two replicates gave a finite value)."""

    value: float
    low: float | None = None
    high: float | None = None
    level: float = 0.95
    n_boot: int = 0

    def text(self, spec: str = ".3g") -> str:
        """'0.35 [0.33, 0.37]', or the value alone without an interval."""
        if self.low is None or self.high is None:
            return format(self.value, spec)
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def covers(self, truth: float) -> bool:
        """Whether truth lies inside the interval (False without one)."""
        return self.low is not None and self.high is not None and self.low <= truth <= self.high

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        ci = None if self.low is None else [self.low, self.high]
        return {"value": self.value, "ci": ci, "ci_level": self.level, "n_boot": self.n_boot}


def estimate(value: float, replicates: npt.ArrayLike, level: float) -> Estimate:
    """value with the percentile interval of the finite replicates (non-finite ones are the
    replicates where the quantity does not exist, e.g. an exponent at 0; they are left out)."""
    reps = np.asarray(replicates, dtype=float).ravel()
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return Estimate(float(value), level=level, n_boot=int(reps.size))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(reps, [tail, 100 - tail])
    return Estimate(float(value), float(low), float(high), level, int(reps.size))
