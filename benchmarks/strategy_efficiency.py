"""Strategy efficiency: how soon each NNI strategy finds an architecture within 1 point of the
best one by the search's proxy, as a fraction of the time an exhaustive grid takes, on a
24-architecture space. It chooses the strategy that proposes candidates; whether the proxy's
best is the best after proper training is `benchmarks/search_efficiency.py`'s question.

Goal (issue): at most 0.25 for the best of evolution, TPE and random, which becomes the default.

How it is measured
  1. Exhaustive pass: every architecture of the space is trained once with the space's proxy, and
     its learning curve (validation accuracy after each epoch), the training seconds up to each
     epoch's end and in all are kept in a table (``--cache``; reused on the next run,
     ``--retrain`` trains again). An untimed warm-up training loads the data and warms the
     kernels first, so no architecture is charged for them. Exhaustive time = sum of the training
     seconds; the target = best accuracy (of complete runs) - ``--gap``.
     Training seconds are the process's CPU seconds with torch on one thread: on a free core
     that is the wall time, and other programs on a shared machine do not inflate it (with two
     threads competing for two busy cores, one training's wall time grew up to nine-fold). The
     wall seconds are kept in the table too.
  2. Replay: each strategy runs for real through ``eqnas.search.nni_adapter.run_search``, once
     per seed, with an ``evaluate`` that looks the architecture up in the table instead of
     training it, twice: training every trial to the end, and with eqnas's median stopping rule
     (``eqnas.search.early_stop``, the search's default), which is fed the recorded curve epoch
     by epoch; a stopped trial costs the seconds up to the epoch it stopped at and scores the best
     accuracy it had reached. Its clock adds, per evaluated architecture, those measured training
     seconds and the strategy's own overhead measured now (wall time since the previous
     evaluation returned, NNI's start-up included in the first; wall time, so a strategy that
     sleeps pays for it). Every strategy thus pays the same measured cost for the same work.
  3. Time to target = that clock at the first evaluation reaching the target (the whole search
     if none does). Per strategy: median trials to target, median and worst ratio over seeds.

The search budget is the size of the space, so a strategy may end up training everything.
NNI's shuffled grid is replayed too, for reference; it is not a candidate for the default.

    python benchmarks/strategy_efficiency.py [--space spaces/bench_24.yaml] [--seeds 0,1,2,3,4]
        [--cache runs/bench_24_table.json] [--retrain] [--gap 0.01]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from eqnas.search.early_stop import MedianStop, TrialCurve
from eqnas.search.space import SearchSpace, load_space

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("evolution", "tpe", "random")  # the strategies that may become the default
REFERENCE = "grid"  # NNI's shuffled grid, printed for comparison only
GOAL_RATIO = 0.25
THREADS = 1  # one torch thread, so that CPU seconds measure a training's cost (see the docstring)
DEVICE = "cpu"  # CPU seconds would not count the work of a GPU


@dataclass(frozen=True)
class Trained:
    """One architecture of the exhaustive pass."""

    key: str
    sample: dict
    metric: float
    seconds: float  # CPU seconds of the training (one thread)
    wall_s: float
    curve: list[float]  # validation metric after each epoch
    epoch_seconds: list[float]  # CPU seconds from the start of the training to each epoch's end

    def run(self, rule: MedianStop | None) -> tuple[float, float]:
        """(metric, CPU seconds) of this training under the stopping rule, replayed from the curve."""
        hook = TrialCurve(rule, len(self.curve))
        for epoch, metric in enumerate(self.curve, start=1):
            if not hook(epoch, metric):
                return max(hook.curve), self.epoch_seconds[epoch - 1]
        hook.finish()
        return self.metric, self.seconds


@dataclass(frozen=True)
class Step:
    """One evaluation in a replayed search: its metric and what it cost."""

    metric: float
    train_s: float  # measured in the exhaustive pass
    overhead_s: float  # the strategy's own time before this evaluation, measured in the replay


@dataclass(frozen=True)
class Reached:
    trials: int  # evaluations up to and including the first on target (all of them if none was)
    seconds: float  # training plus overhead over those evaluations
    overhead_s: float  # the overhead part of `seconds`
    found: bool


@dataclass(frozen=True)
class Row:
    strategy: str
    early_stop: bool
    median_trials: float
    median_ratio: float
    mean_ratio: float
    worst_ratio: float
    median_overhead_s: float
    found: int  # seeds that reached the target
    seeds: int


# ---------------------------------------------------------------- pure helpers

def time_to_target(steps: Sequence[Step], target: float) -> Reached:
    """Cost of a search trace up to its first metric >= target, or of the whole trace if none is."""
    seconds = overhead = 0.0
    for index, step in enumerate(steps, start=1):
        seconds += step.train_s + step.overhead_s
        overhead += step.overhead_s
        if step.metric >= target:
            return Reached(index, seconds, overhead, True)
    return Reached(len(steps), seconds, overhead, False)


def summarize(strategy: str, early_stop: bool, reached: Sequence[Reached], exhaustive_s: float) -> Row:
    """Medians and worst case over seeds; ratios are time to target / exhaustive time."""
    ratios = [r.seconds / exhaustive_s for r in reached]
    return Row(strategy, early_stop, statistics.median(r.trials for r in reached), statistics.median(ratios),
               statistics.mean(ratios), max(ratios),
               statistics.median(r.overhead_s for r in reached), sum(r.found for r in reached), len(reached))


def random_order_seconds(table: Sequence[Trained], target: float) -> float:
    """Expected time to target when architectures are tried in a uniformly random order without
    repeats: with k of them on target, each other one comes before all k with probability
    1/(k+1), and each on-target one is the first of them with probability 1/k."""
    hits = [t.seconds for t in table if t.metric >= target]
    misses = [t.seconds for t in table if t.metric < target]
    if not hits:
        return sum(misses)
    return sum(hits) / len(hits) + sum(misses) / (len(hits) + 1)


def best_row(rows: Sequence[Row]) -> Row:
    """Lowest median ratio; ties go to the lower worst case."""
    return min(rows, key=lambda row: (row.median_ratio, row.worst_ratio))


# ---------------------------------------------------------------- exhaustive pass (cached)

def _setup(space: SearchSpace) -> dict:
    """What the table's numbers depend on; a cache made under another setup is not reused."""
    return {"space": space.name, "choices": {k: list(v) for k, v in space.choices.items()},
            "proxy": dataclasses.asdict(space.proxy), "device": DEVICE, "threads": THREADS,
            "seconds": "process CPU seconds", "curves": "validation metric and CPU seconds per epoch"}


