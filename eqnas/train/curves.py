"""Training-curve figure: loss (train and validation) and validation metrics per epoch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plot_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """PNG with two panels. Uses the Agg canvas directly, so no global matplotlib backend is set."""
    figure = Figure(figsize=(9, 3.5), dpi=110)
    FigureCanvasAgg(figure)
    loss_ax, metric_ax = figure.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    loss_ax.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    loss_ax.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    for key, label in (("val_acc", "accuracy"), ("val_auc", "AUC")):
        metric_ax.plot(epochs, [row[key] for row in history], marker="o", label=label)
    metric_ax.set(xlabel="epoch", ylabel="validation", title="validation metrics")
    for ax in (loss_ax, metric_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    return path
