"""From sweep records to one analysis per family and group: the law (approach 3) fitted on the
finished points less any held out, the FLOP model, approach 2 on the same points, and the
held-out runs' prediction error.

The law needs at least 5 finished points with 3 distinct N and 3 distinct D (fit_law itself
accepts 2 of each): E + A/N^alpha has three unknowns along N, and E + B/D^beta three along D, so
with only two sizes (or two data sizes) a whole family of laws fits equally well.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eqnas.errors import EqnasError
from eqnas.groups import parse_group
from eqnas.scaling.compute_optimal import FlopModel, Optimum, fit_flops_per_sample, frontier
from eqnas.scaling.holdout import largest_compute, log_rmse
from eqnas.scaling.isoflop_fit import IsoFlopConfig, IsoFlopFit, fit_isoflop
from eqnas.scaling.law_derived import FrontierSummary, frontier_summary
from eqnas.scaling.law_fit import FitConfig, LawFit, fit_law
from eqnas.scaling.law_sweep import TRAIN_FLOPS_PER_FORWARD, PointRecord

MIN_POINTS = 5
MIN_DISTINCT = 3  # sizes and data sizes each


@dataclass(frozen=True)
class FamilyFit:
    """One family's (or one group's) records and what was fitted from them."""

    name: str
    records: tuple[PointRecord, ...]
    law: LawFit | None
    flop_model: FlopModel | None
    problem: str = ""  # why law or flop_model is missing
    group: str | None = None  # None: the points carry no group
    held_out: tuple[PointRecord, ...] = ()  # finished points of largest compute, left out of every fit
    isoflop: IsoFlopFit | None = None  # approach 2 on the fitted points
    isoflop_problem: str = ""

    @property
    def label(self) -> str:
        return self.name if self.group is None else f"{self.name} [{self.group}]"

    @property
    def ok(self) -> list[PointRecord]:
        """Finished points, by (N, D)."""
        return sorted((r for r in self.records if r.status == "ok"), key=lambda r: (r.params, r.data_size))

    @property
    def fitted(self) -> list[PointRecord]:
        """Finished points that are not held out."""
        return [r for r in self.ok if r not in self.held_out]

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, D, loss) of the fitted points."""
        return columns(self.fitted)

    def holdout_rmse(self) -> float | None:
        """RMSE of log loss of the law's predictions for the held-out points."""
        if self.law is None or not self.held_out:
            return None
        N, D, loss = columns(self.held_out)
        return log_rmse(self.law.predict(N, D), loss)

    def optima(self, budgets: np.ndarray) -> tuple[list[Optimum], str]:
        """Compute-optimal points at each budget, or ([], why not)."""
        if self.law is None or self.flop_model is None or budgets.size == 0:
            return [], self.problem or "no budgets"
        try:
            with np.errstate(over="ignore"):  # an overflowing N_opt is refused below as not finite
                return frontier(self.law, self.flop_model, budgets), ""
        except EqnasError as error:
            return [], f"no compute-optimal frontier: {error}"

    def summary(self, budgets: Sequence[float]) -> FrontierSummary | None:
        """a, the frontier exponents and samples per parameter, with intervals."""
        return None if self.law is None else frontier_summary(self.law, self.flop_model, budgets)


def law_compute(record: PointRecord) -> float:
    """The training compute the laws' compute model counts: one pass over the D training images,
    3 x forward FLOPs x D, as C = k N^p D (compute_optimal) does, so approach 2 and approach 3 are
    compared on the same axis. The epochs a point actually trained are in its train_flops."""
    return TRAIN_FLOPS_PER_FORWARD * record.flops_per_sample * record.data_size


