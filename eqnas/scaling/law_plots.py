"""PNG figures of fitted scaling laws: loss against size, iso-FLOP curves, the compute-optimal
frontier, and several families side by side.

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
from eqnas.scaling.compute_optimal import FlopModel, frontier, frontier_exponents, iso_flop_curve
from eqnas.scaling.law_fit import LawFit, as_positive

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


def plot_loss_vs_params(
    fit: LawFit,
    N: npt.ArrayLike,
    D: npt.ArrayLike,
    loss: npt.ArrayLike,
    path: str | Path,
    title: str = "",
) -> Path:
    """Observed loss against N, one colour per D, with the fitted law as lines."""
    fig = Figure(figsize=PANEL_SIZE)
    _draw_loss_vs_params(fig.add_subplot(), fit, N, D, loss, title)
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
    fit: LawFit, flop_model: FlopModel, budgets: npt.ArrayLike, path: str | Path
) -> Path:
    """Compute-optimal N and D against the budget C (log-log)."""
    fig = Figure(figsize=PANEL_SIZE)
    ax = fig.add_subplot()
    budgets = _budgets(budgets)
    optima = frontier(fit, flop_model, budgets)
    a, b = frontier_exponents(fit, flop_model)
    ax.plot(budgets, [o.N for o in optima], "o-", label=f"N_opt (parameters) ∝ C^{a:.3f}")
    ax.plot(budgets, [o.D for o in optima], "s-", label=f"D_opt (samples) ∝ C^{b:.3f}")
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
    ax: Axes, fit: LawFit, N: npt.ArrayLike, D: npt.ArrayLike, loss: npt.ArrayLike, title: str
) -> None:
    n, d, obs = (as_positive(name, v) for name, v in (("N", N), ("D", D), ("loss", loss)))
    if not n.shape == d.shape == obs.shape or n.ndim != 1:
        raise EqnasError(
            f"N, D and loss must be 1-D of one length, got shapes {n.shape}, {d.shape}, {obs.shape}"
        )
    d_values = np.unique(d)
    n_line = np.geomspace(n.min(), n.max(), 100)
    for colour, d_value in zip(_colours(len(d_values)), d_values):
        rows = d == d_value
        ax.plot(n[rows], obs[rows], "o", color=colour, label=f"D = {d_value:.3g}")
        ax.plot(n_line, fit.predict(n_line, d_value), "-", color=colour)
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