def _save(path: Path, setup: dict, table: dict[str, Trained]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({**setup, "trained": [dataclasses.asdict(t) for t in table.values()]}, indent=1))
    os.replace(partial, path)  # rewritten after every training: an interrupted pass resumes


def _load(path: Path, setup: dict, retrain: bool) -> dict[str, Trained]:
    if retrain or not path.exists():
        return {}
    data = json.loads(path.read_text())
    if {key: data.get(key) for key in setup} != setup:
        print(f"{path} was made with another space, proxy, device or thread count: training again")
        return {}
    return {entry["key"]: Trained(**entry) for entry in data["trained"]}


def exhaustive_table(space: SearchSpace, cache: Path, retrain: bool) -> dict[str, Trained]:
    from eqnas.search.proxy import proxy_trainer

    setup = _setup(space)
    table = _load(cache, setup, retrain)
    samples = space.enumerate()
    missing = [s for s in samples if space.key(s) not in table]
    if missing:
        print(f"exhaustive pass: training {len(missing)} of {len(samples)} architectures (table: {cache})", flush=True)
        train = proxy_trainer(space.proxy, DEVICE)
        warm = train(space.to_arch(missing[0]), None)  # untimed: loads the data set, warms the kernels
        for number, sample in enumerate(missing, start=1):
            curve: list[float] = []
            epoch_seconds: list[float] = []
            cpu, wall = time.process_time(), time.perf_counter()

            def record(epoch: int, metric: float) -> bool:
                curve.append(round(float(metric), 6))
                epoch_seconds.append(round(time.process_time() - cpu, 3))
                return True

            metric = train(space.to_arch(sample), record)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if number == 1 and metric != warm:
                print(f"warning: the proxy is not repeatable here ({warm:.4f} then {metric:.4f})")
            table[space.key(sample)] = Trained(space.key(sample), sample, metric, round(cpu, 3), round(wall, 3),
                                               curve, epoch_seconds)
            _save(cache, setup, table)
            print(f"  {number}/{len(missing)} {space.key(sample)}: {space.proxy.metric} {metric:.4f}, "
                  f"{cpu:.1f} CPU s, {wall:.1f} wall s", flush=True)
    return {space.key(s): table[space.key(s)] for s in samples}


