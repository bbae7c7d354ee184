"""Chinchilla's approach 2 (Hoffmann et al. 2022): IsoFLOP profiles. For each compute level C,
take loss against log N among runs of equal training compute, fit a parabola, and read off its
minimum N_opt(C); then fit log N_opt = a log C + c.

A sweep is an N x D grid, so runs rarely share a compute value. Levels are formed by
interpolation: each model (one distinct N) has a loss curve over D, and C = c_N D with c_N its
measured training FLOPs per sample, so its loss at level C is read off that curve, linearly in
(log C, log loss), only inside the model's measured range (never extrapolated). Levels are
log-spaced over the compute range that at least MIN_MODELS models cover. At each level the
parabola is fitted through the model of lowest loss and up to WINDOW sizes either side; a level
whose lowest loss is at the smallest or largest size (no bracketed minimum) is skipped, as is
one whose parabola opens downward or has its vertex outside the window. The interval of a comes
from a seeded bootstrap over observations (each drawn point kept once; replicates where too few
levels survive are left out and counted).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from eqnas.errors import EqnasError
from eqnas.scaling.intervals import Estimate, estimate
from eqnas.scaling.law_fit import as_positive

MIN_MODELS = 3  # per level: a parabola has three coefficients
MIN_LEVELS = 3  # a line through two levels always fits; three is the least that can disagree
WINDOW = 2  # sizes either side of the level's lowest loss that the parabola sees
METHOD = ("compute levels log-spaced over the range 3+ sizes cover; each size's loss at a level "
          "interpolated over its data sizes in (log C, log loss), never extrapolated; parabola of loss in "
          "log N through the lowest loss and up to 2 sizes either side")


@dataclass(frozen=True)
class IsoFlopConfig:
    """How approach 2 is run."""

    n_levels: int = 8  # candidate compute levels, log-spaced over the covered range
    n_boot: int = 200
    ci_level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_levels < MIN_LEVELS:
            raise EqnasError(f"n_levels must be >= {MIN_LEVELS}, got {self.n_levels!r}")
        if self.n_boot < 0:
            raise EqnasError(f"n_boot must be >= 0, got {self.n_boot!r}")
        if not 0 < self.ci_level < 1:
            raise EqnasError(f"ci_level must be in (0, 1), got {self.ci_level!r}")


@dataclass(frozen=True)
class IsoFlopLevel:
    """One compute level: the window's sizes and losses, the parabola loss = c2 x^2 + c1 x + c0
    in x = log N, and its minimum."""

    C: float
    N: tuple[float, ...]
    loss: tuple[float, ...]
    parabola: tuple[float, float, float]
    N_opt: float


@dataclass(frozen=True)
class IsoFlopFit:
    """N_opt ∝ C^a from the levels kept; skipped says why each other candidate level was dropped."""

    a: Estimate
    log_coefficient: float  # c in log N_opt = a log C + c
    levels: tuple[IsoFlopLevel, ...]
    skipped: tuple[str, ...] = field(default=())

    def n_opt(self, C: npt.ArrayLike) -> np.ndarray:
        """The fitted N_opt(C)."""
        return np.exp(self.log_coefficient + self.a.value * np.log(as_positive("C", C)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"a": self.a.to_dict(), "log_coefficient": self.log_coefficient,
                "levels": [{"C": lv.C, "N": list(lv.N), "loss": list(lv.loss), "parabola": list(lv.parabola),
                            "N_opt": lv.N_opt} for lv in self.levels],
                "skipped": list(self.skipped), "method": METHOD}


def fit_isoflop(N: npt.ArrayLike, D: npt.ArrayLike, loss: npt.ArrayLike, C: npt.ArrayLike,
                config: IsoFlopConfig = IsoFlopConfig()) -> IsoFlopFit:
    """Approach 2 on runs (N[i], D[i], loss[i]) of training compute C[i]; an EqnasError says
    what is missing when fewer than MIN_LEVELS levels give a minimum."""
    cols = [as_positive(name, v) for name, v in (("N", N), ("D", D), ("loss", loss), ("C", C))]
    if len({c.shape for c in cols}) != 1 or cols[0].ndim != 1:
        raise EqnasError(f"N, D, loss and C must be 1-D of one length, got shapes {[c.shape for c in cols]}")
    log_n, log_d, log_l, log_c = (np.log(c) for c in cols)
    slope, coefficient, levels, skipped = _approach2(log_n, log_d, log_l, log_c, config.n_levels)
    rng = np.random.default_rng(config.seed)
    reps = []
    for _ in range(config.n_boot):
        keep = np.unique(rng.integers(0, len(log_n), size=len(log_n)))
        try:
            reps.append(_approach2(log_n[keep], log_d[keep], log_l[keep], log_c[keep], config.n_levels)[0])
        except EqnasError:
            reps.append(float("nan"))
    return IsoFlopFit(estimate(slope, reps, config.ci_level), coefficient, tuple(levels), tuple(skipped))


def level_minimum(log_n: np.ndarray, loss: np.ndarray) -> tuple[tuple[float, float, float], float] | str:
    """(parabola, N_opt) through the lowest loss and up to WINDOW sizes either side, or why not."""
    order = np.argsort(log_n)
    x, y = log_n[order], loss[order]
    best = int(np.argmin(y))
    if best == 0:
        return "lowest loss at the smallest size (the optimum is below the sizes swept)"
    if best == len(y) - 1:
        return "lowest loss at the largest size (the optimum is above the sizes swept)"
    lo, hi = max(best - WINDOW, 0), min(best + WINDOW + 1, len(y))
    c2, c1, c0 = np.polyfit(x[lo:hi], y[lo:hi], 2)
    vertex = -c1 / (2 * c2) if c2 > 0 else np.nan
    if not x[lo] <= vertex <= x[hi - 1]:
        return "the parabola has no minimum inside the sizes around the lowest loss"
    return (float(c2), float(c1), float(c0)), float(np.exp(vertex))


def _approach2(log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, log_c: np.ndarray,
               n_levels: int) -> tuple[float, float, list[IsoFlopLevel], list[str]]:
    curves = _model_curves(log_n, log_d, log_l, log_c)
    covered = _covered_span([(c[0], c[-1]) for _, c, _ in curves])
    if covered is None:
        raise EqnasError(f"approach 2 needs {MIN_MODELS} model sizes whose training compute ranges overlap, "
                         f"got {len(curves)} size(s) with 2+ data sizes and no such overlap: "
                         "add data fractions so each size spans more compute")
    levels, skipped = [], []
    for level in np.linspace(*covered, n_levels):
        sizes = [(n, np.interp(level, c, l)) for n, c, l in curves if c[0] <= level <= c[-1]]
        found = (f"{len(sizes)} size(s) reach it, need {MIN_MODELS}" if len(sizes) < MIN_MODELS else
                 level_minimum(np.array([n for n, _ in sizes]), np.exp([l for _, l in sizes])))
        if isinstance(found, str):
            skipped.append(f"C = {np.exp(level):.3g}: {found}")
            continue
        x, y = np.array([n for n, _ in sizes]), np.exp([l for _, l in sizes])
        order = np.argsort(x)
        levels.append(IsoFlopLevel(float(np.exp(level)), tuple(np.exp(x[order]).tolist()), tuple(y[order].tolist()),
                                   *found))
    if len(levels) < MIN_LEVELS:
        reasons = Counter(why.split(": ", 1)[1] for why in skipped)
        raise EqnasError(f"approach 2 needs {MIN_LEVELS} compute levels with a bracketed loss minimum, got "
                         f"{len(levels)} of {n_levels}; the others: "
                         + "; ".join(f"{count} x {why}" for why, count in reasons.items()))
    slope, coefficient = np.polyfit(np.log([lv.C for lv in levels]), np.log([lv.N_opt for lv in levels]), 1)
    return float(slope), float(coefficient), levels, skipped


def _model_curves(log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray,
                  log_c: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(log N, log C ascending, log loss) per size with 2+ data sizes; repeats are averaged."""
    curves = []
    for n in np.unique(log_n):
        rows = log_n == n
        d_values = np.unique(log_d[rows])
        if len(d_values) < 2:
            continue
        per_sample = np.median(log_c[rows] - log_d[rows])  # log of training FLOPs per sample
        mean_loss = np.array([log_l[rows][log_d[rows] == d].mean() for d in d_values])
        curves.append((float(n), d_values + per_sample, mean_loss))
    return curves


def _covered_span(spans: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(low, high) of the log-compute values that at least MIN_MODELS spans contain, or None."""
    edges = sorted({e for span in spans for e in span})
    inside = [e for e in edges if sum(lo <= e <= hi for lo, hi in spans) >= MIN_MODELS]
    return (inside[0], inside[-1]) if len(inside) >= 2 else None
