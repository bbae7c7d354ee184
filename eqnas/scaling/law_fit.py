"""Fit the Chinchilla parametric law L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022,
approach 3).

N is the parameter count and D the number of training samples seen. As Besiroglu et al. (2024)
do in their replication, the fit minimises the SUMMED (not mean) Huber loss, delta 1e-3, between
log L_hat and log L, with log L_hat written as a log-sum-exp of (a - alpha log N, b - beta log D,
e), where a = log A, b = log B, e = log E, so every term stays positive without constraints; no
parameter is rounded. The objective is non-convex, so L-BFGS-B is started from each point of a
grid and the best end point is kept. Intervals come from a seeded bootstrap over observations
(resampled with replacement), each refit started from the full fit's optimum; the replicates are
kept so that derived quantities (frontier exponents, samples per parameter) get intervals too.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from eqnas.errors import EqnasError
from eqnas.scaling.intervals import Estimate, estimate

PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
N_PARAMS = len(PARAM_NAMES)

# Exponents are kept in [0, 10] (the paper leaves them free): a negative exponent means loss
# grows with size, a failed fit, and the compute-optimal solution needs alpha, beta > 0.
EXPONENT_BOUNDS = (0.0, 10.0)  # where the fit stops alpha and beta
_BOUNDS = [(None, None), (None, None), (None, None), EXPONENT_BOUNDS, EXPONENT_BOUNDS]
AT_BOUND = 1e-3  # an exponent this close to a bound moves a loss by < 1% over 4 decades of N or D
FLAT = 0.01  # a term that moves the fitted loss by less than this fraction over the data leaves its exponent free


@dataclass(frozen=True)
class FitConfig:
    """How a law is fitted.

    The init_* axes are a coarse version of the paper's grid (which has 4500 starts): 108 starts
    by default, about a second for a 6×6 grid of observations. a and b up to 10 cover
    A/N^alpha = O(1) for N up to ~1e9 at alpha ~ 0.5.
    """

    delta: float = 1e-3
    n_boot: int = 200
    ci_level: float = 0.95
    seed: int = 0
    init_a: tuple[float, ...] = (0.0, 5.0, 10.0)
    init_b: tuple[float, ...] = (0.0, 5.0, 10.0)
    init_e: tuple[float, ...] = (-1.0, 0.0, 1.0)
    init_alpha: tuple[float, ...] = (0.3, 1.0)
    init_beta: tuple[float, ...] = (0.3, 1.0)
    maxiter: int = 500

    def __post_init__(self) -> None:
        if not self.delta > 0:
            raise EqnasError(f"Huber delta must be > 0, got {self.delta!r}")
        if self.n_boot < 0:
            raise EqnasError(f"n_boot must be >= 0, got {self.n_boot!r}")
        if not 0 < self.ci_level < 1:
            raise EqnasError(f"ci_level must be in (0, 1), got {self.ci_level!r}")
        if self.maxiter < 1:
            raise EqnasError(f"maxiter must be >= 1, got {self.maxiter!r}")
        for name in ("init_a", "init_b", "init_e", "init_alpha", "init_beta"):
            if len(getattr(self, name)) == 0:
                raise EqnasError(f"{name} must list at least one starting value, got ()")

    def init_grid(self) -> list[np.ndarray]:
        """Starting points in optimiser order (a, b, e, alpha, beta)."""
        axes = (self.init_a, self.init_b, self.init_e, self.init_alpha, self.init_beta)
        return [np.array(p, dtype=float) for p in itertools.product(*axes)]


@dataclass(frozen=True)
class LawFit:
    """A fitted law L(N, D) = E + A/N^alpha + B/D^beta with its bootstrap replicates.

    huber_loss is the summed Huber loss (on log loss, with this delta) at the optimum, the fit's
    objective; boot holds one (E, A, B, alpha, beta) per bootstrap refit, empty when none was run.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    huber_loss: float
    n_points: int
    ci_level: float = 0.95
    delta: float = 1e-3
    boot: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    flat: tuple[str, ...] = ()  # exponents whose term moved the loss by < FLAT over the fitted N or D

    def predict(self, N: npt.ArrayLike, D: npt.ArrayLike) -> np.ndarray:
        """Predicted loss, broadcast over N and D (a 0-d value for scalar inputs)."""
        n = as_positive("N", N)
        d = as_positive("D", D)
        return self.E + self.A / n**self.alpha + self.B / d**self.beta

    @property
    def at_bound(self) -> tuple[str, ...]:
        """The exponents the points do not determine: stopped at a bound of EXPONENT_BOUNDS, or
        `flat` (a term too small to see anywhere in the data, such as A = 0.016 with alpha = 8
        over N >= 10^4, fits as well as alpha = 0 does, and which one an optimiser ends at is
        chance)."""
        return tuple(name for name in ("alpha", "beta") if self.stopped_at_bound(name) or name in self.flat)

    def stopped_at_bound(self, name: str) -> bool:
        return min(abs(getattr(self, name) - b) for b in EXPONENT_BOUNDS) < AT_BOUND

    @property
    def ci(self) -> dict[str, tuple[float, float]]:
        """Each parameter's (low, high) percentile interval at ci_level; empty without a bootstrap."""
        found = {name: self.estimate(name) for name in PARAM_NAMES}
        return {name: (e.low, e.high) for name, e in found.items() if e.low is not None and e.high is not None}

    def estimate(self, name: str) -> Estimate:
        """One parameter with its bootstrap interval."""
        column = PARAM_NAMES.index(name)
        return estimate(getattr(self, name), [row[column] for row in self.boot], self.ci_level)

    def replicates(self) -> list[LawFit]:
        """One law per bootstrap refit (for intervals of quantities derived from the law)."""
        return [LawFit(*row, huber_loss=float("nan"), n_points=self.n_points) for row in self.boot]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the parameters, intervals, bound flags and bootstrap replicates."""
        out = asdict(self)
        out["boot"] = [list(row) for row in self.boot]
        out["ci"] = {k: [lo, hi] for k, (lo, hi) in self.ci.items()}
        out["at_bound"] = list(self.at_bound)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LawFit:
        """Inverse of to_dict, for fits read back from JSON."""
        missing = [k for k in (*PARAM_NAMES, "huber_loss", "n_points") if k not in data]
        if missing:
            raise EqnasError(f"law fit record lacks {missing}; has {sorted(data)}")
        return cls(
            **{k: float(data[k]) for k in (*PARAM_NAMES, "huber_loss")},
            n_points=int(data["n_points"]),
            ci_level=float(data.get("ci_level", 0.95)),
            delta=float(data.get("delta", 1e-3)),
            boot=tuple(tuple(float(v) for v in row) for row in data.get("boot", ())),
            flat=tuple(data.get("flat", ())),
        )


def fit_law(
    N: npt.ArrayLike,
    D: npt.ArrayLike,
    loss: npt.ArrayLike,
    config: FitConfig = FitConfig(),
) -> LawFit:
    """Fit the law to observations (N[i], D[i], loss[i]) and bootstrap its parameters."""
    log_n, log_d, log_l = _validate(N, D, loss)
    # L-BFGS-B calls BLAS on 5-vectors ~10^5 times; multithreaded BLAS only adds thread
    # hand-offs, and on a busy machine each one can wait for a core (a 1 s fit became 25 s).
    with threadpool_limits(limits=1, user_api="blas"):
        best = _fit_multistart(log_n, log_d, log_l, config)
        boot = _bootstrap(log_n, log_d, log_l, best, config)
        huber, _ = huber_objective(best, log_n, log_d, log_l, config.delta)
    natural = _natural(best)
    return LawFit(*natural, huber_loss=huber, n_points=len(log_l), ci_level=config.ci_level,
                  delta=config.delta, boot=boot, flat=_flat_terms(natural, log_n, log_d))


def _flat_terms(natural: tuple[float, ...], log_n: np.ndarray, log_d: np.ndarray) -> tuple[str, ...]:
    """The exponents whose term A/N^alpha (or B/D^beta) changes by less than FLAT of the lowest
    fitted loss between the smallest and the largest N (or D) of the data."""
    E, A, B, alpha, beta = natural
    lowest = E + A * np.exp(-alpha * log_n.max()) + B * np.exp(-beta * log_d.max())
    spans = {"alpha": A * (np.exp(-alpha * log_n.min()) - np.exp(-alpha * log_n.max())),
             "beta": B * (np.exp(-beta * log_d.min()) - np.exp(-beta * log_d.max()))}
    return tuple(name for name, span in spans.items() if span < FLAT * lowest)


def huber_objective(
    theta: np.ndarray,
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_l: np.ndarray,
    delta: float,
) -> tuple[float, np.ndarray]:
    """Summed Huber loss and its gradient in theta = (a, b, e, alpha, beta)."""
    r, w = _residuals_and_weights(theta, log_n, log_d, log_l)
    psi = np.clip(r, -delta, delta)  # Huber derivative
    grad = np.array([
        psi @ w[0],
        psi @ w[1],
        psi @ w[2],
        -(psi * w[0]) @ log_n,
        -(psi * w[1]) @ log_d,
    ])
    return float(_huber(r, delta).sum()), grad


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r**2, delta * (ar - 0.5 * delta))


def _residuals_and_weights(
    theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log L_hat - log L, and the softmax weights d(log L_hat)/d(term), shape [3, n].

    Written out by hand rather than with scipy.special.logsumexp: this runs ~10^5 times per
    fit and the generic version costs several times more per call.
    """
    a, b, e, alpha, beta = theta
    terms = np.empty((3, len(log_n)))
    terms[0] = a - alpha * log_n
    terms[1] = b - beta * log_d
    terms[2] = e
    m = terms.max(axis=0)
    ex = np.exp(terms - m)
    total = ex.sum(axis=0)
    return m + np.log(total) - log_l, ex / total


