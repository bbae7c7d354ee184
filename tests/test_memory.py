"""Memory planning with a faked small device: the physical batch follows the estimate, and a
network or a sample that does not fit is refused in one line before anything is allocated."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from eqnas.arch import Arch, Stage, Stem
from eqnas.build import build
from eqnas.cli import main
from eqnas.data.registry import load_dataset
from eqnas.errors import EqnasError
from eqnas.profiling.measure import activation_bytes
from eqnas.train import TrainConfig, loop, memory, train

ROOT = Path(__file__).resolve().parents[1]
RES = 17
TINY = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3), stages=(Stage(depth=1, width=3, stride=2),),
            resolution=RES, norm="group", num_classes=6)
CPU = torch.device("cpu")
MIB = 2**20


def fake_memory(monkeypatch, available: int) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device: available)


def test_the_estimate_counts_every_leaf_output_without_allocating():
    params, leaf = memory.leaf_output_bytes(TINY)
    model = build(TINY)
    assert params == sum(p.numel() for p in model.parameters())
    assert leaf == activation_bytes(model, RES, TINY.in_channels)


@pytest.mark.parametrize("mode", ["plain", "hooks", "ghost"])
def test_the_physical_batch_is_what_the_budget_holds(monkeypatch, mode):
    params, leaf = memory.leaf_output_bytes(TINY)
    image = int(memory.ACTIVATION_FACTOR[mode] * leaf) + memory.PER_SAMPLE_GRADIENT_COPIES[mode] * params * 4
    fixed = 4 * params * 4 + memory.WORKSPACE_BYTES
    available = math.ceil((fixed + 37.5 * image) / memory.BUDGET_SHARE)  # room for 37 images
    fake_memory(monkeypatch, available)
    plan = memory.plan_memory(TINY, 64, 2, mode, CPU)
    assert (plan.image_bytes, plan.fixed_bytes) == (image, fixed)
    assert plan.physical_batch_size == 36  # whole samples: 18 of 2 views
    assert memory.plan_memory(TINY, 12, 3, mode, CPU).physical_batch_size == 36  # 12 + 4 sd: 26 samples, 78 images
    assert memory.plan_memory(TINY, 4, 2, mode, CPU).physical_batch_size is None  # 4 + 4 sd: 12 samples, 24 images
    assert memory.plan_memory(TINY, 64, 2, mode, CPU, physical_batch_size=10).physical_batch_size == 10


def test_training_uses_the_chosen_physical_batch_and_reports_peak_memory(monkeypatch):
    params, leaf = memory.leaf_output_bytes(TINY)
    image = int(memory.ACTIVATION_FACTOR["ghost"] * leaf)
    fake_memory(monkeypatch, math.ceil((4 * params * 4 + memory.WORKSPACE_BYTES + 20.5 * image) / memory.BUDGET_SHARE))
    config = TrainConfig(dp=True, dp_mode="ghost", epochs=1, batch_size=32, subset=64, augment="crop_flip", aug_mult=2,
                         device="cpu", epsilon=8.0)
    metrics = train(TINY, load_dataset("synthetic", resolution=RES), config, None, progress=False).metrics
    assert metrics["config"]["physical_batch_size"] == metrics["memory"]["physical_batch_size"] == 20
    assert metrics["memory"]["peak_bytes"] > 0
    assert metrics["privacy"]["steps"] == 2


def test_a_sample_that_does_not_fit_is_refused_before_building(monkeypatch):
    params, leaf = memory.leaf_output_bytes(TINY)
    fake_memory(monkeypatch, math.ceil((4 * params * 4 + memory.WORKSPACE_BYTES + 3 * leaf) / memory.BUDGET_SHARE))
    monkeypatch.setattr(loop, "build", lambda arch: pytest.fail("built before refusing"))
    config = TrainConfig(dp=True, epochs=1, batch_size=8, subset=16, augment="crop_flip", aug_mult=4, device="cpu")
    with pytest.raises(EqnasError, match="one sample does not fit in memory: 4 view"):
        train(TINY, load_dataset("synthetic", resolution=RES), config, None, progress=False)


def test_an_architecture_too_large_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    fake_memory(monkeypatch, 64 * MIB)
    with pytest.raises(SystemExit) as exit_info:
        main(["retrain", "--arch", str(ROOT / "examples/wrn16_4_de2022.json"), "--data", "synthetic",
              "--out", str(tmp_path / "out")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    assert re.search(r"the architecture does not fit in memory: its 2,7\d\d,\d\d\d parameters need about 0.04 GiB", lines[0])
    assert not (tmp_path / "out").exists()
