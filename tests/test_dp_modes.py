"""`dp_mode` hooks against ghost through the whole training loop: the same accountant, epsilon,
noise and steps, and the same weights up to float32 rounding (the clipped sum is the same; its
float64 equality with the loop over samples is tests/test_norm_samplers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from opacus.accountants import RDPAccountant

from eqnas.arch import Arch, Stage, Stem
from eqnas.data.registry import load_dataset
from eqnas.errors import EqnasError
from eqnas.study.config import load_study
from eqnas.train import TrainConfig, train
from eqnas.train.optim import make_criterion
from eqnas.train.privacy import PerSampleLoss
from eqnas.train.recipes import resolve_config

ROOT = Path(__file__).resolve().parents[1]
RES = 17
TINY = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3),
            stages=(Stage(depth=1, width=3, stride=2),), resolution=RES)
DP = dict(dp=True, epochs=1, batch_size=64, subset=128, physical_batch_size=48, augment="crop_flip", aug_mult=2,
          eval_batch_size=512, device="cpu", epsilon=4.0)

pytestmark = pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")


@pytest.fixture(scope="module")
def runs():
    splits = load_dataset("synthetic", resolution=RES)
    return {mode: train(TINY, splits, TrainConfig(**DP, dp_mode=mode), None, progress=False) for mode in ("hooks", "ghost")}


def test_both_modes_spend_the_same_epsilon_the_accountant_gives(runs):
    hooks, ghost = (runs[mode].metrics["privacy"] for mode in ("hooks", "ghost"))
    assert (hooks.pop("dp_mode"), ghost.pop("dp_mode")) == ("hooks", "ghost")
    assert hooks == ghost
    accountant = RDPAccountant()
    accountant.history = [(ghost["noise_multiplier"], ghost["sample_rate"], ghost["steps"])]
    assert ghost["epsilon"] == accountant.get_epsilon(ghost["delta"]) <= DP["epsilon"]


def test_both_modes_train_the_same_weights(runs):
    hooks, ghost = (runs[mode].raw_model.state_dict() for mode in ("hooks", "ghost"))
    for name, value in hooks.items():
        torch.testing.assert_close(ghost[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert runs["ghost"].metrics["test_acc"] == runs["hooks"].metrics["test_acc"]


def test_per_sample_loss_is_each_samples_mean_over_views_and_classes():
    criterion = make_criterion("multilabel", 0.1)
    logits, targets = torch.randn(6, 4), torch.randint(2, (6, 4)).float()
    loss = PerSampleLoss(criterion, None, None, views=3)(logits, targets)
    assert criterion.reduction == "mean"
    expected = torch.stack([criterion(logits[i:i + 3], targets[i:i + 3]) for i in (0, 3)])
    torch.testing.assert_close(loss.loss_per_sample, expected)
    torch.testing.assert_close(loss.detach(), criterion(logits, targets))


def test_dp_mode_is_checked_and_needs_dp():
    with pytest.raises(EqnasError, match="dp_mode='fast'.*ghost, hooks"):
        TrainConfig(dp=True, dp_mode="fast")
    with pytest.raises(EqnasError, match="dp_mode='ghost' only applies to DP-SGD"):
        resolve_config(None, dp_mode="ghost")
    assert resolve_config("hoelzl2023", dp_mode="ghost").dp_mode == "ghost"


def test_study_dp_mode_reaches_the_private_runs_only():
    study = load_study(ROOT / "examples/study_small.yaml").with_dp_overrides(dp_mode="ghost")
    arm = study.arms[0]
    assert study.run_config(arm, 8.0, 0).dp_mode == "ghost"
    assert study.run_config(arm, None, 0).dp is False
