"""Compute-optimal model size and data for a FLOP budget, under a fitted law.

For transformers training compute is ~6·N·D, but a CNN's FLOPs per sample depend on width,
depth and resolution, not on N alone. So the compute model is C(N, D) = k · N^p · D, with the
per-sample training FLOPs k · N^p fitted in log space from measured members of one family.
Units follow the measurements: if flops-per-sample counts one multiply-add as one FLOP (the
fvcore convention) and covers forward plus backward, budgets C must be in the same unit.

On the constraint D = C / (k N^p), with x = log N the loss is
    L(x) = E + A e^(-alpha x) + B (k / C)^beta e^(p beta x),
a sum of two exponentials in x, hence convex with one stationary point:
    N_opt = (alpha A / (p beta B) · (C / k)^beta)^(1 / (alpha + p beta)),
so along the frontier N_opt ∝ C^a and D_opt ∝ C^b with a = beta / (alpha + p beta) and
b = alpha / (alpha + p beta). Chinchilla's a = beta / (alpha + beta) is the case p = 1.

The samples-per-parameter ratio D_opt / N_opt is the analogue of Chinchilla's ~20 tokens per
parameter: samples seen (epochs x images, not distinct images) per trainable parameter at the
compute-optimal point. It grows as C^(b - a), so it is one number only when b = a; and since a
CNN sample costs k N^p FLOPs (set by width, depth and resolution, not 6 N), a ratio from one
family or group does not carry over to another, even where their exponents agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eqnas.errors import EqnasError
from eqnas.scaling.law_fit import LawFit, as_positive


@dataclass(frozen=True)
class FlopModel:
    """Training FLOPs per sample ≈ k · N^p, so a run of D samples costs k · N^p · D."""

    k: float
    p: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.k) and self.k > 0):
            raise EqnasError(f"FLOP model k must be finite and > 0, got {self.k!r}")
        if not (np.isfinite(self.p) and self.p > 0):
            raise EqnasError(f"FLOP model exponent p must be finite and > 0, got {self.p!r}")

    def flops_per_sample(self, N: npt.ArrayLike) -> np.ndarray:
        """k · N^p."""
        return self.k * as_positive("N", N) ** self.p

    def train_flops(self, N: npt.ArrayLike, D: npt.ArrayLike) -> np.ndarray:
        """C(N, D) = k · N^p · D."""
        return self.flops_per_sample(N) * as_positive("D", D)

    def samples_for(self, N: npt.ArrayLike, C: npt.ArrayLike) -> np.ndarray:
        """D such that C(N, D) = C."""
        return as_positive("C", C) / self.flops_per_sample(N)

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return {"k": self.k, "p": self.p}


@dataclass(frozen=True)
class Optimum:
    """The compute-optimal point for one budget: size, samples, predicted loss, FLOPs used."""

    N: float
    D: float
    loss: float
    flops: float

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return {"N": self.N, "D": self.D, "loss": self.loss, "flops": self.flops}


@dataclass(frozen=True)
class IsoFlopCurve:
    """Predicted loss along N at a fixed budget: D[i] = C / (k N[i]^p)."""

    flops: float
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray


def fit_flops_per_sample(params: npt.ArrayLike, flops: npt.ArrayLike) -> FlopModel:
    """Least-squares fit of log flops = log k + p log params over a family's members."""
    n = as_positive("params", params)
    f = as_positive("flops", flops)
    if n.ndim != 1 or f.ndim != 1 or len(n) != len(f):
        raise EqnasError(
            f"params and flops must be 1-D of the same length, got shapes {n.shape} and {f.shape}"
        )
    distinct = len(np.unique(n))
    if distinct < 2:
        raise EqnasError(f"need at least 2 distinct parameter counts to fit p, got {distinct}")
    p, log_k = np.polyfit(np.log(n), np.log(f), 1)
    if p <= 0:
        raise EqnasError(
            f"FLOPs per sample do not grow with parameters in this family (fitted p = {p:.3g})"
        )
    return FlopModel(k=float(np.exp(log_k)), p=float(p))


def compute_optimal(fit: LawFit, flop_model: FlopModel, C: float) -> Optimum:
    """Minimise L(N, D) subject to k · N^p · D = C (closed form; see the module docstring)."""
    budget = float(as_positive("C", C))
    _check_decaying_terms(fit)
    k, p = flop_model.k, flop_model.p
    log_n = (
        np.log(fit.alpha * fit.A / (p * fit.beta * fit.B)) + fit.beta * np.log(budget / k)
    ) / (fit.alpha + p * fit.beta)
    N = float(np.exp(log_n))
    D = float(flop_model.samples_for(N, budget))
    return Optimum(N=N, D=D, loss=float(fit.predict(N, D)), flops=budget)


def frontier_exponents(fit: LawFit, flop_model: FlopModel) -> tuple[float, float]:
    """(a, b) with N_opt ∝ C^a and D_opt ∝ C^b: a = beta / (alpha + p beta), b = 1 - p a."""
    _check_decaying_terms(fit)
    a = fit.beta / (fit.alpha + flop_model.p * fit.beta)
    return a, 1.0 - flop_model.p * a


def chinchilla_a(alpha: float, beta: float) -> float:
    """Chinchilla's N_opt ∝ C^a exponent, a = beta / (alpha + beta) (compute ∝ N D)."""
    if not alpha + beta > 0:
        raise EqnasError(f"a = beta / (alpha + beta) needs alpha + beta > 0, got {alpha!r} + {beta!r}")
    return beta / (alpha + beta)


def samples_per_parameter(fit: LawFit, flop_model: FlopModel, C: float) -> float:
    """D_opt / N_opt at budget C: samples seen per trainable parameter at the optimum."""
    best = compute_optimal(fit, flop_model, C)
    return best.D / best.N


def frontier(fit: LawFit, flop_model: FlopModel, budgets: npt.ArrayLike) -> list[Optimum]:
    """compute_optimal at each budget, in the given order."""
    return [compute_optimal(fit, flop_model, float(c)) for c in np.atleast_1d(budgets)]


def iso_flop_curve(
    fit: LawFit, flop_model: FlopModel, C: float, n_grid: npt.ArrayLike
) -> IsoFlopCurve:
    """Predicted loss at each N of n_grid when the whole budget C is spent on that model."""
    N = as_positive("n_grid", n_grid)
    if N.ndim != 1 or len(N) == 0:
        raise EqnasError(f"n_grid must be a non-empty 1-D array of sizes, got shape {N.shape}")
    D = flop_model.samples_for(N, C)
    return IsoFlopCurve(flops=float(C), N=N, D=D, loss=fit.predict(N, D))


def _check_decaying_terms(fit: LawFit) -> None:
    """Unless both terms shrink with size, the optimum runs off to N → 0 or D → 0."""
    for name in ("alpha", "beta", "A", "B"):
        value = getattr(fit, name)
        if not value > 0:
            raise EqnasError(
                f"compute-optimal size needs {name} > 0, but the fit has {name} = {value!r}"
            )

