"""DP-SGD through Opacus: Opacus enters eqnas here (this module and the per-layer rules it
registers, `eqnas.train.grad_samplers`, are the only ones that import it).

Conventions, stated once:
- Sampling: Poisson, sample rate q = 1 / ceil(N / batch_size) (Opacus's `make_private_with_epsilon`),
  so the expected logical batch is N*q <= batch_size; one epoch is 1/q steps.
- Noise: the multiplier is the smallest (to Opacus's tolerance 0.01) that keeps the chosen
  accountant's epsilon at or below the target after `epochs` epochs, or the fixed
  `noise_multiplier` when the config gives one (a published recipe's sigma).
- Reported epsilon: `accountant.get_epsilon(delta)` for the steps actually taken (so an
  interrupted run reports less), with the same accountant (`rdp` or `prv`).
- delta: the given value, else min(1e-5, 1/N). delta must be well below 1/N (releasing one random
  record outright is (0, 1/N)-DP); 1e-5 is the convention at CIFAR scale (De et al. 2022 and
  Hölzl et al. 2023 use it for N = 50,000), and for N > 100,000 we fall back to 1/N, the scale De
  et al. use on ImageNet (8e-7 for 1.28M images).
- Clipping: flat, over all parameters, per sample; with augmentation multiplicity K the
  per-view gradients of a sample are averaged before clipping, so one sample still contributes
  one clipped gradient and the accountant sees the B samples, not B*K views.
- Modes (`dp_mode`), the same clipped sum: `hooks` builds every layer's per-sample gradients
  (`average_views` then averages views); `ghost` (Opacus's fast gradient clipping) takes each
  sample's gradient norm layer by layer (eqnas's norm rules, views grouped per sample inside
  them), then a second backward pass of the per-sample losses (each the mean over the sample's
  views) weighted by their clipping factors.
- Guarantee: it covers the training split. Model selection uses the validation split, which is
  not protected by this guarantee.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from opacus import PrivacyEngine
from opacus.distributed import DifferentiallyPrivateDistributedDataParallel
from opacus.optimizers import DistributedDPOptimizer, DPOptimizer
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from opacus.utils.batch_memory_manager import wrap_data_loader
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from opacus.validators import ModuleValidator
from opacus.validators.errors import UnsupportedModuleError
from torch import Tensor, nn
from torch.utils.data import DataLoader

from eqnas.errors import EqnasError
from eqnas.train.config import TrainConfig
from eqnas.train.distributed import SINGLE, Cluster, rank_generator
from eqnas.train.grad_samplers import ghost_module, grad_sample_module, private_buffers  # importing registers eqnas's rules
from eqnas.train.session import ForwardLoss, Outcome

DEFAULT_DELTA = 1e-5


def resolve_delta(delta: float | None, train_size: int) -> float:
    """The given delta, else min(1e-5, 1/N) (see the module docstring for why)."""
    return delta if delta is not None else min(DEFAULT_DELTA, 1.0 / train_size)


def validate_private(network: nn.Module) -> None:
    """Refuses, as an EqnasError, networks whose per-sample gradients would not be per-sample:
    layers keeping buffers that may mix samples (batch-norm statistics; the constant buffers of
    eqnas layers, such as a kernel basis, are declared in `eqnas.train.grad_samplers`), and
    whatever Opacus's module validator rejects."""
    found = private_buffers(network)
    if found:
        raise EqnasError(f"the network cannot be trained with DP-SGD: {', '.join(found)} may mix samples "
                         f"(use norm 'group' for per-sample normalisation)")
    try:
        ModuleValidator.validate(network, strict=True)
    except UnsupportedModuleError as error:
        problems = " ".join(" ".join(str(e).split()) for e in error.args)
        raise EqnasError(f"the network cannot be trained with DP-SGD: {problems} "
                         f"(use norm 'group' for per-sample normalisation)") from None


def wrap_private(network: nn.Module, config: TrainConfig) -> nn.Module:
    """Opacus's wrapper for `config.dp_mode`, after `validate_private` turned refusals into errors."""
    validate_private(network)
    if config.dp_mode == "hooks":
        return grad_sample_module(network, loss_reduction="mean")
    try:
        return ghost_module(network, config.aug_mult, config.max_grad_norm)
    except NotImplementedError as error:
        raise EqnasError(f"dp_mode='ghost' with aug_mult={config.aug_mult}: {error}; use dp_mode 'hooks'") from None