def _minimise(
    theta0: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, config: FitConfig
) -> tuple[float, np.ndarray]:
    res = minimize(
        huber_objective,
        theta0,
        args=(log_n, log_d, log_l, config.delta),
        jac=True,
        method="L-BFGS-B",
        bounds=_BOUNDS,
        # ftol is relative to max(|f|, 1); a summed Huber loss is far below 1, so 1e-12 acts as an
        # absolute tolerance tight enough not to stop early (what a mean objective did to Chinchilla's fit)
        options={"maxiter": config.maxiter, "ftol": 1e-12, "gtol": 1e-9},
    )
    return float(res.fun), np.asarray(res.x, dtype=float)


def _fit_multistart(
    log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, config: FitConfig
) -> np.ndarray:
    """Best end point over the initial grid (ties go to the earliest start, so runs repeat)."""
    ends = [_minimise(theta0, log_n, log_d, log_l, config) for theta0 in config.init_grid()]
    return min(ends, key=lambda end: end[0])[1]


def _bootstrap(
    log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, best: np.ndarray, config: FitConfig
) -> tuple[tuple[float, ...], ...]:
    """(E, A, B, alpha, beta) refitted on observations resampled with replacement, n_boot times."""
    rng = np.random.default_rng(config.seed)
    n = len(log_l)
    rows = []
    for _ in range(config.n_boot):
        idx = rng.integers(0, n, size=n)
        _, theta = _minimise(best, log_n[idx], log_d[idx], log_l[idx], config)
        rows.append(_natural(theta))
    return tuple(rows)


