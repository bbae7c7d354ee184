"""From sweep records to laws: fit L(N, D) per family, the FLOP model, compute-optimal sizes at a
few budgets, and fit.json, plots and report.md.

The fit needs at least 5 finished points with 3 distinct N and 3 distinct D (fit_law itself
accepts 2 of each): E + A/N^alpha has three unknowns along N, and E + B/D^beta three along D, so
with only two sizes (or two data sizes) a whole family of laws fits equally well.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eqnas.errors import EqnasError
from eqnas.scaling.compute_optimal import FlopModel, Optimum, fit_flops_per_sample, frontier, frontier_exponents
from eqnas.scaling.law_fit import EXPONENT_BOUNDS, FitConfig, LawFit, fit_law
from eqnas.scaling.law_sweep import (
    FLOP_CONVENTION,
    TRAIN_FLOPS_PER_FORWARD,
    PointRecord,
    SweepConfig,
    TrainFn,
    run_sweeps,
    train_metrics,
)
from eqnas.search.space import SearchSpace

MIN_POINTS = 5
MIN_DISTINCT = 3  # sizes and data sizes each
BUDGET_COUNT = 4  # default budgets: log-spaced from the sweep's smallest compute ...
BUDGET_REACH = 10.0  # ... to this many times its largest
AT_BOUND = 1e-3  # an exponent this close to a bound moves a loss by < 1% over 4 decades of N or D


@dataclass(frozen=True)
class FamilyFit:
    """One family's records and, when they suffice, its law and FLOP model."""

    name: str
    records: tuple[PointRecord, ...]
    law: LawFit | None
    flop_model: FlopModel | None
    problem: str = ""  # why law or flop_model is missing

    @property
    def ok(self) -> list[PointRecord]:
        return sorted((r for r in self.records if r.status == "ok"), key=lambda r: (r.params, r.data_size))

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, D, loss) of the finished points."""
        ok = self.ok
        return (np.array([r.params for r in ok], float), np.array([r.data_size for r in ok], float),
                np.array([r.loss for r in ok], float))


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


def fit_family(name: str, records: Sequence[PointRecord], config: FitConfig = FitConfig()) -> FamilyFit:
    """The law from the finished points and the FLOP model from every point's network."""
    family = FamilyFit(name, tuple(records), None, None)
    N, D, loss = family.columns()
    problem = fit_problem(N, D)
    if problem:
        return FamilyFit(name, tuple(records), None, None, problem)
    law = fit_law(N, D, loss, config)
    sizes = {r.params: TRAIN_FLOPS_PER_FORWARD * r.flops_per_sample for r in records}
    try:
        flop_model = fit_flops_per_sample(list(sizes), list(sizes.values()))
    except EqnasError as error:
        return FamilyFit(name, tuple(records), law, None, f"no FLOP model: {error}")
    return FamilyFit(name, tuple(records), law, flop_model)


def bound_notes(law: LawFit) -> list[str]:
    """A warning for each exponent stopped at its bound: the data did not pin it down."""
    return [f"{name} = {getattr(law, name):g} is at its bound, so the points do not determine it "
            "(losses near chance, or too narrow a range of N or D)"
            for name in ("alpha", "beta") if min(abs(getattr(law, name) - b) for b in EXPONENT_BOUNDS) < AT_BOUND]


def default_budgets(families: Sequence[FamilyFit], extra: Sequence[float] = ()) -> np.ndarray:
    """BUDGET_COUNT budgets log-spaced from the smallest to BUDGET_REACH x the largest training
    compute of any finished point (2 significant figures), plus `extra`; sorted."""
    compute = [r.train_flops for f in families for r in f.ok]
    budgets = set(float(b) for b in extra)
    if compute:
        grid = np.geomspace(min(compute), BUDGET_REACH * max(compute), BUDGET_COUNT)
        budgets |= {float(f"{c:.2g}") for c in grid}
    return np.array(sorted(budgets))


def optima(family: FamilyFit, budgets: np.ndarray) -> tuple[list[Optimum], str]:
    """Compute-optimal points at each budget, or ([], why not)."""
    if family.law is None or family.flop_model is None or budgets.size == 0:
        return [], family.problem or "no budgets"
    try:
        with np.errstate(over="ignore"):  # an overflowing N_opt is refused below as not finite
            return frontier(family.law, family.flop_model, budgets), ""
    except EqnasError as error:
        return [], f"no compute-optimal frontier: {error}"


def write_family(family: FamilyFit, budgets: np.ndarray, out_dir: Path) -> list[Path]:
    """fit.json and loss_vs_params.png, plus iso_flops.png and frontier.png when a frontier exists."""
    from eqnas.scaling.law_plots import plot_frontier, plot_iso_flop, plot_loss_vs_params

    if family.law is None:
        return []
    N, D, loss = family.columns()
    best, why = optima(family, budgets)
    data = {
        "family": family.name, "law": family.law.to_dict(), "form": "L(N, D) = E + A / N^alpha + B / D^beta",
        "N": "trainable parameters", "D": "training images (subset), each point trained to its lowest validation loss",
        "loss": "validation cross-entropy of the best epoch",
        "flop_model": None if family.flop_model is None else family.flop_model.to_dict(),
        "flop_convention": FLOP_CONVENTION, "optima": [o.to_dict() for o in best], "no_optima": why,
        "frontier_exponents": (dict(zip(("N", "D"), frontier_exponents(family.law, family.flop_model)))
                               if best else None),
        "observations": [{"N": n, "D": d, "loss": l} for n, d, l in zip(N.tolist(), D.tolist(), loss.tolist())],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "fit.json").write_text(json.dumps(data, indent=2) + "\n")
    paths = [out_dir / "fit.json", plot_loss_vs_params(family.law, N, D, loss, out_dir / "loss_vs_params.png",
                                                       title=family.name)]
    if best:
        paths.append(plot_iso_flop(family.law, family.flop_model, budgets, out_dir / "iso_flops.png"))
        paths.append(plot_frontier(family.law, family.flop_model, budgets, out_dir / "frontier.png"))
    return paths


