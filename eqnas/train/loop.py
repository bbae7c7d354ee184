"""The one training loop, used by search proxies (`out_dir=None`) and full retraining alike.

Per epoch: train (one `Session` step per logical batch, then the schedule and the weight
average), evaluate the evaluated weights (EMA if configured, else raw) on the validation split,
keep the best by `config.select` (lowest loss, else highest acc or auc). At the end the best weights are evaluated on the test split.
"""
from __future__ import annotations

import dataclasses
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.data.base import Splits
from eqnas.train.adapt import adapt_arch
from eqnas.train.augment import Views
from eqnas.train.config import TrainConfig
from eqnas.train.distributed import SINGLE, Cluster, data_parallel, rank_generator, shard_loader
from eqnas.train.ema import WeightEMA
from eqnas.train.evaluate import evaluate
from eqnas.train.hooks import EpochHook
from eqnas.train.loaders import take_subset, train_loader
from eqnas.train.memory import plan_memory
from eqnas.train.optim import make_criterion, make_optimizer, make_scheduler
from eqnas.train.record import RunRecord
from eqnas.train.runtime import Runtime, generator, resolve_runtime, seed_everything
from eqnas.train.session import ForwardLoss, PlainSession, Session


@dataclass(frozen=True)
class TrainResult:
    metrics: dict[str, Any]  # what metrics.json holds
    model: nn.Module  # the evaluated weights (metrics["weights"]: "ema" or "raw") of the best epoch; CPU, eval
    raw_model: nn.Module  # the raw weights at the end of training; CPU, eval
    out_dir: Path | None


def _session(network: nn.Module, config: TrainConfig, train_set, criterion: nn.Module, runtime: Runtime,
             cluster: Cluster = SINGLE) -> Session:
    augment_stream = rank_generator(config.seed, "augment", cluster.rank, runtime.device)
    views = Views(config.augment, config.aug_mult, augment_stream)
    forward = ForwardLoss(views, criterion, runtime)
    optimizer = make_optimizer(network.parameters(), config.optimizer, config.lr, config.momentum,
                               config.weight_decay)
    if config.dp:
        from eqnas.train.privacy import PrivateSession  # imports Opacus only for private runs

        loader = train_loader(train_set, config.batch_size, config.seed, config.num_workers)  # ranks: Opacus shards it
        return PrivateSession(network, optimizer, loader, forward, config,
                              generator(config.seed, "noise", runtime.device), cluster)
    if cluster.distributed:
        loader = shard_loader(train_set, config.batch_size, config.seed, config.num_workers, cluster)
        return PlainSession(network, optimizer, loader, forward, config.physical_samples or loader.batch_size,
                            model=data_parallel(network, runtime.device))
    loader = train_loader(train_set, config.batch_size, config.seed, config.num_workers)
    return PlainSession(network, optimizer, loader, forward, config.physical_samples or config.batch_size)


def _train_epoch(session: Session, scheduler, ema: WeightEMA | None, bar: tqdm) -> float:
    """Mean training loss over the epoch's samples (views averaged per sample)."""
    total, samples = 0.0, 0
    for images, targets in session.batches():
        outcome = session.learn(images, targets)
        if outcome.samples:
            total, samples = total + outcome.loss * outcome.samples, samples + outcome.samples
        if outcome.stepped:
            scheduler.step()
            if ema is not None:
                ema.update(session.network)
            bar.update(1)
            bar.set_postfix(loss=f"{total / max(samples, 1):.4f}", refresh=False)
    return total / samples if samples else float("nan")


