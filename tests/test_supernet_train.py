"""Supernet training (sandwich rule, in-place distillation, resume), batch-norm recalibration,
subnet scoring and import through eqnas.load."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

import eqnas
from eqnas.check import relative_error
from eqnas.data.registry import load_dataset
from eqnas.errors import EqnasError
from eqnas.supernet import Supernet
from eqnas.profiling import arch_flops
from eqnas.supernet.draws import WithinCap
from eqnas.supernet.norms import batch_norms, recalibrate
from eqnas.supernet.record import read_supernet
from eqnas.supernet.score import score_data, score_subnet
from eqnas.supernet.subnets import adapt_space
from eqnas.supernet.train import DISTILLATION, Sandwich, sandwich_step, train_supernet
from eqnas.train.config import TrainConfig
from tests.test_supernet import tiny

CONFIG = TrainConfig(epochs=2, batch_size=16, subset=48, lr=3e-3, schedule="onecycle")


@pytest.fixture(scope="module")
def splits():
    return load_dataset("synthetic", resolution=13)


def fresh(splits, kernels="map", **overrides) -> Supernet:
    torch.manual_seed(0)
    return Supernet(adapt_space(tiny("c4", **overrides), splits.info), kernels=kernels)


# 64 subnets (tiny c4 has 1,024): a test that counts every subnet's FLOPs twice stays within seconds
TWO_STAGES = {"num_stages": [2], "stages": [{"depth": [1, 2], "width": [1, 2], "kernel": 3, "stride": 1},
                                            {"depth": [1, 2], "width": [2, 3], "kernel": [3, 5], "stride": 2}]}


def flat_gradient(supernet: Supernet) -> torch.Tensor:
    """Every stored tensor's gradient in one vector (zeros where the subnets used it not)."""
    return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten().clone() for p in supernet.parameters()])


def test_distillation_from_the_largest_is_detached_and_in_place(splits):
    """A student identical to its teacher gets a zero distillation gradient (softmax(s) -
    softmax(t) = 0), so the step's gradient is the label loss's alone; a different student
    changes it, and only through its own path (the teacher's outputs are detached)."""
    supernet = fresh(splits)
    images, targets = next(iter(torch.utils.data.DataLoader(splits.train, batch_size=8)))
    largest, smallest = supernet.largest(), supernet.smallest()

    def gradients(archs):
        supernet.zero_grad()
        sandwich_step(supernet, images, targets, archs, torch.nn.CrossEntropyLoss(), DISTILLATION["multiclass"])
        return flat_gradient(supernet)

    alone = gradients([largest])
    assert torch.allclose(gradients([largest, largest]), alone, atol=1e-6)
    with_student = gradients([largest, smallest])
    assert not torch.allclose(with_student, alone, atol=1e-6)
    supernet.zero_grad()
    teacher = supernet(images, largest).detach()
    DISTILLATION["multiclass"](supernet(images, smallest), teacher).backward()
    student_only = flat_gradient(supernet)
    assert torch.allclose(with_student, alone + student_only, atol=1e-5)


def test_soft_cross_entropy_is_the_cross_entropy_with_soft_targets():
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    expected = F.cross_entropy(student, teacher.softmax(-1))
    assert torch.allclose(DISTILLATION["multiclass"](student, teacher), expected)


def test_training_logs_saves_and_an_interrupted_run_resumes_to_the_same_weights(splits, tmp_path):
    lines: list[str] = []
    whole = fresh(splits)
    history = train_supernet(whole, splits, CONFIG, tmp_path / "whole", Sandwich(save_every=2, log_every=1), lines.append)
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(row["largest_loss"])) for row in history)
    assert lines[0].startswith("supernet epoch 1/2 step 1/3: largest loss ")
    assert read_supernet(tmp_path / "whole")["finished"] is True

    interrupted = fresh(splits)
    seen: list[str] = []

    def stop_in_second_epoch(line: str) -> None:
        seen.append(line)
        if line.startswith("supernet epoch 2/2 step 1/3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_supernet(interrupted, splits, CONFIG, tmp_path / "cut", Sandwich(save_every=2, log_every=1),
                       stop_in_second_epoch)
    payload = read_supernet(tmp_path / "cut")
    assert (payload["epoch"], payload["step"], payload["finished"]) == (2, 1, False)
    resumed = fresh(splits)
    lines = []
    train_supernet(resumed, splits, CONFIG, tmp_path / "cut", Sandwich(save_every=2, log_every=1), lines.append)
    assert lines[0].startswith("supernet: resuming at epoch 2, step 1")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


