"""The extrapolation check (Alabdulmohsin et al. 2022 judge a law by held-out larger runs): hold out
the K runs of largest training compute, fit on the rest, and score the law's predictions for the
held-out runs by the RMSE of log loss."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from eqnas.errors import EqnasError
from eqnas.scaling.law_fit import as_positive


def largest_compute(compute: npt.ArrayLike, k: int) -> np.ndarray:
    """Boolean mask of the k runs of largest training compute (ties: the later run in input order)."""
    c = as_positive("training compute", compute)
    if not 0 <= k < len(c):
        raise EqnasError(f"--holdout-largest {k}: use 0 (no hold-out) up to {len(c) - 1} for {len(c)} runs")
    mask = np.zeros(len(c), dtype=bool)
    if k:
        mask[np.argsort(c, kind="stable")[-k:]] = True
    return mask


def log_rmse(predicted: npt.ArrayLike, observed: npt.ArrayLike) -> float:
    """sqrt(mean((log predicted - log observed)^2))."""
    pred = as_positive("predicted loss", predicted)
    obs = as_positive("observed loss", observed)
    if pred.shape != obs.shape or pred.size == 0:
        raise EqnasError(f"predicted and observed must be non-empty and of one shape, got {pred.shape}, {obs.shape}")
    return float(np.sqrt(np.mean((np.log(pred) - np.log(obs)) ** 2)))
