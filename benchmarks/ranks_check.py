"""Several ranks against one process, under torchrun: one step of `examples/c8_small.json` on the
same logical batch with and without DP (relative error of the update), then the training
throughput of this many ranks at one logical batch, for the 1 -> N GPUs scaling.

Goal (issue 17): relative error <= 1e-5 (tests/test_distributed.py checks the same on CPU/gloo).

    torchrun --nproc_per_node N benchmarks/ranks_check.py [--device cuda] [--batch 1024] [--steps 20]

Rank 0 prints one JSON line: ranks, backend, the two errors, images per second.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.data.base import DatasetInfo
from eqnas.train.adapt import adapt_arch
from eqnas.train.config import TrainConfig
from eqnas.train.distributed import SINGLE, Cluster, cluster_from_env, join, leave
from eqnas.train.loop import _session
from eqnas.train.optim import make_criterion
from eqnas.train.runtime import resolve_runtime, seed_everything

C8 = Arch.load(Path(__file__).resolve().parents[1] / "examples" / "c8_small.json")
INFO = DatasetInfo(name="random", channels=1, resolution=17, num_classes=10)
# SGD without momentum, so the update is the averaged gradient itself
STEP = dict(epochs=1, optimizer="sgd", momentum=0.0, lr=0.5, schedule="constant")


def images(count: int, seed: int, resolution: int = INFO.resolution) -> TensorDataset:
    rng = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(count, 1, resolution, resolution, generator=rng),
                         torch.randint(0, INFO.num_classes, (count,), generator=rng))


def step_cases(batch: int, ranks: int) -> dict[str, dict]:
    """Without DP one process passes the ranks' shares one at a time (the same batch-norm
    batches); with DP clipping is active and the noise is fixed by the seed."""
    return {"plain": dict(batch_size=batch, physical_batch_size=batch // ranks),
            "dp": dict(batch_size=batch, dp=True, noise_multiplier=0.2, max_grad_norm=0.05)}


def one_step(config: TrainConfig, cluster: Cluster, train_set: TensorDataset, count: int) -> dict[str, torch.Tensor]:
    """Parameters (on the CPU) after one step on the first `count` images of `train_set`, this
    rank's share of them."""
    arch, _ = adapt_arch(C8, INFO, config)
    seed_everything(config.seed)
    runtime = resolve_runtime(cluster.device(config.device), config.dp)
    network = build(arch).to(runtime.device)
    session = _session(network, config, train_set, make_criterion("multiclass", 0.0), runtime, cluster)
    share = count // cluster.world_size
    part = slice(cluster.rank * share, (cluster.rank + 1) * share)
    assert session.learn(train_set.tensors[0][:count][part], train_set.tensors[1][:count][part]).stepped
    session.close()
    return {name: p.detach().cpu().clone() for name, p in network.named_parameters()}


def initial(config: TrainConfig) -> dict[str, torch.Tensor]:
    seed_everything(config.seed)
    return {name: p.detach().clone() for name, p in build(adapt_arch(C8, INFO, config)[0]).named_parameters()}


def relative_error(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor],
                   start: dict[str, torch.Tensor]) -> float:
    """|change made - change expected| / |change expected|, over all parameters at once."""
    diff = torch.cat([(got[k] - want[k]).flatten() for k in want])
    moved = torch.cat([(want[k] - start[k]).flatten() for k in want])
    return float(diff.norm() / moved.norm())


def images_per_second(config: TrainConfig, cluster: Cluster, steps: int) -> float:
    """Logical-batch images per second of plain training over `steps` steps, after 3 warm-up steps."""
    arch, _ = adapt_arch(C8, INFO, config)
    runtime = resolve_runtime(cluster.device(config.device), False)
    network = build(arch).to(runtime.device)
    data = images(config.batch_size, 7)
    session = _session(network, config, data, make_criterion("multiclass", 0.0), runtime, cluster)
    share = config.batch_size // cluster.world_size
    x, y = data.tensors[0][:share], data.tensors[1][:share]
    for index in range(3 + steps):
        if index == 3:
            if runtime.device.type == "cuda":
                torch.cuda.synchronize(runtime.device)
            start = time.perf_counter()
        session.learn(x, y)
    if runtime.device.type == "cuda":
        torch.cuda.synchronize(runtime.device)
    return config.batch_size * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=1024, help="logical batch of the timing")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    cluster = join(cluster_from_env(), args.device)
    result: dict = cluster.to_dict()
    try:
        check_batch = 8 * cluster.world_size
        train_set = images(4 * check_batch, 0)
        for case, extra in step_cases(check_batch, cluster.world_size).items():
            config = TrainConfig(**STEP, **extra, device=args.device)
            shared = one_step(config, cluster, train_set, check_batch)
            if cluster.is_main:
                result[f"{case}_error"] = relative_error(shared, one_step(config, SINGLE, train_set, check_batch),
                                                         initial(config))
        timing = TrainConfig(**STEP, batch_size=args.batch, device=args.device)
        result["images_per_s"] = images_per_second(timing, cluster, args.steps)
    finally:
        leave(cluster)
    if cluster.is_main:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
