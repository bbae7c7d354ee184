"""A small real check of the supernet: train the supernet of a space for a short while on one
torch thread, then score the largest, the smallest and a few random subnets under a FLOP budget
with inherited weights (batch norm recalibrated), timing each score.

Goal (issue 11): scoring one subnet takes at most 5 s on this CPU. A rerun with the same --out
finds the finished training and only scores.

    python benchmarks/supernet_check.py [--space spaces/c8_resnet.yaml] [--subset 2000] [--out runs/supernet-check]
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from eqnas.data.registry import load_dataset
from eqnas.profiling import arch_flops, format_flops, parse_budget
from eqnas.search.space import load_space
from eqnas.supernet import Supernet
from eqnas.supernet.score import score_data, score_subnet
from eqnas.supernet.subnets import adapt_space
from eqnas.supernet.train import Sandwich, train_supernet
from eqnas.train.config import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="spaces/c8_resnet.yaml")
    parser.add_argument("--data", default="fashion-mnist-rot")
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--kernels", default="map")
    parser.add_argument("--random", type=int, default=4, help="random subnets scored (under --flops)")
    parser.add_argument("--flops", default="100M")
    parser.add_argument("--out", default="runs/supernet-check")
    args = parser.parse_args()
    torch.set_num_threads(1)

    space = load_space(args.space)
    splits = load_dataset(args.data, resolution=space.choices["resolution"][0], seed=0)
    supernet = Supernet(adapt_space(space, splits.info), kernels=args.kernels)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch, subset=args.subset, lr=space.proxy.lr,
                         schedule="onecycle", device="cpu")
    start = time.perf_counter()
    train_supernet(supernet, splits, config, args.out, Sandwich(log_every=4, save_every=8))
    train_seconds = time.perf_counter() - start
    print(f"supernet trained: {train_seconds:.0f}s ({args.epochs} epoch(s), {args.subset} images, 1 thread)")

    data = score_data(splits)
    budget, rng = parse_budget(args.flops), random.Random(0)
    picks = [("largest", supernet.largest()), ("smallest", supernet.smallest())]
    while len(picks) < 2 + args.random:
        arch = supernet.random(rng)
        if arch_flops(arch) <= budget:
            picks.append((f"random {len(picks) - 1}", arch))
    rows = []
    for name, arch in picks:
        cpu = time.process_time()
        scores = score_subnet(supernet, arch, data)
        cpu = time.process_time() - cpu  # apart from wall time: this machine's cores are shared
        rows.append({"subnet": name, "flops": arch_flops(arch), **scores, "cpu_seconds": cpu, "arch": arch.to_dict()})
        print(f"{name:10s} {format_flops(rows[-1]['flops']):>6s} FLOPs  acc {scores['acc']:.4f}  "
              f"score {scores['seconds']:.1f}s wall, {cpu:.1f}s CPU", flush=True)
    Path(args.out, "check.json").write_text(json.dumps({"train_seconds": train_seconds, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