class PerSampleLoss:
    """Ghost mode's criterion: each sample's mean loss over its K views, handed to Opacus's
    two-pass loss (its backward clips by the norm rules' per-sample norms)."""

    def __init__(self, criterion: nn.Module, module: nn.Module, optimizer: torch.optim.Optimizer, views: int) -> None:
        self.criterion, self.module, self.optimizer, self.views = criterion, module, optimizer, views

    def __call__(self, logits: Tensor, targets: Tensor) -> DPTensorFastGradientClipping:
        reduction, self.criterion.reduction = self.criterion.reduction, "none"
        try:
            losses = self.criterion(logits, targets)
        finally:
            self.criterion.reduction = reduction
        # [B*K] or [B*K, classes] -> [B]: the mean the criterion would take, per sample
        per_sample = losses.reshape(len(losses) // self.views, -1).mean(1)
        return DPTensorFastGradientClipping(self.module, self.optimizer, per_sample, "mean")


def average_views(params: Iterable[nn.Parameter], views: int) -> None:
    """Per-sample gradients of the K views of each sample -> their mean, before clipping.

    The model saw [B*K] inputs, sample-major (see `eqnas.train.augment.Views`), so Opacus left
    p.grad_sample as [B*K, ...]; it becomes [B, ...], the gradient of each sample's mean loss over
    its views (Opacus's "mean" reduction has already undone the 1/(B*K) of the loss).
    """
    if views == 1:
        return
    for p in params:
        grad_sample = getattr(p, "grad_sample", None)
        if grad_sample is None:
            continue
        if not isinstance(grad_sample, Tensor):
            raise RuntimeError("per-sample gradients were accumulated over several backward passes")
        p.grad_sample = grad_sample.reshape(-1, views, *grad_sample.shape[1:]).mean(dim=1)


def _steps(engine: PrivacyEngine) -> int:
    return sum(steps for _, _, steps in engine.accountant.history)


class PrivateSession:
    """DP-SGD: Poisson batches, per-sample clipping and noise; physical batches of at most
    `config.physical_batch_size` images (views included) accumulate into one logical step. On
    several ranks (`cluster`), Opacus's distributed DP-SGD (`distribute_private`)."""

    def __init__(self, network: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                 forward: ForwardLoss, config: TrainConfig, noise_generator: torch.Generator,
                 cluster: Cluster = SINGLE) -> None:
        self.network, self.config = network, config
        self.views = config.aug_mult
        self.train_size = len(loader.dataset)
        self.delta = resolve_delta(config.delta, self.train_size)
        with warnings.catch_warnings():  # secure_mode is off on purpose: seeded, repeatable research runs
            warnings.filterwarnings("ignore", message="Secure RNG turned off")
            self.engine = PrivacyEngine(accountant=config.accountant)
        if cluster.distributed:  # Opacus's DDP wrapper: copies rank 0's weights to every rank
            if config.dp_mode == "ghost":
                raise EqnasError("dp_mode='ghost' on several ranks: not supported yet (Opacus's distributed "
                                 "optimizer with the ghost loss wrapper is untested here); use dp_mode 'hooks'")
            network = DifferentiallyPrivateDistributedDataParallel(network)
        common = dict(module=wrap_private(network, config), optimizer=optimizer, data_loader=loader,
                      max_grad_norm=config.max_grad_norm, poisson_sampling=True, noise_generator=noise_generator,
                      grad_sample_mode=config.dp_mode)
        try:
            with warnings.catch_warnings():  # the noise search probes huge multipliers, where the best RDP order
                warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")  # is the largest
                if config.noise_multiplier is not None:
                    made = self.engine.make_private(noise_multiplier=config.noise_multiplier, **common)
                else:
                    made = self.engine.make_private_with_epsilon(
                        target_epsilon=config.epsilon, target_delta=self.delta, epochs=config.epochs, **common)
        except ValueError as error:  # e.g. "The privacy budget is too low."
            raise EqnasError(f"epsilon={config.epsilon}, delta={self.delta:g} over {config.epochs} epochs: "
                             f"{error}") from None
        # ghost mode also returns Opacus's loss wrapper, replaced by PerSampleLoss (views, multi-label)
        self.model, self.dp_optimizer, dp_loader = made[0], made[1], made[-1]
        self.expected_batch_size = self.dp_optimizer.expected_batch_size  # of the logical batch
        if cluster.distributed:
            self.dp_optimizer, dp_loader = distribute_private(self.engine, self.dp_optimizer, dp_loader, cluster,
                                                              config.seed)
        self.ghost = config.dp_mode == "ghost"
        self.forward = forward if not self.ghost else ForwardLoss(
            forward.views, PerSampleLoss(forward.criterion, self.model, self.dp_optimizer, self.views), forward.runtime)
        self.optimizer = optimizer
        self.sample_rate = 1.0 / len(loader)
        self.steps_per_epoch = len(dp_loader)
        samples = config.physical_samples
        self.loader = dp_loader if samples is None else wrap_data_loader(
            data_loader=dp_loader, max_batch_size=samples, optimizer=self.dp_optimizer)

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        return iter(self.loader)

    def learn(self, images: Tensor, targets: Tensor) -> Outcome:
        before = _steps(self.engine)
        if len(images) == 0:
            # an empty Poisson batch is still a noisy step; Opacus needs per-sample gradients to exist
            for p in self.dp_optimizer.params:
                if self.ghost:
                    p.grad = torch.zeros_like(p)
                else:
                    p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
            loss = float("nan")
        else:
            loss_tensor = self.forward(self.model, images, targets)
            with warnings.catch_warnings():  # the first layer's input needs no gradient; Opacus hooks still fire
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss_tensor.backward()
            if not self.ghost:
                average_views(self.dp_optimizer.params, self.views)
            loss = loss_tensor.item()
        self.dp_optimizer.step()
        self.dp_optimizer.zero_grad(set_to_none=True)
        return Outcome(loss=loss, samples=len(images), stepped=_steps(self.engine) > before)

    def close(self) -> None:
        """Removes Opacus's hooks and per-sample attributes, leaving `network` a plain module."""
        self.model.cleanup()

    def epsilon(self) -> float:
        return float(self.engine.get_epsilon(self.delta)) if _steps(self.engine) else 0.0

    def privacy(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon(),
            "target_epsilon": None if self.config.noise_multiplier is not None else self.config.epsilon,
            "delta": self.delta,
            "delta_source": "given" if self.config.delta is not None else "min(1e-5, 1/N)",
            "accountant": self.config.accountant,
            "dp_mode": self.config.dp_mode,
            "noise_multiplier": float(self.dp_optimizer.noise_multiplier),
            "sample_rate": self.sample_rate,
            "expected_batch_size": self.expected_batch_size,
            "steps": _steps(self.engine),
            "max_grad_norm": self.config.max_grad_norm,
            "aug_mult": self.views,
            "train_size": self.train_size,
            "sampling": "poisson",
            "clipping": "flat",
            "secure_rng": False,
        }


class ShardPoissonSampler(UniformWithReplacementSampler):
    """Each of `steps` batches holds every record of this rank's shard (records rank, rank +
    ranks, ...) independently with probability `sample_rate`; empty batches are yielded too."""

    def __init__(self, size: int, sample_rate: float, cluster: Cluster, generator: torch.Generator,
                 steps: int) -> None:
        self.shard = list(range(cluster.rank, size, cluster.world_size))
        super().__init__(num_samples=len(self.shard), sample_rate=sample_rate, generator=generator, steps=steps)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in super().__iter__():
            yield [self.shard[i] for i in batch]


def distribute_private(engine: PrivacyEngine, optimizer: DPOptimizer, loader: DataLoader, cluster: Cluster,
                       seed: int) -> tuple[DistributedDPOptimizer, DataLoader]:
    """What `make_private` makes for a DDP module, in place of its one-process `optimizer` and
    `loader` (see `eqnas.train.distributed` for the conventions).

    `make_private` goes distributed only for a module that is itself a DDP wrapper, while eqnas
    hands it a GradSampleModule built with eqnas's own buffer check. So: the same
    `DistributedDPOptimizer` and accountant hook, and a Poisson sampler over this rank's shard
    that, unlike Opacus's distributed one, also yields empty local batches; Opacus's skips them,
    which leaves that rank a step behind the others (its next all-reduce meets their next step).
    """
    shared = DistributedDPOptimizer(
        optimizer.original_optimizer, noise_multiplier=optimizer.noise_multiplier,
        max_grad_norm=optimizer.max_grad_norm, loss_reduction=optimizer.loss_reduction,
        expected_batch_size=optimizer.expected_batch_size / cluster.world_size,  # this rank's share
        generator=optimizer.generator)
    shared.attach_step_hook(engine.accountant.get_optimizer_hook_fn(sample_rate=loader.sample_rate))
    sampler = ShardPoissonSampler(len(loader.dataset), loader.sample_rate, cluster,
                                  rank_generator(seed, "loader", cluster.rank), steps=len(loader))
    local = DataLoader(loader.dataset, batch_sampler=sampler, collate_fn=loader.collate_fn,
                       num_workers=loader.num_workers, persistent_workers=loader.persistent_workers)
    return shared, local
