"""Rank fidelity of the supernet: Kendall tau of each architecture's accuracy with the supernet's
weights against its stand-alone reference accuracy, for each elastic-kernel mode, and what the
supernet costs against training its largest subnet alone.

The references are the stand-alone trainings recorded by benchmarks/rank_fidelity.py (default: the
committed docs/results/rank_fidelity/bench_rank_c8.jsonl: 12 architectures of
spaces/bench_rank_c8.yaml under 40M FLOPs, 3 epochs on 20,000 images, test accuracy, two seeds).
For each kernel mode a supernet of the space is trained the way `eqnas search --strategy supernet`
trains it (the same function, into `--out/<mode>/`), then every reference architecture is scored
with inherited weights (batch norm recalibrated, 500 validation images) and ranked.

Cost, measured side by side on one torch thread: `--cost-steps` sandwich steps against as many
steps of the largest subnet's static network on the same batches; the supernet training costs
(its epochs x images) / (the reference's) x that ratio of one stand-alone reference training of
its largest subnet. CPU seconds of the process throughout, so other jobs on a shared machine do
not inflate them. A rerun with the same --out finds finished supernets and only scores. With
`--cap`, only the subnets within that many FLOPs are trained (as `eqnas search --strategy
supernet` does for its largest budget) and "largest" means the largest within it; a search's
run folder as `--out/<mode>` lends its supernet and its FLOP counts (`flops.json`).

    python benchmarks/supernet_rank.py [--epochs 1] [--images 6000] [--kernels map,separate] [--cap 100M]
        [--space S --records R] [--out runs/supernet_rank] [--result docs/results/supernet_rank/bench_rank_c8.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from eqnas.data.registry import load_dataset
from eqnas.search import rank_stats
from eqnas.search.fidelity import parse_rungs
from eqnas.search.space import SearchSpace, fit_to_data, load_space
from eqnas.search.supernet_options import SupernetOptions
from eqnas.supernet.score import score_data, score_subnet
from eqnas.supernet.search import train_supernets
from eqnas.supernet.supernet import Supernet
from eqnas.profiling import format_flops, parse_budget
from eqnas.supernet.draws import subnet_draws
from eqnas.supernet.flop_counts import read_flop_counts
from eqnas.supernet.train import DISTILLATION, sandwich_step, step_archs
from eqnas.train.loaders import take_subset, train_loader
from eqnas.train.optim import make_criterion

ROOT = Path(__file__).resolve().parents[1]


def references(path: Path, fidelity: str) -> dict[str, tuple[dict, float]]:
    """key -> (sample, mean reference accuracy over its seeds) from rank_fidelity's records; a
    seed recorded twice (records joined from two files) counts once."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_key: dict[str, dict[int, dict]] = {}
    for row in rows:
        if row["reference"] and row["fidelity"] == fidelity:
            by_key.setdefault(row["key"], {}).setdefault(row["seed"], row)
    return {key: (next(iter(runs.values()))["sample"], statistics.mean(r["metric"] for r in runs.values()))
            for key, runs in by_key.items()}


