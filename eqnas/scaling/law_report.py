"""`eqnas laws` output: per family (and per group when the points carry one) fit.json and plots,
report.md comparing them, and the exponents-against-|G| plot; the fitting itself is in
law_analysis.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from eqnas.errors import EqnasError
from eqnas.scaling.isoflop_fit import IsoFlopConfig
from eqnas.scaling.law_analysis import (FamilyFit, agreement, bound_notes, columns, fit_family, fit_groups,
                                        fit_problem)
from eqnas.scaling.law_fit import FitConfig
from eqnas.scaling.law_markdown import report_markdown
from eqnas.scaling.law_sweep import FLOP_CONVENTION, SweepConfig, TrainFn, run_sweeps, train_metrics
from eqnas.search.space import SearchSpace

__all__ = ["bound_notes", "fit_problem", "run_laws"]  # bound_notes and fit_problem: tests and callers
BUDGET_COUNT = 4  # default budgets: log-spaced from the sweep's smallest compute ...
BUDGET_REACH = 10.0  # ... to this many times its largest


def default_budgets(families: Sequence[FamilyFit], extra: Sequence[float] = ()) -> np.ndarray:
    """BUDGET_COUNT budgets log-spaced from the smallest to BUDGET_REACH x the largest training
    compute of any finished point (2 significant figures), plus `extra`; sorted."""
    compute = [r.train_flops for f in families for r in f.ok]
    budgets = set(float(b) for b in extra)
    if compute:
        grid = np.geomspace(min(compute), BUDGET_REACH * max(compute), BUDGET_COUNT)
        budgets |= {float(f"{c:.2g}") for c in grid}
    return np.array(sorted(budgets))


def family_dir(out_dir: Path, family: FamilyFit) -> Path:
    """out_dir/<family>, or out_dir/<family>/<group> when the points carry a group."""
    return out_dir / family.name if family.group is None else out_dir / family.name / family.group


def fit_record(family: FamilyFit, budgets: np.ndarray) -> dict:
    """What fit.json holds: the law, its derived quantities, approach 2, the hold-out check, the points."""
    best, why = family.optima(budgets)
    N, D, loss = family.columns()
    held = [{"N": r.params, "D": r.data_size, "train_flops": r.train_flops, "loss": r.loss,
             "predicted": float(family.law.predict(r.params, r.data_size))} for r in family.held_out]
    return {
        "family": family.name, "group": family.group, "law": family.law.to_dict(),
        "form": "L(N, D) = E + A / N^alpha + B / D^beta",
        "objective": f"summed Huber loss (delta {family.law.delta:g}) of log L, L-BFGS-B from a grid of starts",
        "N": "trainable parameters", "D": "training images (subset), each point trained to its lowest validation loss",
        "loss": "validation cross-entropy of the best epoch",
        "flop_model": None if family.flop_model is None else family.flop_model.to_dict(),
        "flop_convention": FLOP_CONVENTION, "optima": [o.to_dict() for o in best], "no_optima": why,
        "compute_optimal": family.summary(budgets).to_dict(),
        "approach2": None if family.isoflop is None else family.isoflop.to_dict(),
        "approach2_problem": family.isoflop_problem, "agreement": agreement(family, budgets),
        "holdout": {"rule": "the finished runs of largest training compute", "count": len(held),
                    "rmse_log_loss": family.holdout_rmse(), "points": held},
        "observations": [{"N": n, "D": d, "loss": l} for n, d, l in zip(N.tolist(), D.tolist(), loss.tolist())],
    }


def write_family(family: FamilyFit, budgets: np.ndarray, out_dir: Path) -> list[Path]:
    """fit.json, loss_vs_params.png and (with held-out points) holdout.png into out_dir, plus
    iso_flops.png and frontier.png when a frontier exists."""
    from eqnas.scaling.law_plots import plot_frontier, plot_holdout, plot_iso_flop, plot_loss_vs_params

    if family.law is None:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "fit.json").write_text(json.dumps(fit_record(family, budgets), indent=2) + "\n")
    held = columns(family.held_out) if family.held_out else None
    paths = [out_dir / "fit.json", plot_loss_vs_params(family.law, *family.columns(), out_dir / "loss_vs_params.png",
                                                       title=family.label, held_out=held)]
    if held is not None:
        paths.append(plot_holdout(family.law, family.columns(), held, out_dir / "holdout.png", title=family.label))
    if family.optima(budgets)[0]:
        paths.append(plot_iso_flop(family.law, family.flop_model, budgets, out_dir / "iso_flops.png"))
        paths.append(plot_frontier(family.law, family.flop_model, budgets, out_dir / "frontier.png",
                                   isoflop=family.isoflop))
    return paths


def write_report(families: Sequence[FamilyFit], budgets: np.ndarray, out_dir: Path) -> list[Path]:
    """report.md comparing the fits; families.png side by side when two or more fitted; and per
    family whose points carry groups, exponents_vs_group.png."""
    from eqnas.scaling.law_plots import FamilyLaw, GroupExponents, plot_exponents_vs_group, plot_families

    paths = []
    fitted = [f for f in families if f.law is not None]
    if len(fitted) >= 2:
        laws = [FamilyLaw(f.label, f.law, *f.columns(), flop_model=f.flop_model) for f in fitted]
        with_frontier = budgets.size and all(f.optima(budgets)[0] for f in fitted)
        paths.append(plot_families(laws, out_dir / "families.png", budgets if with_frontier else None))
    for name in dict.fromkeys(f.name for f in fitted if f.group is not None):
        rows = [GroupExponents(f.group, f.law.estimate("alpha"), f.law.estimate("beta"))
                for f in fitted if f.name == name and f.group is not None]
        paths.append(plot_exponents_vs_group(rows, out_dir / name / "exponents_vs_group.png", title=name))
    (out_dir / "report.md").write_text(report_markdown(families, budgets))
    return [out_dir / "report.md", *paths]


def summary_lines(family: FamilyFit, budgets: np.ndarray, out_dir: Path) -> list[str]:
    """What `eqnas laws` prints for one fit: the law, the hold-out error, warnings, both a's, the optima."""
    law = family.law
    if law is None:
        return [f"{family.label}: no fit, {family.problem}"]
    lines = [f"{family.label}: E={law.E:.4g} A={law.A:.4g} B={law.B:.4g} alpha={law.alpha:.3f} beta={law.beta:.3f} "
             f"from {law.n_points} points -> {family_dir(out_dir, family) / 'fit.json'}"]
    rmse = family.holdout_rmse()
    if rmse is not None:
        lines.append(f"  {len(family.held_out)} held-out run(s) of largest compute: RMSE of log loss {rmse:.4f}")
    lines += [f"  warning: {note}" for note in bound_notes(law)]
    summary = family.summary(budgets)
    if summary is not None and summary.a_frontier is not None:
        second = (f"approach 2 {family.isoflop.a.text()}" if family.isoflop else
                  f"no approach 2: {family.isoflop_problem}")
        lines.append(f"  N_opt ∝ C^a: approach 3 (FLOP model) a={summary.a_frontier.text()}, {second}")
    best, why = family.optima(budgets)
    lines += [f"  C={o.flops:.3g} FLOPs: N_opt={o.N:.3g} D_opt={o.D:.3g} loss {o.loss:.4f}" for o in best]
    return lines + ([f"  {why}"] if why else [])


