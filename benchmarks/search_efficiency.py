"""Search efficiency against the reference: does `eqnas search` find a network within 1 point of
the best after proper training, and at what cost, as a fraction of training every candidate
with the reference recipe?

It runs on `benchmarks/rank_fidelity.py`'s architectures and records (the same ``--space``,
``--flops``, ``--count``, ``--seed`` and ``--reference``; the reference trainings are the
expensive part, so run that benchmark first, or pass its committed ``--records``). Each search
is replayed as `eqnas search` runs it on those candidates (`rank_fidelity.search_ranking`: every
candidate at rung 0, successive halving over the rungs, finalists' extra seeds when two or more
reach the top rung), once per search seed (the seed of every training it does, so also of the
images each rung draws) and per promotion rule, and the one-rung search (the proxy alone, the
old default) beside them. Trainings the records lack are trained and recorded, so a rerun
replays without training.

Per search: its winner's reference accuracy (mean of the reference seeds), how far it is from
the reference's best, and its cost in CPU seconds (one torch thread) over the exhaustive
reference cost (every candidate trained once with the reference recipe), and the Kendall tau of
its own ranking against the reference mean. Efficiency is that
fraction when the winner is within ``--gap`` of the best, else "never". Read the gap against
the reference's own seed-to-seed difference, printed with it.

    python benchmarks/search_efficiency.py --space spaces/bench_rank_c8.yaml --flops 40M \\
        --records docs/results/rank_fidelity/bench_rank_c8.jsonl [--search-seeds 0,1,2] [--gap 0.01]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rank_fidelity as bench  # noqa: E402  (the sibling benchmark: candidates, trainer, replay)

from eqnas.errors import EqnasError  # noqa: E402
from eqnas.search import rank_stats  # noqa: E402
from eqnas.search.fidelity import PROMOTIONS, Fidelity, parse_rungs  # noqa: E402
from eqnas.search.space import Proxy  # noqa: E402


@dataclass(frozen=True)
class Replayed:
    search: str
    seed: int
    efficiency: bench.Efficiency
    tau: float  # Kendall tau of the search's own ranking against the reference mean


def summary(rows: Sequence[Replayed]) -> str:
    """One line per search: how many seeds found the target, median and worst cost, the mean
    shortfall and the median tau of its ranking."""
    found = [r.efficiency for r in rows if r.efficiency.found]
    costs = [r.efficiency.cost for r in rows]
    worst = max(costs) if len(found) == len(rows) else float("inf")
    return (f"| {rows[0].search} | {len(found)} of {len(rows)} | {statistics.median(costs):.2f} | "
            f"{worst:.2f} | {statistics.mean(r.efficiency.short for r in rows) * 100:.1f} | "
            f"{statistics.median(r.tau for r in rows):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_benchmark_args(parser)  # the same architectures, reference and records as rank_fidelity.py
    parser.add_argument("--rungs", default=Fidelity.of(Proxy()).label, help="the search's rungs (its default)")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--finalist-seeds", type=int, default=2)
    parser.add_argument("--search-seeds", default="0,1,2", help="one replay per search seed")
    parser.add_argument("--rung0-seeds", default="1,2",
                        help="rung 0 scored by the mean over this many seeds: one row of searches per entry")
    parser.add_argument("--promotions", default=",".join(PROMOTIONS), help="promotion rules replayed, comma-separated")
    parser.add_argument("--gap", type=float, default=0.01, help="within this of the reference's best counts as found")
    args = parser.parse_args()
    try:
        run(args)
    except EqnasError as err:
        raise SystemExit(f"search_efficiency: error: {err}") from None


def promotions(text: str) -> list[str]:
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in chosen if p not in PROMOTIONS]
    if bad or not chosen:
        raise EqnasError(f"--promotions {text!r}: choose from {', '.join(PROMOTIONS)}")
    return chosen


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(bench.THREADS)
    started = time.perf_counter()
    rungs = list(parse_rungs(args.rungs))
    benchmark = bench.load_benchmark(args)
    cands, trainer, ref_mean, exhaustive = benchmark.cands, benchmark.trainer, benchmark.ref_mean, benchmark.exhaustive_s
    spread = statistics.median(benchmark.spread)
    print(f"reference best {max(ref_mean):.4f}, seed-to-seed median |difference| {spread * 100:.1f} points; "
          f"exhaustive reference training {exhaustive:.0f} CPU s; found = within {args.gap * 100:.1f} points of "
          "the best", flush=True)
    searches = [(f"{args.rungs}, eta {args.eta}, promotion {promotion}" + (f", rung 0 x {n} seeds" if n > 1 else ""),
                 rungs, promotion, n) for n in [int(x) for x in args.rung0_seeds.split(",")]
                for promotion in promotions(args.promotions)]
    searches.append((f"one rung {rungs[0].label} (the proxy alone)", rungs[:1], "retrain", 1))
    rows: list[Replayed] = []
    for name, schedule, promotion, rung0_seeds in searches:
        for seed in [int(s) for s in args.search_seeds.split(",")]:
            outcome = bench.search_ranking(cands, trainer, schedule, args.eta, args.finalist_seeds, promotion, seed,
                                           rung0_seeds)
            tau = rank_stats.kendall_tau(outcome.scored.scores, ref_mean)
            rows.append(Replayed(name, seed, outcome.efficiency(ref_mean, exhaustive, args.gap), tau))
            print(f"  {name}, seed {seed}: {rows[-1].efficiency.line()}; its ranking's tau {tau:.2f}", flush=True)
    print("\n| search | found | median cost | worst cost (inf: one missed) | mean points short | median tau |")
    print("|---|---|---|---|---|---|")
    for name, *_ in searches:
        print(summary([r for r in rows if r.search == name]))
    print(f"\nwhole run {time.perf_counter() - started:.0f} s wall")


if __name__ == "__main__":
    main()
