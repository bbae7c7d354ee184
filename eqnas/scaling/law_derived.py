"""What a fitted law implies for compute-optimal training, each with a bootstrap interval: the
quantity is evaluated on every bootstrap replicate of the law (the FLOP model, measured from the
networks, is held fixed) and the percentile interval is taken over the replicates where it exists.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eqnas.errors import EqnasError
from eqnas.scaling.compute_optimal import FlopModel, chinchilla_a, frontier_exponents, samples_per_parameter
from eqnas.scaling.intervals import Estimate, estimate
from eqnas.scaling.law_fit import LawFit


@dataclass(frozen=True)
class FrontierSummary:
    """a = beta/(alpha+beta) (Chinchilla's form, compute ∝ N D); under the FLOP model C = k N^p D,
    N_opt ∝ C^a_frontier and D_opt ∝ C^b_frontier, and D_opt/N_opt at each budget. A field is
    None where the law does not define it (an exponent at 0, or no FLOP model)."""

    a: Estimate | None
    a_frontier: Estimate | None
    b_frontier: Estimate | None
    samples_per_parameter: tuple[tuple[float, Estimate], ...]  # (budget C, D_opt / N_opt)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        def plain(e: Estimate | None) -> dict[str, Any] | None:
            return None if e is None else e.to_dict()

        return {"a": plain(self.a), "a_frontier": plain(self.a_frontier), "b_frontier": plain(self.b_frontier),
                "samples_per_parameter": [{"C": c, **e.to_dict()} for c, e in self.samples_per_parameter]}


def frontier_summary(law: LawFit, flop_model: FlopModel | None, budgets: Sequence[float]) -> FrontierSummary:
    """The FrontierSummary of law, with intervals from law.boot."""
    a = derive(law, lambda f: chinchilla_a(f.alpha, f.beta))
    if flop_model is None:
        return FrontierSummary(a, None, None, ())
    a_front = derive(law, lambda f: frontier_exponents(f, flop_model)[0])
    b_front = derive(law, lambda f: frontier_exponents(f, flop_model)[1])
    ratios = [(float(c), derive(law, lambda f, c=c: samples_per_parameter(f, flop_model, c))) for c in budgets]
    return FrontierSummary(a, a_front, b_front, tuple((c, e) for c, e in ratios if e is not None))


def derive(law: LawFit, quantity: Callable[[LawFit], float]) -> Estimate | None:
    """quantity(law) with the interval of quantity over the replicates; None if law lacks it."""
    value = _or_nan(quantity, law)
    if not np.isfinite(value):
        return None
    return estimate(value, [_or_nan(quantity, r) for r in law.replicates()], law.ci_level)


def _or_nan(quantity: Callable[[LawFit], float], law: LawFit) -> float:
    try:
        with np.errstate(over="ignore", divide="ignore"):
            return float(quantity(law))
    except EqnasError:  # not defined for this law (an exponent or coefficient at 0)
        return float("nan")
