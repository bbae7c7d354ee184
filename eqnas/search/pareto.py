"""The Pareto plot of a search: proxy metric against FLOPs for every trained trial (hollow: stopped
early, at the best metric it reached), with the budget line and the front of trials that no
cheaper trial beats."""
from __future__ import annotations

from pathlib import Path

from eqnas.search.records import TrialRecord


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

    ok = [r for r in records if r.status == "ok"]
    failed = [r for r in records if r.status == "failed" and r.flops is not None]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if ok:
        points = [(r.flops / 1e6, r.metric) for r in ok]
        complete = [p for p, r in zip(points, ok) if "stopped_epoch" not in r.extra]
        stopped = [p for p, r in zip(points, ok) if "stopped_epoch" in r.extra]
        if complete:
            ax.scatter(*zip(*complete), s=28, label=f"trials ({len(complete)})", color="tab:blue", alpha=0.8)
        if stopped:
            ax.scatter(*zip(*stopped), s=28, facecolors="none", edgecolors="tab:blue",
                       label=f"stopped early ({len(stopped)}): best so far")
        front = pareto_front(points)
        right = max(max(p[0] for p in points), (flops_max or 0) / 1e6)
        front_x, front_y = zip(*front, (right, front[-1][1]))  # the front holds up to the budget
        ax.step(front_x, front_y, where="post", color="tab:green", label="Pareto front")
        best = max(ok, key=lambda r: r.metric)
        ax.scatter([best.flops / 1e6], [best.metric], marker="*", s=220, color="tab:orange", label="best", zorder=3)
    if failed:
        low = min((r.metric for r in ok), default=0.0)
        ax.scatter([r.flops / 1e6 for r in failed], [low] * len(failed), marker="x", color="tab:red",
                   label=f"failed ({len(failed)})")
    if flops_max:
        ax.axvline(flops_max / 1e6, color="gray", linestyle="--", label=f"budget {flops_max / 1e6:g}M")
    ax.set_xlabel("MFLOPs per sample (fvcore: 1 multiply-add = 1 FLOP)")
    ax.set_ylabel(f"proxy validation {metric_name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
