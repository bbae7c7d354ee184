"""The output folder of one run, written so that an interrupt loses nothing finished:

    arch.json       the architecture actually built (after `adapt_arch`), written first
    config.json     the resolved TrainConfig, written first
    checkpoint.pt   the best-validation weights, rewritten atomically on every improvement
    metrics.json    written at the end, or on interrupt with "interrupted": true
    curves.png      loss and validation metrics per epoch, with metrics.json
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from eqnas.arch import Arch
from eqnas.train.checkpoint import CHECKPOINT, save_checkpoint
from eqnas.train.config import TrainConfig
from eqnas.train.curves import plot_curves

METRICS, CURVES, ARCH, CONFIG = "metrics.json", "curves.png", "arch.json", "config.json"


def json_safe(value: Any) -> Any:
    """NaN and infinity become null, so metrics.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_json(path: Path, data: Any) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


class RunRecord:
    """Writes the folder; with `out_dir=None` (search proxies) every method is a no-op."""

    def __init__(self, out_dir: Path | None, arch: Arch, config: TrainConfig) -> None:
        self.out_dir, self.arch = out_dir, arch
        if out_dir is None:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        arch.save(out_dir / ARCH)
        write_json(out_dir / CONFIG, config.to_dict())

    def checkpoint(self, state_dict: dict[str, torch.Tensor], epoch: int, weights: str) -> None:
        if self.out_dir is not None:
            save_checkpoint(self.out_dir / CHECKPOINT, state_dict, self.arch, epoch=epoch, weights=weights)

    def finish(self, metrics: dict[str, Any]) -> None:
        if self.out_dir is None:
            return
        write_json(self.out_dir / METRICS, metrics)
        if metrics["history"]:
            plot_curves(metrics["history"], self.out_dir / CURVES, title=self.arch.name or self.arch.family)
