"""The training loop: repeatable runs, the output folder, checkpoints, EMA, metrics, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import eqnas
from eqnas.arch import Arch, Stage, Stem
from eqnas.data.base import DatasetInfo
from eqnas.data.registry import load_dataset
from eqnas.train import TrainConfig, train
from eqnas.train import loop as loop_module
from eqnas.train.adapt import adapt_arch
from eqnas.train.augment import AUGMENTATIONS, Views
from eqnas.train.evaluate import evaluate
from eqnas.train.metrics import accuracy, auc
from eqnas.train.optim import SCHEDULES, make_criterion
from eqnas.train.runtime import resolve_runtime

RES = 17
TINY = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3),
            stages=(Stage(depth=1, width=3, stride=2),), resolution=RES)
FAST = dict(epochs=2, batch_size=64, subset=192, eval_batch_size=512, device="cpu")
METRIC_KEYS = {"test_acc", "test_auc", "test_loss", "weights", "selected_by", "best_epoch", "best_val", "epochs",
               "epochs_planned", "seconds", "interrupted", "stopped_early", "history", "privacy", "arch_changes", "arch", "data",
               "runtime", "memory", "config"}


@pytest.fixture(scope="module")
def splits():
    return load_dataset("synthetic", resolution=RES)


@pytest.fixture(scope="module")
def ema_run(splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("ema_run")
    config = TrainConfig(**FAST, ema_decay=0.9, augment="crop_flip", aug_mult=2)
    return train(TINY, splits, config, out, progress=False), out


def _without_timing(metrics: dict) -> dict:
    drop = {"seconds", "memory"}  # memory: the device's available and peak bytes, measured
    return {**{k: v for k, v in metrics.items() if k not in drop},
            "history": [{k: v for k, v in row.items() if k != "seconds"} for row in metrics["history"]]}


def test_same_seed_repeats_exactly_on_cpu(splits, ema_run):
    again = train(TINY, splits, TrainConfig(**ema_run[0].metrics["config"]), None, progress=False)
    assert _without_timing(again.metrics) == _without_timing(ema_run[0].metrics)
    for a, b in zip(again.model.state_dict().values(), ema_run[0].model.state_dict().values()):
        assert torch.equal(a, b)


def test_output_folder_holds_the_documented_files_and_keys(ema_run):
    result, out = ema_run
    files = {"metrics.json", "curves.png", "checkpoint.pt", "arch.json", "config.json"}
    assert {p.name for p in out.iterdir()} >= files
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS
    assert metrics["interrupted"] is False and metrics["privacy"] is None
    assert metrics["weights"] == "ema" and metrics["epochs"] == 2 and len(metrics["history"]) == 2
    assert set(metrics["history"][0]) == {"epoch", "train_loss", "val_loss", "val_acc", "val_auc", "lr", "seconds"}
    assert TrainConfig.from_dict(json.loads((out / "config.json").read_text())) == TrainConfig(**metrics["config"])
    assert Arch.load(out / "arch.json").num_classes == 6  # adapted to the data, and said so
    assert any("num_classes: 10 -> 6" in change for change in metrics["arch_changes"])


def test_checkpoint_loads_weights_only_and_gives_the_same_logits(splits, ema_run):
    result, out = ema_run
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    assert payload["weights"] == "ema" and payload["epoch"] == result.metrics["best_epoch"]
    loaded = eqnas.load(out)
    images = torch.stack([splits.test[i][0] for i in range(8)])
    with torch.no_grad():
        assert torch.equal(loaded(images), result.model(images))


def test_ema_weights_differ_from_raw_and_are_the_ones_evaluated(splits, ema_run):
    result, _ = ema_run
    ema = dict(result.model.named_parameters())
    raw = dict(result.raw_model.named_parameters())
    assert any(not torch.allclose(ema[name], raw[name]) for name in ema)
    runtime = resolve_runtime("cpu", dp=False)
    test = evaluate(result.model, splits.test, "multiclass", make_criterion("multiclass", 0.0), runtime, 512)
    assert test["acc"] == result.metrics["test_acc"] and test["auc"] == result.metrics["test_auc"]
    raw_test = evaluate(result.raw_model, splits.test, "multiclass", make_criterion("multiclass", 0.0), runtime, 512)
    assert raw_test["loss"] != result.metrics["test_loss"]


def test_interrupt_keeps_the_best_checkpoint_and_marks_metrics(splits, tmp_path, monkeypatch):
    calls = []
    real_epoch = loop_module._train_epoch

    def interrupted_second_epoch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args)

    monkeypatch.setattr(loop_module, "_train_epoch", interrupted_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, splits, TrainConfig(**{**FAST, "epochs": 3}), tmp_path, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs"] == 1 and metrics["best_epoch"] == 1
    assert metrics["test_acc"] is not None and (tmp_path / "checkpoint.pt").is_file()
    eqnas.load(tmp_path)


def test_epoch_hook_sees_every_epoch_and_can_stop_the_training(splits):
    seen = []

    def stop_after_two(epoch: int, metric: float) -> bool:
        seen.append((epoch, metric))
        return epoch < 2

    result = train(TINY, splits, TrainConfig(**{**FAST, "epochs": 4}), None, progress=False, test=False,
                   on_epoch=stop_after_two)
    history = result.metrics["history"]
    assert [epoch for epoch, _ in seen] == [1, 2] and len(history) == 2
    assert [metric for _, metric in seen] == [row["val_acc"] for row in history]
    assert result.metrics["stopped_early"] is True and result.metrics["epochs_planned"] == 4
    full = train(TINY, splits, TrainConfig(**{**FAST, "epochs": 2}), None, progress=False, test=False,
                 on_epoch=lambda epoch, metric: epoch < 2)  # "stop" after the last epoch: no change
    assert full.metrics["stopped_early"] is False and full.metrics["epochs"] == 2


def test_select_loss_keeps_the_epoch_of_lowest_validation_loss(splits):
    seen = []
    result = train(TINY, splits, TrainConfig(**{**FAST, "epochs": 3, "select": "loss"}), None, progress=False,
                   test=False, on_epoch=lambda epoch, loss: seen.append(loss) is None)
    history = result.metrics["history"]
    assert seen == [row["val_loss"] for row in history] and len(seen) == 3
    best = min(history, key=lambda row: row["val_loss"])
    assert result.metrics["best_epoch"] == best["epoch"] and result.metrics["best_val"]["loss"] == best["val_loss"]


def test_improves_prefers_lower_loss_or_higher_accuracy_and_never_nan():
    nan = float("nan")
    by_loss, by_acc = TrainConfig(select="loss"), TrainConfig(select="acc")
    assert by_loss.improves(0.5, 0.6) and not by_loss.improves(0.7, 0.6)
    assert by_acc.improves(0.7, 0.6) and not by_acc.improves(0.5, 0.6)
    assert by_loss.improves(nan, None) and not by_loss.improves(nan, 0.6) and by_loss.improves(0.6, nan)


def test_physical_chunks_give_the_same_step_as_the_whole_batch(splits):
    # group norm: nothing couples samples, so chunked gradients must add up to the full one
    arch = TINY.replace(norm="group")
    base = dict(FAST, epochs=1, subset=64, optimizer="sgd", momentum=0.0, schedule="constant")
    whole = train(arch, splits, TrainConfig(**base), None, progress=False)
    chunked = train(arch, splits, TrainConfig(**base, physical_batch_size=16), None, progress=False)
    for a, b in zip(whole.raw_model.parameters(), chunked.raw_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_metrics_match_medmnist_definitions(task):
    rng = np.random.default_rng(0)
    scores = rng.random((200, 4))
    targets = rng.integers(0, 2, (200, 4)) if task == "multilabel" else rng.integers(0, 4, 200)
    scores[:5] = 0.5  # ties
    if task == "multilabel":
        expected_auc = np.mean([roc_auc_score(targets[:, k], scores[:, k]) for k in range(4)])
        expected_acc = np.mean([np.mean((scores[:, k] > 0.5) == targets[:, k]) for k in range(4)])
    else:
        expected_auc = np.mean([roc_auc_score(targets == k, scores[:, k]) for k in range(4)])
        expected_acc = np.mean(scores.argmax(1) == targets)
    assert auc(scores, targets, task) == pytest.approx(expected_auc, abs=1e-12)
    assert accuracy(scores, targets, task) == pytest.approx(expected_acc, abs=1e-12)


def test_augmentations_keep_shapes_and_views_are_sample_major():
    images = torch.rand(5, 2, 9, 9)
    for name, augmentation in AUGMENTATIONS.items():
        out = augmentation(images, torch.Generator().manual_seed(0))
        assert out.shape == images.shape, name
    rotated = AUGMENTATIONS["rot90_flip"](images, torch.Generator().manual_seed(1))
    for x, y in zip(images, rotated):  # every output is one of the 8 grid transformations of its input
        orbit = [torch.rot90(v, k, (-2, -1)) for v in (x, x.flip(-1)) for k in range(4)]
        assert any(torch.equal(y, o) for o in orbit)
    views = Views("crop_flip", 3, torch.Generator().manual_seed(0))
    out, targets = views(images, torch.arange(5))
    assert out.shape == (15, 2, 9, 9) and targets.tolist() == [i for i in range(5) for _ in range(3)]


def test_schedules():
    assert SCHEDULES["step"](0.49) == 1.0 and SCHEDULES["step"](0.5) == pytest.approx(0.1)
    assert SCHEDULES["step"](0.75) == pytest.approx(0.01)
    assert SCHEDULES["cosine"](0.0) == 1.0 and SCHEDULES["cosine"](1.0) == pytest.approx(0.0)
    assert SCHEDULES["onecycle"](0.3) == pytest.approx(1.0) and SCHEDULES["onecycle"](0.0) == pytest.approx(0.04)


def test_adapt_arch_follows_the_data_and_dp():
    info = DatasetInfo(name="x", channels=3, resolution=21, num_classes=4)
    arch, notes = adapt_arch(TINY, info, TrainConfig(dp=True))
    assert (arch.in_channels, arch.num_classes, arch.resolution, arch.norm) == (3, 4, 21, "group")
    assert len(notes) == 4 and any("DP-SGD" in note for note in notes)
    same, none = adapt_arch(TINY.replace(num_classes=4, in_channels=3, resolution=21), info, TrainConfig())
    assert none == [] and same.norm == "batch"


def _cli(*args: str) -> int:
    from eqnas.cli import main

    try:
        main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_cli_retrain_writes_metrics(tmp_path, capsys):
    arch_path = TINY.save(tmp_path / "tiny.json")
    out = tmp_path / "run"
    code = _cli("retrain", "--arch", str(arch_path), "--data", "synthetic", "--epochs", "1", "--subset", "64",
                "--device", "cpu", "--out", str(out))
    assert code == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("test acc ") and "not private" in lines[-1]


@pytest.mark.parametrize("extra,needle", [
    (("--data", "no-such-data"), "unknown dataset 'no-such-data'"),
    (("--data", "synthetic", "--dp", "--epsilon", "-1"), "epsilon=-1.0"),
    (("--data", "synthetic", "--dp", "--norm", "batch"), "norm='batch' cannot be used with DP-SGD"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, needle):
    arch_path = TINY.save(tmp_path / "tiny.json")
    code = _cli("retrain", "--arch", str(arch_path), "--out", str(tmp_path / "run"), *extra)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and needle in err[0]