@dataclass
class _Progress:
    """What the epochs produced so far; survives an interrupt."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None  # epoch, val metrics and CPU state_dict of the best epoch
    interrupted: bool = False
    stopped_early: bool = False  # the epoch hook asked to stop before the last epoch



def _fit(session: Session, scheduler, ema: WeightEMA | None, evaluated: nn.Module, score, record: RunRecord,
         config: TrainConfig, show: bool, on_epoch: EpochHook | None) -> _Progress:
    """The epochs: train, validate, keep the best checkpoint. A KeyboardInterrupt ends them early."""
    progress = _Progress()
    weights = "ema" if ema is not None else "raw"
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            with tqdm(total=session.steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", disable=not show,
                      leave=False, file=sys.stderr) as bar:
                train_loss = _train_epoch(session, scheduler, ema, bar)
            val = score(evaluated)
            row = {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()},
                   "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - epoch_start}
            privacy = session.privacy()
            if privacy is not None:
                row["epsilon"] = privacy["epsilon"]
            progress.history.append(row)
            best = progress.best
            if config.improves(val[config.select], None if best is None else best["val"][config.select]):
                state = {k: v.detach().cpu().clone() for k, v in evaluated.state_dict().items()}
                progress.best = {"epoch": epoch, "val": val, "state": state}
                record.checkpoint(state, epoch, weights)
            if on_epoch is not None and not on_epoch(epoch, val[config.select]) and epoch < config.epochs:
                progress.stopped_early = True
                break
    except KeyboardInterrupt:
        progress.interrupted = True
    finally:
        session.close()
    return progress


def peak_bytes(runtime: Runtime) -> int:
    """CUDA: the most bytes tensors held on the device; CPU: the process's peak resident size
    (data, code and all tensors)."""
    if runtime.device.type == "cuda":
        return torch.cuda.max_memory_allocated(runtime.device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def train(arch: Arch, splits: Splits, config: TrainConfig, out_dir: str | Path | None = None,
          progress: bool = True, test: bool = True, on_epoch: EpochHook | None = None,
          initial_state: dict[str, Any] | None = None, cluster: Cluster = SINGLE) -> TrainResult:
    """Trains `arch` (adapted to the data, see `adapt_arch`) and returns the metrics and models;
    with `out_dir`, writes the files listed in `eqnas.train.record`. A KeyboardInterrupt keeps
    the best checkpoint, writes metrics with "interrupted": true, and is re-raised. `test=False`
    (search proxies, law sweeps) selects on validation and never touches the test split;
    `on_epoch` (see `EpochHook`) lets a search stop a trial after any epoch; `initial_state` (a
    state_dict of the adapted architecture) starts from trained weights instead of the seeded
    initialisation (a search promotion continuing a shorter run; optimiser and schedule start
    afresh). `cluster`: this process's rank among several (`eqnas.train.distributed`); only rank 0
    writes `out_dir` and shows progress."""
    start = time.perf_counter()
    out_dir = None if out_dir is None else Path(out_dir)
    runtime = resolve_runtime(cluster.device(config.device), config.dp)
    arch, changes = adapt_arch(arch, splits.info, config)
    memory = plan_memory(arch, config.batch_size, config.aug_mult, config.dp_mode if config.dp else "plain",
                         runtime.device, config.physical_batch_size)  # refuses before anything is allocated
    config = config.replace(physical_batch_size=memory.physical_batch_size)
    if progress:
        print(memory.describe(), file=sys.stderr)
    seed_everything(config.seed)
    # channels_last applies to the inputs only: eqnas filters are expanded from coefficients on
    # every call (and bases are rank 5), so there is no stored 4-d weight to convert
    network = build(arch)
    if initial_state is not None:
        network.load_state_dict(initial_state)
    network = network.to(runtime.device)
    ema = WeightEMA(network, config.ema_decay) if config.ema_decay > 0 else None  # before Opacus adds hooks
    train_set = take_subset(splits.train, config.subset, config.seed)
    criterion = make_criterion(splits.info.task, config.label_smoothing)
    session = _session(network, config, train_set, criterion, runtime, cluster)
    scheduler = make_scheduler(session.optimizer, config.schedule, session.steps_per_epoch * config.epochs)
    record = RunRecord(out_dir if cluster.is_main else None, arch, config)

    def score(model: nn.Module, split=splits.val) -> dict[str, float]:
        return evaluate(model, split, splits.info.task, criterion, runtime, config.eval_batch_size)

    evaluated = ema.module if ema is not None else network
    done = _fit(session, scheduler, ema, evaluated, score, record, config,
                progress and cluster.is_main and sys.stderr.isatty(), on_epoch)
    model = build(arch).to(runtime.device)
    test_scores = None
    if done.best is not None:
        model.load_state_dict(done.best["state"])
        test_scores = score(model, splits.test) if test else None
    sizes = {"train_size": len(train_set), "val_size": len(splits.val), "test_size": len(splits.test)}
    metrics = {
        **{f"test_{key}": None if test_scores is None else test_scores[key] for key in ("acc", "auc", "loss")},
        "weights": "ema" if ema is not None else "raw",
        "selected_by": f"val_{config.select}",
        "best_epoch": None if done.best is None else done.best["epoch"],
        "best_val": None if done.best is None else done.best["val"],
        "epochs": len(done.history),
        "epochs_planned": config.epochs,
        "seconds": time.perf_counter() - start,
        "interrupted": done.interrupted,
        "stopped_early": done.stopped_early,
        "history": done.history,
        "privacy": session.privacy(),
        "arch_changes": changes,
        "arch": arch.to_dict(),
        "data": {**dataclasses.asdict(splits.info), **sizes},
        "runtime": {**runtime.to_dict(), **cluster.to_dict()},
        "memory": {**memory.to_dict(), "peak_bytes": peak_bytes(runtime)},
        "config": config.to_dict(),
    }
    record.finish(metrics)
    if done.interrupted:
        raise KeyboardInterrupt
    return TrainResult(metrics=metrics, model=model.cpu().eval(), raw_model=network.cpu().eval(), out_dir=out_dir)
