"""How well one ranking of architectures agrees with another: the statistics of the rank-fidelity
benchmark (``benchmarks/rank_fidelity.py``), pure and free of torch.

Every function takes two equally long sequences of scores for the same architectures, higher is
better: a scorer's (proxy accuracy, minus a training loss, FLOPs, ...) and the reference's.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from eqnas.errors import EqnasError


def _pair(scores: Sequence[float], reference: Sequence[float], least: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(scores, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise EqnasError(f"rank statistics need two equally long score lists, got {a.shape} and {b.shape}")
    if len(a) < least:
        raise EqnasError(f"rank statistics need at least {least} architectures, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise EqnasError("rank statistics need finite scores")
    return a, b


def kendall_tau(scores: Sequence[float], reference: Sequence[float]) -> float:
    """Kendall's tau-b: (concordant - discordant pairs), normalised for ties; 1 = same order."""
    a, b = _pair(scores, reference)
    return float(stats.kendalltau(a, b).statistic)


def spearman_rho(scores: Sequence[float], reference: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (ties get their mean rank)."""
    a, b = _pair(scores, reference)
    return float(stats.spearmanr(a, b).statistic)


def best_in_top(scores: Sequence[float], reference: Sequence[float], k: int = 3) -> bool:
    """Is the reference's best architecture among the scorer's k best? A tie at the scorer's
    k-th place counts against it: the scorer must put the best strictly above the (k+1)-th."""
    a, b = _pair(scores, reference, least=1)
    best = int(np.argmax(b))
    return int(np.sum(a > a[best])) < k and int(np.sum(a >= a[best])) <= k


def tau_within_top(scores: Sequence[float], reference: Sequence[float], fraction: float = 1 / 3) -> float:
    """Kendall's tau among the reference's best `fraction` of architectures (at least 3): how well
    the scorer orders the good ones, where rankings usually fail."""
    a, b = _pair(scores, reference, least=3)
    count = max(3, int(round(fraction * len(b))))
    top = np.argsort(-b, kind="stable")[:count]
    return kendall_tau(a[top], b[top])