def step_cost(space: SearchSpace, splits, steps: int, batch: int, cap: int | None,
              flops_cache: dict) -> dict[str, float]:
    """CPU seconds of `steps` sandwich steps and of as many steps of the largest subnet's static
    network (within the cap), on the same batches (forward and backward; no optimizer step: the
    same for both)."""
    supernet = Supernet(space).train()
    draws = subnet_draws(supernet, cap, flops_cache)
    static = supernet.extract(draws.largest()).train()
    criterion, distill = make_criterion(splits.info.task, 0.0), DISTILLATION[splits.info.task]
    batches = [b for _, b in zip(range(steps), train_loader(take_subset(splits.train, steps * batch, 0), batch, 0, 0))]
    cpu = time.process_time()
    for step, (images, targets) in enumerate(batches):
        sandwich_step(supernet, images, targets, step_archs(draws, 0, 1, step, 2), criterion, distill)
    sandwich = time.process_time() - cpu
    cpu = time.process_time()
    for images, targets in batches:
        criterion(static(images), targets).backward()
    alone = time.process_time() - cpu
    return {"sandwich_cpu_s": sandwich, "largest_alone_cpu_s": alone, "ratio": sandwich / alone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=ROOT / "spaces" / "bench_rank_c8.yaml")
    parser.add_argument("--records", type=Path, default=ROOT / "docs/results/rank_fidelity/bench_rank_c8.jsonl")
    parser.add_argument("--reference", default="3x20000", help="the references' recipe in --records")
    parser.add_argument("--epochs", type=int, default=1, help="supernet epochs")
    parser.add_argument("--images", type=int, default=6000, help="supernet training images")
    parser.add_argument("--kernels", default="map,separate")
    parser.add_argument("--cost-steps", type=int, default=4)
    parser.add_argument("--cap", default=None, help="train only subnets within this many FLOPs (e.g. 100M)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "supernet_rank")
    parser.add_argument("--result", type=Path, default=None, help="write the numbers here (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()

    space = fit_to_data(load_space(args.space))
    refs = references(args.records, args.reference)
    splits = load_dataset(space.proxy.data, space.proxy.data_root, resolution=max(space.choices["resolution"]), seed=0)
    reference = parse_rungs(args.reference)[0]
    cap = None if args.cap is None else parse_budget(args.cap)
    kernel_modes = args.kernels.split(",")
    flops_cache = read_flop_counts(args.out / kernel_modes[0], ())  # a search's counts, when --out is its folder
    cost = step_cost(space, splits, args.cost_steps, space.proxy.batch_size, cap, flops_cache)
    share = args.epochs * args.images / (reference.epochs * reference.images)
    print(f"cost: a sandwich step is {cost['ratio']:.2f}x a step of the largest subnet alone "
          f"({cost['sandwich_cpu_s']:.1f} vs {cost['largest_alone_cpu_s']:.1f} CPU s for {args.cost_steps} steps); "
          f"{args.epochs}x{args.images} is {share:.2f} of the reference {args.reference}, so this supernet costs "
          f"{share * cost['ratio']:.2f} reference trainings of its largest subnet"
          f"{'' if cap is None else ' within ' + format_flops(cap)}", flush=True)
    data = score_data(splits, seed=0)
    result = {"space": space.name, "references": len(refs), "reference": args.reference, "cost": cost,
              "supernet": f"{args.epochs}x{args.images}", "cap": cap, "modes": {}}
    keys = sorted(refs, key=lambda key: refs[key][1])
    truth = [refs[key][1] for key in keys]
    for mode in kernel_modes:
        options = SupernetOptions(epochs=args.epochs, images=args.images, kernels=mode)
        cpu = time.process_time()
        (supernet,) = train_supernets(space, splits, options, args.out / mode, "cpu", print, cap, flops_cache).values()
        train_cpu = time.process_time() - cpu
        scored = []
        for key in keys:
            cpu = time.process_time()
            scores = score_subnet(supernet, refs[key][0], data)
            scored.append({"key": key, "reference": refs[key][1], "inherited": scores["acc"],
                           "score_cpu_s": time.process_time() - cpu, "score_wall_s": scores["seconds"]})
        mine = [row["inherited"] for row in scored]
        row = {"tau": rank_stats.kendall_tau(mine, truth), "rho": rank_stats.spearman_rho(mine, truth),
               "tau_top_third": rank_stats.tau_within_top(mine, truth), "best_in_top3": rank_stats.best_in_top(mine, truth, 3),
               "train_cpu_s": train_cpu, "max_score_cpu_s": max(r["score_cpu_s"] for r in scored), "subnets": scored}
        result["modes"][mode] = row
        print(f"kernels {mode}: Kendall tau {row['tau']:.2f} (top third {row['tau_top_third']:.2f}), Spearman rho "
              f"{row['rho']:.2f}, reference best in top 3: {row['best_in_top3']}; training {train_cpu:.0f} CPU s "
              f"(0 when read back), scores up to {row['max_score_cpu_s']:.1f} CPU s", flush=True)
        for r in scored:
            print(f"  {r['reference']:.4f} reference  {r['inherited']:.4f} inherited  {r['score_cpu_s']:.1f} CPU s  {r['key']}")
        if args.result:  # after each mode, so a run cut short keeps the modes it finished
            args.result.parent.mkdir(parents=True, exist_ok=True)
            args.result.write_text(json.dumps(result, indent=2) + "\n")
    print(f"whole run {time.perf_counter() - started:.0f} s wall")


if __name__ == "__main__":
    main()