# ---------------------------------------------------------------- replay

def replay(space: SearchSpace, table: dict[str, Trained], strategy: str, seed: int, early_stop: bool) -> list[Step]:
    """Runs `strategy` through the NNI adapter, scoring architectures from the table (with the
    median stopping rule applied to their recorded curves if `early_stop`)."""
    from eqnas.search import nni_adapter

    steps: list[Step] = []
    rule = MedianStop() if early_stop else None

    def evaluate(sample: dict) -> float:
        nonlocal last
        entered = time.perf_counter()
        metric, seconds = table[space.key(sample)].run(rule)
        steps.append(Step(metric, seconds, entered - last))
        last = time.perf_counter()  # the look-up itself is not the strategy's overhead
        return metric

    last = time.perf_counter()
    nni_adapter.run_search(space.searched(), evaluate, lambda sample: True, strategy=strategy,
                           max_trials=len(table), seed=seed)
    return steps


# ---------------------------------------------------------------- report

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=ROOT / "spaces" / "bench_24.yaml")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "bench_24_table.json")
    parser.add_argument("--retrain", action="store_true", help="train every architecture again")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated strategy seeds")
    parser.add_argument("--gap", type=float, default=0.01, help="target: within this much of the best metric")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(THREADS)
    space = load_space(args.space)
    started = time.perf_counter()

    table = exhaustive_table(space, args.cache, args.retrain)
    exhaustive_s = sum(t.seconds for t in table.values())
    best = max(table.values(), key=lambda t: t.metric)
    target = best.metric - args.gap
    on_target = sum(t.metric >= target for t in table.values())
    metrics = [t.metric for t in table.values()]
    costs = [t.seconds for t in table.values()]
    print(f"\nspace {space.name}: {len(table)} architectures, proxy {space.proxy.epochs} epoch(s) on "
          f"{space.proxy.subset} {space.proxy.data} images, {DEVICE}, torch threads {torch.get_num_threads()}")
    print(f"proxy {space.proxy.metric}: {min(metrics):.4f} to {best.metric:.4f} (best {best.key}); "
          f"{on_target} of {len(table)} within {args.gap:g} of the best")
    print(f"training: {min(costs):.1f} to {max(costs):.1f} CPU s each; exhaustive {exhaustive_s:.1f} CPU s "
          f"({sum(t.wall_s for t in table.values()):.1f} wall s on this machine as it was)")
    print("times = proxy-training seconds measured in the exhaustive pass (CPU s, one thread) + strategy "
          "overhead measured now (wall s), replayed: every strategy pays the same measured cost for the "
          "same architecture\n")

    rows = []
    for early_stop in (False, True):
        for strategy in (*CANDIDATES, REFERENCE):
            reached = [time_to_target(replay(space, table, strategy, seed, early_stop), target) for seed in seeds]
            rows.append(summarize(strategy, early_stop, reached, exhaustive_s))

    print("| strategy | early stop | median trials to target | median time ratio | mean time ratio "
          "| worst time ratio | median overhead s | seeds on target |")
    print("|---|---|---|---|---|---|---|---|")
    chance = random_order_seconds(list(table.values()), target) / exhaustive_s
    print(f"| exhaustive | no | {len(table)} | 1.00 | 1.00 | 1.00 | 0.00 | - |")
    print(f"| random order, expected | no | {(len(table) + 1) / (on_target + 1):.1f} | - | {chance:.2f} | - | - | - |")
    for row in rows:
        name = f"{row.strategy} (reference)" if row.strategy == REFERENCE else row.strategy
        print(f"| {name} | {'median rule' if row.early_stop else 'no'} | {row.median_trials:g} | {row.median_ratio:.2f} "
              f"| {row.mean_ratio:.2f} | {row.worst_ratio:.2f} | {row.median_overhead_s:.2f} | {row.found}/{row.seeds} |")
    winner = best_row([row for row in rows if row.strategy in CANDIDATES])
    verdict = "meets" if winner.median_ratio <= GOAL_RATIO else "misses"
    stopping = "with" if winner.early_stop else "without"
    print(f"\nbest strategy: {winner.strategy} ({stopping} early stopping), median ratio {winner.median_ratio:.2f}: "
          f"{verdict} the goal of at most {GOAL_RATIO} (seeds {args.seeds}; whole run "
          f"{time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