def test_resume_refuses_another_setting_and_unsupported_options(splits, tmp_path):
    train_supernet(fresh(splits), splits, CONFIG.replace(epochs=1), tmp_path, log=lambda line: None)
    with pytest.raises(EqnasError, match="another config"):
        train_supernet(fresh(splits), splits, CONFIG.replace(epochs=1, lr=1e-2), tmp_path, log=lambda line: None)
    with pytest.raises(EqnasError, match="another kernels"):
        train_supernet(fresh(splits, "separate"), splits, CONFIG.replace(epochs=1), tmp_path, log=lambda line: None)
    with pytest.raises(EqnasError, match="dp=True is not supported"):
        train_supernet(fresh(splits), splits, CONFIG.replace(dp=True, norm="group"), None)
    with pytest.raises(EqnasError, match="another sandwich"):
        train_supernet(fresh(splits), splits, CONFIG.replace(epochs=1), tmp_path, Sandwich(flops_cap=10**9),
                       log=lambda line: None)
    with pytest.raises(EqnasError, match="sandwich.random_subnets"):
        Sandwich(random_subnets=-1)
    with pytest.raises(EqnasError, match="sandwich.flops_cap"):
        Sandwich(flops_cap=0)


def test_a_cap_trains_only_the_subnets_within_it(splits, monkeypatch):
    """Within a cap the teacher is the subnet with the most FLOPs within it, the smallest the one
    with the fewest (both by fvcore over the whole space, by hand), and every trained subnet fits."""
    supernet = fresh(splits, **TWO_STAGES)
    space = supernet.space
    counted = {space.key(s): arch_flops(space.to_arch(s)) for s in space.enumerate()}
    cap = sorted(counted.values())[len(counted) // 2]  # half of the subnets fit
    within = {key: flops for key, flops in counted.items() if flops <= cap}
    assert 1 < len(within) < len(counted)
    trained: list = []

    def record(supernet, images, targets, archs, criterion, distill):
        trained.append(archs)
        return 0.0, 0.0

    monkeypatch.setattr("eqnas.supernet.train.sandwich_step", record)
    lines: list[str] = []
    train_supernet(supernet, splits, CONFIG, None, Sandwich(flops_cap=cap), log=lines.append)
    assert any(line.startswith(f"supernet: {len(within)} subnets within ") for line in lines)
    assert len(trained) == 6  # 2 epochs x 3 steps
    for largest, smallest, *randoms in trained:
        assert arch_flops(largest) == max(within.values()) and arch_flops(smallest) == min(within.values())
        assert all(arch_flops(arch) <= cap for arch in randoms)
    assert len({arch for archs in trained for arch in archs[2:]}) > 2
    with pytest.raises(EqnasError, match="the smallest needs"):
        WithinCap(supernet, min(counted.values()) - 1)


def test_recalibration_sets_the_running_statistics_to_the_batches_average(splits):
    supernet = fresh(splits)
    model = supernet.extract(supernet.random(random.Random(0)))
    first = batch_norms(model)[0]
    inputs = []
    handle = first.register_forward_hook(lambda module, args, out: inputs.append(args[0].detach()))
    batches = [torch.rand(6, 1, 13, 13), torch.rand(4, 1, 13, 13)]
    recalibrate(model, batches)
    handle.remove()
    assert not model.training
    # [B, F, G*H*W] per batch: each batch's per-field mean, averaged over batches (PyTorch's cumulative average)
    expected = torch.stack([x.mean(dim=(0, 2)) for x in inputs]).mean(0)
    assert torch.allclose(first.running_mean, expected, atol=1e-6)
    assert first.num_batches_tracked.item() == 2
    group_norm = Supernet(adapt_space(tiny("c4", norm="group"), splits.info))
    plain = group_norm.extract(group_norm.largest()).eval()
    x = torch.rand(2, 1, 13, 13)
    with torch.no_grad():
        before = plain(x)
        assert torch.equal(recalibrate(plain, batches)(x), before)  # nothing to re-estimate


def test_scores_are_the_static_subnets_accuracy_after_recalibration(splits):
    supernet = fresh(splits)
    train_supernet(supernet, splits, CONFIG.replace(epochs=1), None, log=lambda line: None)
    data = score_data(splits, val_size=60, calibration_batches=2, calibration_batch_size=16)
    arch = supernet.random(random.Random(2))
    scores = score_subnet(supernet, arch, data)
    assert set(scores) == {"acc", "auc", "loss", "seconds"} and 0.0 <= scores["acc"] <= 1.0
    model = recalibrate(supernet.extract(arch), data.calibration)
    with torch.no_grad():
        images, targets = data.val.tensors
        accuracy = (model(images).argmax(1) == targets).float().mean().item()
    assert scores["acc"] == pytest.approx(accuracy)


def test_eqnas_load_gives_the_subnet_with_the_supernets_weights(splits, tmp_path):
    supernet = fresh(splits)
    train_supernet(supernet, splits, CONFIG.replace(epochs=1), tmp_path, log=lambda line: None)
    arch = supernet.random(random.Random(3))
    arch.save(tmp_path / "best.json")
    loaded = eqnas.load(tmp_path, subnet=tmp_path / "best.json")
    assert not loaded.training
    x = torch.rand(3, 1, 13, 13)
    with torch.no_grad():
        assert relative_error(supernet.eval()(x, arch), loaded(x)) <= 1e-5
    untrained = eqnas.load(tmp_path / "best.json")
    with pytest.raises(EqnasError, match="no trained supernet"):
        eqnas.load(tmp_path / "nothing", subnet=arch)
    assert type(untrained) is type(loaded)