def _natural(theta: np.ndarray) -> tuple[float, float, float, float, float]:
    """(a, b, e, alpha, beta) -> (E, A, B, alpha, beta)."""
    a, b, e, alpha, beta = (float(t) for t in theta)
    return float(np.exp(e)), float(np.exp(a)), float(np.exp(b)), alpha, beta


def as_positive(name: str, values: npt.ArrayLike) -> np.ndarray:
    """values as a float array; an EqnasError names the first non-positive or non-finite one."""
    arr = np.asarray(values, dtype=float)
    bad = arr[~(np.isfinite(arr) & (arr > 0))]
    if bad.size:
        raise EqnasError(f"{name} must be finite and > 0, got {bad.ravel()[0]!r}")
    return arr


def _validate(
    N: npt.ArrayLike, D: npt.ArrayLike, loss: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log of each column, after checking shapes, signs and that the law is identifiable."""
    arrays = {"N": N, "D": D, "loss": loss}
    cols = {}
    for name, values in arrays.items():
        arr = as_positive(name, values)
        if arr.ndim != 1:
            raise EqnasError(f"{name} must be one-dimensional, got shape {arr.shape}")
        cols[name] = arr
    lengths = {name: len(arr) for name, arr in cols.items()}
    if len(set(lengths.values())) != 1:
        raise EqnasError(f"N, D and loss must have the same length, got {lengths}")
    n = lengths["N"]
    if n < N_PARAMS:
        raise EqnasError(
            f"need at least {N_PARAMS} observations to fit {N_PARAMS} parameters, got {n}"
        )
    for name in ("N", "D"):
        distinct = len(np.unique(cols[name]))
        if distinct < 2:
            raise EqnasError(
                f"need at least 2 distinct values of {name} to fit its exponent, got {distinct}"
            )
    return np.log(cols["N"]), np.log(cols["D"]), np.log(cols["loss"])
