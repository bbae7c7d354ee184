"""`eqnas retrain --arch A.json --data D --out DIR [...]`: train an architecture file on a dataset.

Under torchrun (`torchrun --nproc_per_node N -m eqnas retrain ...`) each process is one rank of
one run (`eqnas.train.distributed`); rank 0 alone writes --out and prints.

Every training flag defaults to "not given": the value then comes from --recipe if it sets it,
else from `TrainConfig`'s default (shown in brackets).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from eqnas.arch import ACTIVATIONS, NORMS
from eqnas.cli.options import FiniteFloat, arch_option, load_arch
from eqnas.train.augment import AUGMENTATIONS
from eqnas.train.config import ACCOUNTANTS, DP_MODES, SELECT_METRICS, TrainConfig
from eqnas.train.optim import OPTIMIZERS, SCHEDULES
from eqnas.train.recipes import RECIPES, recipe_names

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _option(flag: str, field: str, help: str, shown: str | None = None, **kwargs: Any):
    """A TrainConfig flag: default None (not given), the dataclass default shown in the help."""
    default = shown if shown is not None else _DEFAULTS[field]
    return click.option(flag, field, default=None, help=f"{help} [default: {default}]", **kwargs)


def _help() -> str:
    lines = ["Train an architecture file on a dataset (optionally with DP-SGD) and write metrics.json,",
             "checkpoint.pt, arch.json, config.json and curves.png to --out.", "",
             "The arch's channels, classes and resolution follow the data; under --dp its batch norm",
             "becomes group norm. Explicit flags override --recipe, which overrides the defaults.",
             "Under torchrun (torchrun --nproc_per_node N -m eqnas retrain ...) one run spans the N",
             "ranks, --batch-size is split over them, and rank 0 alone writes --out.",
             "", "\b", "Recipes (--recipe):"]
    lines += [f"  {name:<11} {RECIPES[name].citation}" for name in recipe_names()]
    return "\n".join(lines)


@click.command("retrain", help=_help())
@arch_option()
@click.option("--data", required=True, help="Dataset name (e.g. synthetic, fashion-mnist, pathmnist) or npz:PATH.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Folder holding the data files.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--recipe", type=click.Choice(recipe_names()), default=None, help="Named preset (see above).")
@click.option("--resolution", type=click.IntRange(min=1), default=None,
              help="Image size to train at (the data is resized). [default: the arch's resolution]")
@click.option("--val-fraction", type=FiniteFloat(), default=0.1, show_default=True,
              help="Share of the training images held out for validation where the data has no val split.")
@_option("--epochs", "epochs", "Passes over the training data.", type=int)
@_option("--batch-size", "batch_size", "Logical batch (expected Poisson batch under --dp).", type=int)
@_option("--physical-batch-size", "physical_batch_size", "Most images per forward pass, views included.",
        shown="the whole batch", type=int)
@_option("--optimizer", "optimizer", "Optimizer.", type=click.Choice(sorted(OPTIMIZERS)))
@_option("--lr", "lr", "Learning rate.", type=FiniteFloat())
@_option("--momentum", "momentum", "SGD momentum.", type=FiniteFloat())
@_option("--weight-decay", "weight_decay", "Weight decay.", type=FiniteFloat())
@_option("--schedule", "schedule", "Learning-rate schedule.", type=click.Choice(sorted(SCHEDULES)))
@_option("--label-smoothing", "label_smoothing", "Label smoothing.", type=FiniteFloat())
@_option("--augment", "augment", "Training augmentation.", type=click.Choice(sorted(AUGMENTATIONS)))
@click.option("--no-augment", is_flag=True, help="Shorthand for --augment none.")
@_option("--aug-mult", "aug_mult", "Augmented views per sample (gradients averaged per sample before clipping).",
        type=int)
@_option("--ema-decay", "ema_decay", "Decay of the weight EMA used for evaluation (0: off).", type=FiniteFloat())
@_option("--select", "select", "Validation metric choosing the checkpoint.", type=click.Choice(SELECT_METRICS))
@_option("--norm", "norm", "Override the arch's norm.",
        shown="the arch's; group instead of batch under --dp", type=click.Choice(NORMS))
@_option("--activation", "activation", "Override the arch's activation.", shown="the arch's",
        type=click.Choice(ACTIVATIONS))
@_option("--dp/--no-dp", "dp", "Train with DP-SGD (Opacus).")
@_option("--epsilon", "epsilon", "Target epsilon (with --dp).", type=FiniteFloat())
@_option("--noise-multiplier", "noise_multiplier", "Fixed noise multiplier instead of a target epsilon (with --dp).",
         shown="from --epsilon", type=FiniteFloat())
@_option("--delta", "delta", "delta (with --dp).", shown="min(1e-5, 1/N)", type=FiniteFloat())
@_option("--max-grad-norm", "max_grad_norm", "Per-sample clipping norm (with --dp).", type=FiniteFloat())
@_option("--accountant", "accountant", "Privacy accountant (with --dp).", type=click.Choice(ACCOUNTANTS))
@_option("--dp-mode", "dp_mode", "Per-sample clipping (with --dp): hooks builds per-sample gradients, ghost takes "
         "per-sample norms layer by layer and runs a second backward pass.", type=click.Choice(DP_MODES))
@_option("--seed", "seed", "Seed for weights, data order, augmentation and noise.", type=int)
@_option("--device", "device", "auto (CUDA if present), cpu, cuda or cuda:N.", type=str)
@_option("--subset", "subset", "Train on a seeded random subset of this many images.",
        shown="all", type=int)
@_option("--workers", "num_workers", "Data-loading worker processes.", type=int)
@click.option("--init-from-supernet", "supernet_dir", default=None, type=click.Path(file_okay=False),
              help="Start from the weights of the supernet trained in this folder (a search run folder of "
                   "--strategy supernet, or a folder holding supernet.pt) instead of a fresh initialisation.")
def command(arch_path: str, data: str, data_root: str | None, out_dir: str, recipe: str | None,
            resolution: int | None, val_fraction: float, no_augment: bool, supernet_dir: str | None,
            **flags: Any) -> None:
    from eqnas.data.registry import load_dataset
    from eqnas.errors import EqnasError
    from eqnas.train.distributed import cluster_from_env, join, leave, stop_on_sigterm
    from eqnas.train.loop import train
    from eqnas.train.recipes import resolve_config

    if no_augment:
        if flags["augment"] not in (None, "none"):
            raise EqnasError(f"--no-augment contradicts --augment {flags['augment']}")
        flags["augment"] = "none"
    config = resolve_config(recipe, **flags)
    arch = load_arch(arch_path)
    cluster = join(cluster_from_env(), config.device)
    stop_on_sigterm(cluster)
    try:
        with cluster.main_first():  # one download, not one per rank
            splits = load_dataset(data, root=data_root, resolution=resolution or arch.resolution, seed=config.seed,
                                  val_fraction=val_fraction)
        initial_state = None if supernet_dir is None else supernet_state(supernet_dir, arch, splits.info, config)
        result = train(arch, splits, config, Path(out_dir), progress=True, cluster=cluster, initial_state=initial_state)
    finally:
        leave(cluster)
    if cluster.is_main:
        for change in result.metrics["arch_changes"]:
            click.echo(f"arch changed: {change}")
        click.echo(_summary(result.metrics, out_dir))


def _summary(metrics: dict[str, Any], out_dir: str) -> str:
    privacy = metrics["privacy"]
    eps = "not private" if privacy is None else (
        f"eps {privacy['epsilon']:.3f} (delta {privacy['delta']:.2g}, {privacy['accountant']})")
    ranks = metrics["runtime"]["ranks"]
    where = f", {ranks} ranks ({metrics['runtime']['backend']})" if ranks > 1 else ""
    return (f"test acc {metrics['test_acc']:.4f}  AUC {metrics['test_auc']:.4f}  {eps}  "
            f"[{metrics['weights']} weights, best epoch {metrics['best_epoch']}/{metrics['epochs']}{where}] -> {out_dir}")


def supernet_state(supernet_dir: str, arch, info, config) -> dict:
    """The state_dict of the network `train` will build (the arch adapted to the data and config),
    taken from the supernet trained in `supernet_dir`."""
    from eqnas.supernet.record import load_subnet
    from eqnas.train.adapt import adapt_arch

    adapted, _ = adapt_arch(arch, info, config)
    return load_subnet(supernet_dir, adapted).state_dict()
