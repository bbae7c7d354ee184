"""Training a supernet with the sandwich rule and in-place distillation (BigNAS, Yu et al. 2020).

Each step: the largest subnet learns from the labels; the smallest and `random_subnets` random
ones learn from the largest one's outputs of the same images (detached soft targets); their
gradients add up in the shared store and one optimizer step follows. With `flops_cap` the three
kinds are taken from the subnets within that many FLOPs (eqnas.supernet.draws). The optimizer,
schedule, loss, subset and loader are eqnas's own (eqnas.train). A checkpoint (`supernet.pt`) is
written every `save_every` steps, at each epoch's end and on Ctrl-C, and a rerun resumes from it.
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from eqnas.arch import Arch
from eqnas.data.base import Splits
from eqnas.errors import EqnasError
from eqnas.registry import Registry
from eqnas.supernet.draws import WholeSpace, WithinCap, subnet_draws
from eqnas.supernet.record import read_supernet, save_supernet, space_to_dict, supernet_file
from eqnas.supernet.supernet import Supernet
from eqnas.train.adapt import TrainingMode
from eqnas.train.config import TrainConfig
from eqnas.train.loaders import take_subset, train_loader
from eqnas.train.optim import make_criterion, make_optimizer, make_scheduler
from eqnas.train.runtime import resolve_runtime, seed_everything

Distill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (student logits, teacher logits) -> loss
DISTILLATION: Registry[Distill] = Registry("task")


@DISTILLATION.register("multiclass")
def _soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return -(teacher.softmax(-1) * student.log_softmax(-1)).sum(-1).mean()


@DISTILLATION.register("multilabel")
def _soft_binary_cross_entropy(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(student, teacher.sigmoid())


@dataclass(frozen=True)
class Sandwich:
    """The supernet-specific knobs (the rest is an ordinary TrainConfig)."""

    random_subnets: int = 2  # sampled subnets per step, besides the largest and the smallest
    save_every: int = 50  # optimizer steps between checkpoints
    log_every: int = 10  # optimizer steps between progress lines
    flops_cap: int | None = None  # train only subnets within this many FLOPs; None: every subnet

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            if key == "flops_cap" and value is None:
                continue
            if not isinstance(value, int) or value < (0 if key == "random_subnets" else 1):
                raise EqnasError(f"sandwich.{key}: must be a {'non-negative' if key == 'random_subnets' else 'positive'} integer, got {value!r}")


UNSUPPORTED = {"dp": False, "ema_decay": 0.0, "augment": "none", "aug_mult": 1, "physical_batch_size": None}


def sandwich_step(supernet: Supernet, images: torch.Tensor, targets: torch.Tensor, archs: list[Arch],
                  criterion: nn.Module, distill: Distill) -> tuple[float, float]:
    """Accumulates the gradients of one sandwich (archs[0] is the teacher); returns (teacher
    loss, mean distillation loss)."""
    teacher = supernet(images, archs[0])
    loss = criterion(teacher, targets)
    loss.backward()
    soft = teacher.detach()
    distilled = []
    for arch in archs[1:]:
        student_loss = distill(supernet(images, arch), soft)
        student_loss.backward()
        distilled.append(student_loss.item())
    return loss.item(), sum(distilled) / max(len(distilled), 1)


def step_archs(draws: WholeSpace | WithinCap, seed: int, epoch: int, step: int, count: int) -> list[Arch]:
    """Largest, smallest and `count` random subnets; the draws depend only on (seed, epoch, step),
    so a resumed training draws what the uninterrupted one would have."""
    rng = random.Random(f"{seed}:{epoch}:{step}")
    return [draws.largest(), draws.smallest(), *(draws.random(rng) for _ in range(count))]


def train_supernet(supernet: Supernet, splits: Splits, config: TrainConfig, out_dir: str | Path | None = None,
                   sandwich: Sandwich = Sandwich(), log: Callable[[str], None] | None = None,
                   flops_cache: dict | None = None, modes: tuple[TrainingMode, ...] = ()) -> list[dict]:
    """Trains `supernet` in place for `config.epochs` (resuming from `out_dir/supernet.pt` when
    one is there) and returns one row per epoch. Progress lines go to `log` (stderr by default).
    A cap counts FLOPs as a search's FlopFilter with `modes` does, into `flops_cache` (its cache)."""
    for key, value in UNSUPPORTED.items():
        if getattr(config, key) != value:
            raise EqnasError(f"supernet training: {key}={getattr(config, key)!r} is not supported (use {value!r})")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    runtime = resolve_runtime(config.device, dp=False)
    seed_everything(config.seed)
    supernet.to(runtime.device).train()
    train_set = take_subset(splits.train, config.subset, config.seed)
    criterion = make_criterion(splits.info.task, config.label_smoothing)
    distill = DISTILLATION.get_or_fail(splits.info.task)
    optimizer = make_optimizer(supernet.parameters(), config.optimizer, config.lr, config.momentum,
                               config.weight_decay)
    steps = -(-len(train_set) // config.batch_size)
    scheduler = make_scheduler(optimizer, config.schedule, steps * config.epochs)
    epoch, done, history = _resume(out_dir, supernet, optimizer, scheduler, config, sandwich, log)
    draws = subnet_draws(supernet, sandwich.flops_cap, flops_cache, modes, log) if epoch <= config.epochs else None

    def save(epoch: int, done: int) -> None:
        if out_dir is not None:
            save_supernet(out_dir, supernet, config=config.to_dict(), sandwich=asdict(sandwich), epoch=epoch,
                          step=done, history=history, optimizer=optimizer.state_dict(),
                          scheduler=scheduler.state_dict(), finished=epoch > config.epochs)

    try:
        while epoch <= config.epochs:
            start, totals = time.perf_counter(), [0.0, 0.0]
            loader = train_loader(train_set, config.batch_size, config.seed * 10_000 + epoch, config.num_workers)
            for step, (images, targets) in enumerate(loader):
                if step < done:
                    continue  # seen before the interruption
                images, targets = images.to(runtime.device), targets.to(runtime.device)
                optimizer.zero_grad(set_to_none=True)
                archs = step_archs(draws, config.seed, epoch, step, sandwich.random_subnets)
                losses = sandwich_step(supernet, images, targets, archs, criterion, distill)
                optimizer.step()
                scheduler.step()
                totals = [t + l for t, l in zip(totals, losses)]
                done = step + 1
                if done % sandwich.log_every == 0 or done == steps:
                    log(f"supernet epoch {epoch}/{config.epochs} step {done}/{steps}: largest loss {losses[0]:.4f}, "
                        f"distillation {losses[1]:.4f}, {time.perf_counter() - start:.1f}s")
                if done % sandwich.save_every == 0:
                    save(epoch, done)
            history.append({"epoch": epoch, "largest_loss": totals[0] / max(steps, 1),
                            "distillation_loss": totals[1] / max(steps, 1), "seconds": time.perf_counter() - start})
            epoch, done = epoch + 1, 0
            save(epoch, done)
    except KeyboardInterrupt:
        save(epoch, done)
        raise
    return history


def _resume(out_dir, supernet: Supernet, optimizer, scheduler, config: TrainConfig, sandwich: Sandwich,
            log) -> tuple[int, int, list[dict]]:
    """(epoch, steps done in it, history) to start from: a saved training of the same supernet
    and config is continued; a different one is an error rather than overwritten."""
    if out_dir is None or not supernet_file(out_dir).is_file():
        return 1, 0, []
    payload = read_supernet(out_dir)
    mine = {"space": space_to_dict(supernet.space), "outer": supernet.outer, "kernels": supernet.kernel_mode.name,
            "config": config.to_dict(), "sandwich": asdict(sandwich)}
    saved = {**payload, "sandwich": {"flops_cap": None, **payload.get("sandwich", {})}}  # saved before caps
    for key, value in mine.items():
        if saved.get(key) != value:
            raise EqnasError(f"{supernet_file(out_dir)}: holds a supernet trained with another {key}; "
                             f"use a new folder or the same settings")
    supernet.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    log(f"supernet: resuming at epoch {payload['epoch']}, step {payload['step']} from {supernet_file(out_dir)}")
    return payload["epoch"], payload["step"], list(payload["history"])
