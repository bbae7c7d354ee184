"""The proxy: how a search trains one candidate, with the same loop as full retraining.

The score is the best validation metric of a short run on a training subset; the test split
is never looked at during a search.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eqnas.arch import Arch
from eqnas.data.base import Splits
from eqnas.search.space import Proxy
from eqnas.search.trial import TrainFn, TrainJob
from eqnas.train.hooks import EpochHook

PROXY_VAL_SIZE = 2000  # validation images per proxy evaluation (seeded subset)
_METRIC_KEYS = {"accuracy": "acc", "auc": "auc"}


def proxy_config(proxy: Proxy, device: str = "auto"):
    from eqnas.train.config import TrainConfig

    return TrainConfig(epochs=proxy.epochs, batch_size=proxy.batch_size, subset=proxy.subset, seed=proxy.seed,
                       device=device, select=_METRIC_KEYS[proxy.metric], schedule="onecycle", lr=proxy.lr,
                       optimizer=proxy.optimizer)


def proxy_splits(splits: Splits, seed: int) -> Splits:
    """The training split as it is (the config's subset applies) and a seeded validation subset;
    the test slot holds that subset too, unused (`train(..., test=False)`)."""
    from eqnas.train.loaders import take_subset

    val = take_subset(splits.val, min(PROXY_VAL_SIZE, len(splits.val)), seed)
    return Splits(train=splits.train, val=val, test=val, info=splits.info)


def proxy_trainer(proxy: Proxy, device: str = "auto", load: Callable[[int], Splits] | None = None) -> TrainFn:
    """(arch, epoch hook or None, job or None) -> best validation metric of the proxy training;
    the hook sees every epoch's metric and may stop the training early. A job (a search rung,
    `TrainJob`) sets the epochs, training images, seed and device (None: the proxy's own), may start from
    saved weights and save the final ones; the validation images stay the proxy seed's, so every
    rung and seed is scored on the same images. Datasets are loaded once per resolution, by
    `load(resolution)` if given (e.g. a study's public part), else from `proxy.data`."""
    from eqnas.data.registry import load_dataset
    from eqnas.train.checkpoint import read_checkpoint, save_checkpoint
    from eqnas.train.loop import train

    config = proxy_config(proxy, device)
    cache: dict[int, Splits] = {}

    def train_one(arch: Arch, on_epoch: EpochHook | None = None, job: TrainJob | None = None) -> float:
        if arch.resolution not in cache:
            full = load(arch.resolution) if load is not None else \
                load_dataset(proxy.data, proxy.data_root, resolution=arch.resolution, seed=proxy.seed)
            cache[arch.resolution] = proxy_splits(full, proxy.seed)
        run_config = config if job is None else config.replace(epochs=job.epochs, subset=job.images, seed=job.seed,
                                                                device=job.device or config.device)
        start = read_checkpoint(job.start_from)["state_dict"] if job is not None and job.start_from else None
        result = train(arch, cache[arch.resolution], run_config, out_dir=None, progress=False, test=False,
                       on_epoch=on_epoch, initial_state=start)
        if job is not None and job.save_to:
            save_checkpoint(Path(job.save_to), result.raw_model.state_dict(), Arch.from_dict(result.metrics["arch"]),
                            epochs=result.metrics["epochs"])
        return float(result.metrics["best_val"][run_config.select])

    return train_one