def write_report(families: Sequence[FamilyFit], budgets: np.ndarray, out_dir: Path) -> list[Path]:
    """report.md comparing the families, and families.png side by side when two or more fitted."""
    from eqnas.scaling.law_plots import FamilyLaw, plot_families

    paths = []
    fitted = [f for f in families if f.law is not None]
    if len(fitted) >= 2:
        laws = [FamilyLaw(f.name, f.law, *f.columns(), flop_model=f.flop_model) for f in fitted]
        with_frontier = budgets.size and all(optima(f, budgets)[0] for f in fitted)
        paths.append(plot_families(laws, out_dir / "families.png", budgets if with_frontier else None))
    (out_dir / "report.md").write_text(report_markdown(families, budgets))
    return [out_dir / "report.md", *paths]


def report_markdown(families: Sequence[FamilyFit], budgets: np.ndarray) -> str:
    """The fits with their intervals, the optima at each budget, and every observation."""
    lines = ["# Scaling laws", "", "L(N, D) = E + A / N^alpha + B / D^beta; N = trainable parameters, "
             "D = training images (subset), L = lowest validation cross-entropy.",
             f"Compute: {FLOP_CONVENTION}.", "", "## Fits", "",
             "| family | points (ok / failed) | E | A | B | alpha | beta | Huber |", "|---" * 8 + "|"]
    for f in families:
        counts = f"{len(f.ok)} / {len(f.records) - len(f.ok)}"
        if f.law is None:
            lines.append(f"| {f.name} | {counts} | {f.problem} | | | | | |")
            continue
        cells = [_with_ci(f.law, name) for name in ("E", "A", "B", "alpha", "beta")]
        lines.append(f"| {f.name} | {counts} | {' | '.join(cells)} | {f.law.huber_loss:.2g} |")
    level = next((f.law.ci_level for f in families if f.law is not None), 0.95)
    lines += ["", f"Brackets: {100 * level:.0f}% bootstrap intervals."]
    lines += [f"- {f.name}: {note}" for f in families if f.law is not None for note in bound_notes(f.law)]
    lines += ["", "## Compute-optimal N and D", ""]
    lines += _optima_table(families, budgets)
    for f in families:
        lines += ["", f"## Observations: {f.name}", "",
                  "| N | D | samples seen | train FLOPs | loss | predicted | acc | epsilon | seconds | status |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(f.records, key=lambda r: (r.params, r.data_size)):
            predicted = None if f.law is None or r.loss is None else float(f.law.predict(r.params, r.data_size))
            cells = [r.params, r.data_size, r.samples_seen, f"{r.train_flops:.3g}", _num(r.loss, ".4f"),
                     _num(predicted, ".4f"), _num(r.acc, ".3f"), _num(r.epsilon, ".2f"), f"{r.seconds:.1f}",
                     r.status + (f": {r.error[:80]}" if r.error else "")]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def _optima_table(families: Sequence[FamilyFit], budgets: np.ndarray) -> list[str]:
    found = {f.name: optima(f, budgets) for f in families}
    lines = ["| budget C (FLOPs) | " + " | ".join(f"{f.name} N_opt | D_opt | loss" for f in families) + " |",
             "|---|" + "---|---|---|" * len(families)]
    for i, budget in enumerate(budgets):
        cells = []
        for f in families:
            best = found[f.name][0]
            cells += [f"{best[i].N:.3g}", f"{best[i].D:.3g}", f"{best[i].loss:.4f}"] if best else ["-", "-", "-"]
        lines.append(f"| {budget:.3g} | " + " | ".join(cells) + " |")
    lines += [f"- {name}: {why}" for name, (best, why) in found.items() if not best]
    return lines


def _with_ci(law: LawFit, name: str) -> str:
    value = getattr(law, name)
    if name not in law.ci:
        return f"{value:.4g}"
    low, high = law.ci[name]
    return f"{value:.4g} [{low:.3g}, {high:.3g}]"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def run_laws(spaces: Sequence[SearchSpace], config: SweepConfig, out_dir: Path, budgets: Sequence[float] = (),
             fit_config: FitConfig = FitConfig(), echo: Callable[[str], None] = print,
             train_fn: TrainFn = train_metrics) -> list[FamilyFit]:
    """`eqnas laws`: sweep each family (a space, or a space per group) into out_dir/<family name>,
    fit, and write the report."""
    records = run_sweeps(spaces, config, out_dir, echo, train_fn)
    families = [fit_family(name, recs, fit_config) for name, recs in records.items()]
    chosen = default_budgets(families, budgets)
    for family in families:
        if family.law is None:
            echo(f"{family.name}: no fit, {family.problem}")
            continue
        write_family(family, chosen, out_dir / family.name)
        law = family.law
        echo(f"{family.name}: E={law.E:.4g} A={law.A:.4g} B={law.B:.4g} alpha={law.alpha:.3f} beta={law.beta:.3f} "
             f"from {law.n_points} points -> {out_dir / family.name / 'fit.json'}")
        for note in bound_notes(law):
            echo(f"  warning: {note}")
        best, why = optima(family, chosen)
        for o in best:
            echo(f"  C={o.flops:.3g} FLOPs: N_opt={o.N:.3g} D_opt={o.D:.3g} loss {o.loss:.4f}")
        if why:
            echo(f"  {why}")
    write_report(families, chosen, out_dir)
    echo(f"report: {out_dir / 'report.md'}")
    return families
