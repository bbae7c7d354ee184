"""DP-SGD: the reported epsilon against Opacus's accountants, batch norm refused, and
augmentation multiplicity averaging per-sample gradients over views while accounting for samples."""
from __future__ import annotations

import math

import pytest
import torch
from opacus import GradSampleModule
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from torch import nn

from eqnas.arch import Arch, Stage, Stem
from eqnas.build import build
from eqnas.data.registry import load_dataset
from eqnas.errors import EqnasError
from eqnas.train import TrainConfig, train
from eqnas.train.augment import Views
from eqnas.train.loaders import take_subset, train_loader
from eqnas.train.optim import make_criterion, make_optimizer
from eqnas.train.privacy import PrivateSession, average_views, resolve_delta, validate_private
from eqnas.train.runtime import generator, resolve_runtime
from eqnas.train.session import ForwardLoss

RES = 17
TINY = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3),
            stages=(Stage(depth=1, width=3, stride=2),), resolution=RES)

DP = dict(dp=True, epochs=2, batch_size=64, subset=192, physical_batch_size=48, augment="crop_flip", aug_mult=2,
          eval_batch_size=512, device="cpu", epsilon=4.0)


@pytest.fixture(scope="module")
def splits():
    return load_dataset("synthetic", resolution=RES)


@pytest.fixture(scope="module")
def dp_run(splits):
    return train(TINY, splits, TrainConfig(**DP), None, progress=False)


@pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
def test_epsilon_is_within_target_and_equals_the_accountant(dp_run):
    privacy = dp_run.metrics["privacy"]
    steps_per_epoch = math.ceil(192 / 64)
    assert privacy["sample_rate"] == 1 / steps_per_epoch  # the B samples, not the B*K views
    assert privacy["steps"] == 2 * steps_per_epoch
    assert privacy["delta"] == resolve_delta(None, 192) == 1e-5
    assert privacy["epsilon"] <= DP["epsilon"]
    expected_sigma = get_noise_multiplier(target_epsilon=DP["epsilon"], target_delta=1e-5,
                                          sample_rate=privacy["sample_rate"], epochs=2, accountant="rdp")
    assert privacy["noise_multiplier"] == expected_sigma
    accountant = RDPAccountant()
    accountant.history = [(privacy["noise_multiplier"], privacy["sample_rate"], privacy["steps"])]
    assert privacy["epsilon"] == accountant.get_epsilon(privacy["delta"])
    assert [row["epsilon"] for row in dp_run.metrics["history"]][-1] == privacy["epsilon"]


def test_a_fixed_noise_multiplier_is_used_and_its_epsilon_recomputes(splits):
    config = TrainConfig(**{**DP, "epochs": 1, "aug_mult": 1, "noise_multiplier": 1.3})
    privacy = train(TINY, splits, config, None, progress=False).metrics["privacy"]
    assert privacy["noise_multiplier"] == 1.3 and privacy["target_epsilon"] is None
    assert privacy["steps"] == math.ceil(192 / 64) and privacy["sample_rate"] == 1 / 3
    accountant = RDPAccountant()
    accountant.history = [(1.3, privacy["sample_rate"], privacy["steps"])]
    assert privacy["epsilon"] == accountant.get_epsilon(privacy["delta"])


def test_dp_turns_batch_norm_into_group_norm_and_records_it(dp_run):
    assert TINY.norm == "batch" and dp_run.metrics["arch"]["norm"] == "group"
    assert any(change.startswith("norm: batch -> group") for change in dp_run.metrics["arch_changes"])


def test_prv_accountant_matches_its_recomputation(splits):
    config = TrainConfig(**{**DP, "epochs": 1, "aug_mult": 1, "accountant": "prv", "physical_batch_size": None})
    privacy = train(TINY, splits, config, None, progress=False).metrics["privacy"]
    accountant = PRVAccountant()
    accountant.history = [(privacy["noise_multiplier"], privacy["sample_rate"], privacy["steps"])]
    assert privacy["epsilon"] <= DP["epsilon"]
    assert privacy["epsilon"] == pytest.approx(accountant.get_epsilon(privacy["delta"]), rel=1e-9)


def test_forcing_batch_norm_under_dp_is_a_clear_error():
    with pytest.raises(EqnasError, match="norm='batch' cannot be used with DP-SGD"):
        TrainConfig(dp=True, norm="batch")
    with pytest.raises(EqnasError, match="cannot be trained with DP-SGD.*running_mean"):
        validate_private(build(TINY))


def _session(splits, aug_mult: int, dp_mode: str = "hooks") -> PrivateSession:
    config = TrainConfig(**{**DP, "aug_mult": aug_mult, "dp_mode": dp_mode})
    network = build(TINY.replace(norm="group", num_classes=6))
    runtime = resolve_runtime("cpu", dp=True)
    views = Views(config.augment, aug_mult, generator(0, "augment"))
    forward = ForwardLoss(views, make_criterion("multiclass", 0.0), runtime)
    loader = train_loader(take_subset(splits.train, config.subset, 0), config.batch_size, 0, 0)
    optimizer = make_optimizer(network.parameters(), config.optimizer, config.lr, config.momentum, config.weight_decay)
    return PrivateSession(network, optimizer, loader, forward, config, generator(0, "noise"))


@pytest.mark.parametrize("dp_mode", ["hooks", "ghost"])
def test_accounting_sees_samples_not_views(splits, dp_mode):
    one, four = _session(splits, 1, dp_mode), _session(splits, 4, dp_mode)
    for key in ("noise_multiplier", "sample_rate", "expected_batch_size", "steps"):
        assert one.privacy()[key] == four.privacy()[key]
    assert four.steps_per_epoch == one.steps_per_epoch == 3
    empty = four.learn(torch.empty(0, 1, RES, RES), torch.empty(0, dtype=torch.long))
    assert empty.stepped and four.privacy()["steps"] == 1  # an empty Poisson batch is still a noisy step


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_average_views_equals_the_gradient_of_each_samples_mean_view_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.GroupNorm(1, 3), nn.Flatten(), nn.Linear(3 * 5 * 5, 4))
    samples, k = 3, 4
    images, targets = torch.rand(samples, 1, 7, 7), torch.tensor([0, 2, 3])
    views, view_targets = Views("crop_flip", k, torch.Generator().manual_seed(0))(images, targets)
    loss_fn = nn.CrossEntropyLoss()
    wrapped = GradSampleModule(model, loss_reduction="mean")
    loss_fn(wrapped(views), view_targets).backward()  # mean over all B*K views
    average_views(model.parameters(), k)
    for i in range(samples):
        model.zero_grad()
        own = slice(i * k, (i + 1) * k)
        wrapped.disable_hooks()
        grads = torch.autograd.grad(loss_fn(model(views[own]), view_targets[own]), list(model.parameters()))
        wrapped.enable_hooks()
        for p, expected in zip(model.parameters(), grads):
            assert p.grad_sample.shape[0] == samples
            torch.testing.assert_close(p.grad_sample[i], expected, rtol=1e-5, atol=1e-6)


def test_dp_run_repeats_exactly_under_a_seed(splits, dp_run):
    again = train(TINY, splits, TrainConfig(**DP), None, progress=False)
    assert again.metrics["test_loss"] == dp_run.metrics["test_loss"]
    assert [r["train_loss"] for r in again.metrics["history"]] == [r["train_loss"] for r in dp_run.metrics["history"]]