def columns(records: Sequence[PointRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, loss) arrays of records."""
    return (np.array([r.params for r in records], float), np.array([r.data_size for r in records], float),
            np.array([r.loss for r in records], float))


def record_group(record: PointRecord) -> str | None:
    """The group the record's network was built for; None for records written before points
    carried one."""
    return record.group or None


def fit_groups(name: str, records: Sequence[PointRecord], config: FitConfig = FitConfig(), holdout_largest: int = 0,
               isoflop_config: IsoFlopConfig = IsoFlopConfig()) -> list[FamilyFit]:
    """fit_family per group, in order of |G| (one FamilyFit when the points carry no group)."""
    groups = sorted({record_group(r) for r in records}, key=lambda g: (0, 0, "") if g is None else
                    (1, parse_group(g).order, g))  # by |G|
    return [fit_family(name, [r for r in records if record_group(r) == g], config, holdout_largest, g,
                       isoflop_config) for g in groups]


def fit_problem(N: Sequence[float], D: Sequence[float]) -> str:
    """'' when (N, D) can identify the law's five parameters, else what is missing."""
    missing = []
    if len(N) < MIN_POINTS:
        missing.append(f"{len(N)} point(s) succeeded, need {MIN_POINTS}")
    for name, values, flag in (("N", N, "--sizes"), ("D", D, "--data-fractions")):
        if len(set(values)) < MIN_DISTINCT:
            missing.append(f"{len(set(values))} distinct {name}, need {MIN_DISTINCT} ({flag})")
    if not missing:
        return ""
    return ("the fit needs more points: " + "; ".join(missing)
            + ". Rerun with the same --out and more sizes or fractions; finished points are kept")


def fit_family(name: str, records: Sequence[PointRecord], config: FitConfig = FitConfig(), holdout_largest: int = 0,
               group: str | None = None, isoflop_config: IsoFlopConfig = IsoFlopConfig()) -> FamilyFit:
    """The law from the finished points less the holdout_largest of largest training compute,
    approach 2 on the same points, and the FLOP model from every point's network."""
    base = FamilyFit(name, tuple(records), None, None, group=group)
    ok = base.ok
    try:
        held = largest_compute([r.train_flops for r in ok], holdout_largest) if ok else np.zeros(0, bool)
    except EqnasError as error:
        return FamilyFit(name, tuple(records), None, None, f"no fit: {error}", group)
    fitted = [r for r, h in zip(ok, held) if not h]
    held_out = tuple(r for r, h in zip(ok, held) if h)
    N, D, loss = columns(fitted)
    problem = fit_problem(N, D)
    if problem:
        held_note = f" ({len(held_out)} more held out by --holdout-largest)" if held_out else ""
        return FamilyFit(name, tuple(records), None, None, problem + held_note, group, held_out)
    law = fit_law(N, D, loss, config)
    isoflop, isoflop_problem = None, ""
    try:
        isoflop = fit_isoflop(N, D, loss, [law_compute(r) for r in fitted], isoflop_config)
    except EqnasError as error:
        isoflop_problem = str(error)
    sizes = {r.params: TRAIN_FLOPS_PER_FORWARD * r.flops_per_sample for r in records}
    try:
        flop_model, flop_problem = fit_flops_per_sample(list(sizes), list(sizes.values())), ""
    except EqnasError as error:
        flop_model, flop_problem = None, f"no FLOP model: {error}"
    return FamilyFit(name, tuple(records), law, flop_model, flop_problem, group, held_out, isoflop, isoflop_problem)


def bound_notes(law: LawFit) -> list[str]:
    """A warning for each exponent the data did not pin down (`LawFit.at_bound`)."""
    return [f"{name} = {getattr(law, name):g} is "
            f"{'at its bound' if law.stopped_at_bound(name) else 'on a term that moves the loss by under 1% over the data'}"
            ", so the points do not determine it (losses near chance, or too narrow a range of N or D)"
            for name in law.at_bound]


def agreement(family: FamilyFit, budgets: Sequence[float]) -> dict[str, Any] | None:
    """Approach 2's a against approach 3's a under the FLOP model (beta / (alpha + p beta), which
    is what an IsoFLOP slope measures on runs costing k N^p D); None unless both exist."""
    summary = family.summary(budgets)
    a3 = None if summary is None else summary.a_frontier
    if a3 is None or family.isoflop is None:
        return None
    a2 = family.isoflop.a
    both = None not in (a2.low, a2.high, a3.low, a3.high)
    overlap = bool(a2.low <= a3.high and a3.low <= a2.high) if both else None  # type: ignore[operator]
    return {"approach2_a": a2.to_dict(), "approach3_a_frontier": a3.to_dict(),
            "difference": a2.value - a3.value, "intervals_overlap": overlap}
