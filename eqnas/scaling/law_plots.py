"""PNG figures of fitted scaling laws: loss against size, held-out runs predicted against observed,
iso-FLOP curves, the compute-optimal frontier, several families side by side, and the exponents
against the group order.

Figures are built on matplotlib.figure.Figure directly (Agg canvas on save), not pyplot, so no
global figure state is touched and the functions are safe to call from any thread or test.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eqnas.errors import EqnasError
from eqnas.groups import parse_group
from eqnas.scaling.compute_optimal import FlopModel, frontier, frontier_exponents, iso_flop_curve
from eqnas.scaling.holdout import log_rmse
from eqnas.scaling.intervals import Estimate
from eqnas.scaling.isoflop_fit import IsoFlopFit
from eqnas.scaling.law_fit import LawFit, as_positive

Columns = tuple[np.ndarray, np.ndarray, np.ndarray]  # (N, D, loss)

PANEL_SIZE = (4.5, 3.6)  # inches per panel
DPI = 120


@dataclass(frozen=True)
class FamilyLaw:
    """One family's observations and fit, as drawn in a side-by-side comparison."""

    name: str
    fit: LawFit
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    flop_model: FlopModel | None = None


@dataclass(frozen=True)
class GroupExponents:
    """One group's fitted exponents, as drawn against |G|."""

    group: str
    alpha: Estimate
    beta: Estimate


def plot_loss_vs_params(
    fit: LawFit,
    N: npt.ArrayLike,
    D: npt.ArrayLike,
    loss: npt.ArrayLike,
    path: str | Path,
    title: str = "",
    held_out: Columns | None = None,
) -> Path:
    """Observed loss against N, one colour per D, with the fitted law as lines; held-out runs
    (not fitted) as open squares in their D's colour."""
    fig = Figure(figsize=PANEL_SIZE)
    _draw_loss_vs_params(fig.add_subplot(), fit, N, D, loss, title, held_out)
    return _save(fig, path)


def plot_holdout(fit: LawFit, fitted: Columns, held_out: Columns, path: str | Path, title: str = "") -> Path:
    """Predicted against observed loss (log-log, diagonal = perfect), fitted runs as dots and
    held-out runs as open squares, with the held-out RMSE of log loss in the title."""
    fig = Figure(figsize=PANEL_SIZE)
    ax = fig.add_subplot()
    observed = []
    for (n, d, obs), style, label in ((fitted, "o", "fitted"), (held_out, "s", "held out")):
        predicted = fit.predict(n, d)
        ax.plot(obs, predicted, style, mfc="none" if style == "s" else None, label=label)
        observed += [*obs, *predicted]
    ends = [min(observed), max(observed)]
    ax.plot(ends, ends, "k:", linewidth=1)
    rmse = log_rmse(fit.predict(held_out[0], held_out[1]), held_out[2])
    ax.set(xscale="log", yscale="log", xlabel="observed loss", ylabel="predicted loss",
           title=f"{title + ': ' if title else ''}held-out RMSE(log) {rmse:.3f}")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_exponents_vs_group(rows: Sequence[GroupExponents], path: str | Path, title: str = "") -> Path:
    """alpha and beta with their intervals against the group order |G| (log2 axis)."""
    if not rows:
        raise EqnasError("plot_exponents_vs_group needs at least one group, got none")
    fig = Figure(figsize=PANEL_SIZE)
    ax = fig.add_subplot()
    orders = np.array([parse_group(r.group).order for r in rows], float)
    # groups of one order (C8 and D4) side by side: spread by rank among their equals
    rank = np.array([sum(o == orders[:i]) - (sum(o == orders) - 1) / 2 for i, o in enumerate(orders)])
    for name, shift, marker in (("alpha", 0.97, "o"), ("beta", 1.03, "s")):
        values = [getattr(r, name) for r in rows]
        centre = np.array([v.value for v in values])
        low = np.array([v.value if v.low is None else v.low for v in values])
        high = np.array([v.value if v.high is None else v.high for v in values])
        # a percentile interval need not hold the value (a skewed bootstrap), which errorbar refuses
        x = orders * shift * 1.12**rank
        points = ax.plot(x, centre, marker, label=name)[0]
        ax.vlines(x, low, high, color=points.get_color())
    ticks = sorted(set(orders))
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, ["\n".join(r.group for r in rows if parse_group(r.group).order == t) for t in ticks])
    ax.set(xlabel="group order |G|", ylabel="exponent", title=title or "exponents against |G|")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_iso_flop(
    fit: LawFit,
    flop_model: FlopModel,
    budgets: npt.ArrayLike,
    path: str | Path,
    span: float = 100.0,
    n_points: int = 200,
) -> Path:
    """Predicted loss against N at each budget, N from N_opt/span to N_opt·span, minima marked."""
    if not span > 1:
        raise EqnasError(f"span must be > 1 (a factor either side of N_opt), got {span!r}")
    budgets = _budgets(budgets)
    fig = Figure(figsize=PANEL_SIZE)
    ax = fig.add_subplot()
    colours = _colours(len(budgets))
    for colour, opt in zip(colours, frontier(fit, flop_model, budgets)):
        n_grid = np.geomspace(opt.N / span, opt.N * span, n_points)
        curve = iso_flop_curve(fit, flop_model, opt.flops, n_grid)
        ax.plot(curve.N, curve.loss, color=colour, label=f"C = {opt.flops:.2g}")
        ax.plot([opt.N], [opt.loss], "o", color=colour, markeredgecolor="black")
    ax.set(xscale="log", xlabel="parameters N", ylabel="predicted loss", title="iso-FLOP curves")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_frontier(
    fit: LawFit, flop_model: FlopModel, budgets: npt.ArrayLike, path: str | Path,
    isoflop: IsoFlopFit | None = None,
) -> Path:
    """Compute-optimal N and D against the budget C (log-log), with approach 2's N_opt per
    compute level and its fitted line when given."""
    fig = Figure(figsize=PANEL_SIZE)
    ax = fig.add_subplot()
    budgets = _budgets(budgets)
    optima = frontier(fit, flop_model, budgets)
    a, b = frontier_exponents(fit, flop_model)
    ax.plot(budgets, [o.N for o in optima], "o-", label=f"N_opt (parameters) ∝ C^{a:.3f}")
    ax.plot(budgets, [o.D for o in optima], "s-", label=f"D_opt (samples) ∝ C^{b:.3f}")
    if isoflop is not None:
        levels = np.array([level.C for level in isoflop.levels])
        ax.plot(levels, [level.N_opt for level in isoflop.levels], "x", color="black",
                label=f"N_opt, approach 2 ∝ C^{isoflop.a.value:.3f}")
        line = np.geomspace(min(levels.min(), budgets.min()), max(levels.max(), budgets.max()), 50)
        ax.plot(line, isoflop.n_opt(line), ":", color="black")
    ax.set(xscale="log", yscale="log", xlabel="training FLOPs C", title="compute-optimal frontier")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_families(
    families: Sequence[FamilyLaw],
    path: str | Path,
    budgets: npt.ArrayLike | None = None,
) -> Path:
    """One loss-vs-N panel per family; with budgets (and every family's FLOP model) two more
    panels overlay the families' compute-optimal loss and N_opt against C."""
    if not families:
        raise EqnasError("plot_families needs at least one family, got none")
    names = [f.name for f in families]
    if len(set(names)) != len(names):
        raise EqnasError(f"family names must be distinct, got {names}")
    with_frontier = budgets is not None
    if with_frontier:
        missing = [f.name for f in families if f.flop_model is None]
        if missing:
            raise EqnasError(f"budgets given but families {missing} have no FLOP model")
    n_panels = len(families) + (2 if with_frontier else 0)
    fig = Figure(figsize=(PANEL_SIZE[0] * n_panels, PANEL_SIZE[1]))
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    for ax, fam in zip(axes, families):
        _draw_loss_vs_params(ax, fam.fit, fam.N, fam.D, fam.loss, fam.name)
    if with_frontier:
        _draw_family_frontiers(axes[-2], axes[-1], families, _budgets(budgets))
    return _save(fig, path)


