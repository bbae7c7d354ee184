"""The Pareto plot of a search: each candidate's final score (at the highest rung it reached, see
`eqnas.search.standings`) against FLOPs, coloured by that rung (hollow: stopped early, at the
best metric it reached), with the budget line, the winner, and the front of candidates that no
cheaper candidate beats."""
from __future__ import annotations

from pathlib import Path

from eqnas.search.records import TrialRecord
from eqnas.search.standings import standings


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(flops, metric) points not dominated by a cheaper-or-equal, better-or-equal point."""
    front, best = [], float("-inf")
    for flops, metric in sorted(points, key=lambda p: (p[0], -p[1])):
        if metric > best:
            front.append((flops, metric))
            best = metric
    return front


def plot_pareto(records: list[TrialRecord], path: Path, metric_name: str, flops_max: int | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = standings(records)
    ok = [s for s in ranked if s.score is not None]
    failed = [s for s in ranked if s.score is None and s.record.flops is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if ok:
        colours = plt.get_cmap("viridis")
        top = max(s.rung for s in ok)
        for rung in sorted({s.rung for s in ok}):
            at = [s for s in ok if s.rung == rung]
            colour = colours(0.15 + 0.7 * rung / max(top, 1))
            where = f"rung {rung}: {at[0].record.fidelity}" if at[0].record.fidelity else "trials"
            for stopped in (False, True):
                points = [(s.record.flops / 1e6, s.score) for s in at if ("stopped_epoch" in s.record.extra) == stopped]
                if points and stopped:
                    ax.scatter(*zip(*points), s=28, facecolors="none", edgecolors=colour,
                               label=f"{where}, stopped early ({len(points)}): best so far")
                elif points:
                    ax.scatter(*zip(*points), s=28, color=colour, alpha=0.85, label=f"{where} ({len(points)})")
        points = [(s.record.flops / 1e6, s.score) for s in ok]
        front = pareto_front(points)
        right = max(max(p[0] for p in points), (flops_max or 0) / 1e6)
        front_x, front_y = zip(*front, (right, front[-1][1]))  # the front holds up to the budget
        ax.step(front_x, front_y, where="post", color="tab:green", label="Pareto front")
        best = ok[0]
        ax.scatter([best.record.flops / 1e6], [best.score], marker="*", s=220, color="tab:orange",
                   label="best (highest rung, then score)", zorder=3)
    if failed:
        low = min((s.score for s in ok), default=0.0)
        ax.scatter([s.record.flops / 1e6 for s in failed], [low] * len(failed), marker="x", color="tab:red",
                   label=f"failed ({len(failed)})")
    if flops_max:
        ax.axvline(flops_max / 1e6, color="gray", linestyle="--", label=f"budget {flops_max / 1e6:g}M")
    ax.set_xlabel("MFLOPs per sample (fvcore: 1 multiply-add = 1 FLOP)")
    ax.set_ylabel(f"validation {metric_name} at the highest rung reached")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