def run_laws(spaces: Sequence[SearchSpace], config: SweepConfig, out_dir: Path, budgets: Sequence[float] = (),
             fit_config: FitConfig = FitConfig(), echo: Callable[[str], None] = print,
             train_fn: TrainFn = train_metrics, holdout_largest: int = 0,
             isoflop_config: IsoFlopConfig = IsoFlopConfig()) -> list[FamilyFit]:
    """`eqnas laws`: sweep each space (each group of it, with `config.groups`) into
    out_dir/<family name>, fit each space's points per group on all but its holdout_largest runs
    of largest compute, and write the report."""
    records = run_sweeps(spaces, config, out_dir, echo, train_fn)

    def swept(space: SearchSpace) -> list:  # the folders run_sweeps made for this space
        names = [f"{space.name}-{group}" for group in config.groups] if config.groups else [space.name]
        return [record for name in names for record in records[name]]

    if config.groups:  # one law per group, their exponents compared in one plot per space
        families = [fit for space in spaces
                    for fit in fit_groups(space.name, swept(space), fit_config, holdout_largest, isoflop_config)]
    else:
        families = [fit_family(space.name, swept(space), fit_config, holdout_largest, None, isoflop_config)
                    for space in spaces]
    write_fits(families, out_dir, budgets, echo)
    return families


def write_fits(families: Sequence[FamilyFit], out_dir: Path, budgets: Sequence[float] = (),
               echo: Callable[[str], None] = print) -> None:
    """Every family's fit.json and plots, the summary lines, and report.md."""
    chosen = default_budgets(families, budgets)
    for family in families:
        write_family(family, chosen, family_dir(out_dir, family))
        for line in summary_lines(family, chosen, out_dir):
            echo(line)
    write_report(families, chosen, out_dir)
    echo(f"report: {out_dir / 'report.md'}")