def _draw_loss_vs_params(
    ax: Axes, fit: LawFit, N: npt.ArrayLike, D: npt.ArrayLike, loss: npt.ArrayLike, title: str,
    held_out: Columns | None = None,
) -> None:
    n, d, obs = (as_positive(name, v) for name, v in (("N", N), ("D", D), ("loss", loss)))
    if not n.shape == d.shape == obs.shape or n.ndim != 1:
        raise EqnasError(
            f"N, D and loss must be 1-D of one length, got shapes {n.shape}, {d.shape}, {obs.shape}"
        )
    held_n, held_d, held_loss = (np.zeros(0),) * 3 if held_out is None else held_out
    d_values = np.unique(np.concatenate([d, held_d]))
    n_line = np.geomspace(min(n.min(), held_n.min(initial=n.min())), max(n.max(), held_n.max(initial=n.max())), 100)
    for colour, d_value in zip(_colours(len(d_values)), d_values):
        rows, held = d == d_value, held_d == d_value
        ax.plot(n[rows], obs[rows], "o", color=colour, label=f"D = {d_value:.3g}")
        if held.any():
            ax.plot(held_n[held], held_loss[held], "s", color=colour, mfc="none", markersize=8)
        ax.plot(n_line, fit.predict(n_line, d_value), "-", color=colour)
    if held_n.size:
        ax.plot([], [], "s", color="gray", mfc="none", label="held out (not fitted)")
    ax.set(xscale="log", yscale="log", xlabel="parameters N", ylabel="loss")
    ax.set_title(title or f"α = {fit.alpha:.3f}, β = {fit.beta:.3f}, E = {fit.E:.3g}")
    ax.legend(fontsize="x-small")


def _draw_family_frontiers(
    loss_ax: Axes, size_ax: Axes, families: Sequence[FamilyLaw], budgets: np.ndarray
) -> None:
    for fam in families:
        optima = frontier(fam.fit, fam.flop_model, budgets)
        loss_ax.plot(budgets, [o.loss for o in optima], "o-", label=fam.name)
        size_ax.plot(budgets, [o.N for o in optima], "o-", label=fam.name)
    loss_ax.set(xscale="log", xlabel="training FLOPs C", ylabel="loss at optimum",
                title="compute-optimal loss")
    size_ax.set(xscale="log", yscale="log", xlabel="training FLOPs C", ylabel="N_opt",
                title="compute-optimal size")
    loss_ax.legend(fontsize="small")
    size_ax.legend(fontsize="small")


def _budgets(budgets: npt.ArrayLike) -> np.ndarray:
    arr = np.sort(np.atleast_1d(as_positive("budgets", budgets)))
    if arr.ndim != 1 or arr.size == 0:
        raise EqnasError(f"budgets must be a non-empty list of FLOP counts, got shape {arr.shape}")
    return arr


def _colours(n: int) -> list:
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, max(n, 1))]


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI, format="png")
    return out
