"""The study's two figures: test accuracy against FLOPs per arm (one panel per dataset, one
line per arm and privacy setting), and against epsilon under DP (one line per arm and budget);
error bars are the 95% t intervals."""
from __future__ import annotations

import math
from pathlib import Path

from eqnas.profiling import format_flops
from eqnas.study.stats import Interval

CellKey = tuple[str, int, str, float | None]


def _axes(datasets: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4), squeeze=False)
    return plt, fig, axes[0]


def _bar(interval: Interval) -> float:
    return 0.0 if math.isnan(interval.half_width) else interval.half_width


def _finish(plt, fig, axes, path: Path) -> None:
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_flops(intervals: dict[CellKey, Interval], flops: dict[CellKey, list[int]], path: Path) -> None:
    datasets = sorted({key[0] for key in intervals})
    if not datasets:
        return
    plt, fig, axes = _axes(datasets)
    for ax, dataset in zip(axes, datasets):
        lines = sorted({(key[2], key[3]) for key in intervals if key[0] == dataset}, key=lambda l: (l[0], l[1] or 0))
        for arm, epsilon in lines:
            keys = sorted((k for k in intervals if k[0] == dataset and k[2] == arm and k[3] == epsilon),
                          key=lambda k: k[1])
            x = [sum(flops[k]) / len(flops[k]) / 1e6 for k in keys]
            label = arm if epsilon is None else f"{arm}, DP ε={epsilon:g}"
            ax.errorbar(x, [intervals[k].mean for k in keys], yerr=[_bar(intervals[k]) for k in keys],
                        fmt="o-" if epsilon is None else "s--", capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("MFLOPs per sample (fvcore, of the trained network)")
        ax.set_title(dataset)
    _finish(plt, fig, axes, path)


def plot_accuracy_vs_epsilon(intervals: dict[CellKey, Interval], path: Path) -> None:
    private = {k: v for k, v in intervals.items() if k[3] is not None}
    datasets = sorted({key[0] for key in private})
    if not datasets:
        return
    plt, fig, axes = _axes(datasets)
    for ax, dataset in zip(axes, datasets):
        for arm, budget in sorted({(k[2], k[1]) for k in private if k[0] == dataset}):
            keys = sorted((k for k in private if k[0] == dataset and k[2] == arm and k[1] == budget),
                          key=lambda k: k[3])
            ax.errorbar([k[3] for k in keys], [private[k].mean for k in keys],
                        yerr=[_bar(private[k]) for k in keys], fmt="o-", capsize=3,
                        label=f"{arm} ({format_flops(budget)})")
        ax.set_xscale("log")
        ax.set_xlabel("ε (target; δ in report.md)")
        ax.set_title(dataset)
    _finish(plt, fig, axes, path)
