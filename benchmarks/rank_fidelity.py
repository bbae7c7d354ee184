"""Rank fidelity: how well does each way of scoring a candidate predict the accuracy it reaches
when it is trained properly?

A search picks its winner by a cheap score; this benchmark measures, on N architectures of a
space under a FLOP budget, how each scorer's ranking agrees with a near-converged reference.

How it is measured
  1. Architectures: a seeded sample of the space (all of it when small; of its distinct networks
     with ``--distinct``) is profiled, those within ``--flops`` are kept, and ``--count`` of them
     are picked at evenly spaced log-FLOPs, so the set spans the space, poor members included;
     each network once.
  2. Reference: each is trained stand-alone with ``--reference`` (epochs x training images, AdamW
     with a one-cycle schedule, the proxy's lr and batch), the epoch with the best accuracy on a
     seeded 2,000-image validation subset is kept, and its accuracy on the whole TEST split is
     the reference. Twice, with seeds ``--reference-seeds`` (the seed also draws the training
     images): the two seeds' Kendall tau is the ceiling any scorer can reach.
  3. Scorers, each with the CPU seconds it costs for the whole set: FLOPs and parameters (zero
     cost); the search proxy (validation accuracy after ``--fidelities``' first entry) with one
     seed and averaged over two; minus the proxy's training loss (SoTL, Ru et al. 2021: the sum
     over its epochs of the mean training loss) per seed; each longer fidelity below the top one;
     and the search's own ranking, twice: successive halving over the fidelities as rungs
     (``eqnas.search.fidelity.halve``, eta 3, finalists re-scored with 2 seeds when two or more
     reach the top rung), promotions continuing from the rung below's weights (``--promotion
     continue``, the search's default; those runs keep their weights beside the records) and
     retrained at their rung (``retrain``). Each with the search-efficiency line: its winner's
     reference accuracy against the reference's best, and its cost as a fraction of training
     every candidate once with the reference recipe (``benchmarks/search_efficiency.py`` replays
     it for more search seeds).
  4. Per scorer: Kendall tau and Spearman rho against the reference mean, tau within the
     reference's top third, and whether the reference's best is in the scorer's top 3
     (``eqnas.search.rank_stats``).

Seconds are the process's CPU seconds with torch on one thread (as in strategy_efficiency.py), so
other programs on a shared machine do not inflate them. Every training is one JSON line in
``--records`` (default runs/rank_fidelity/<space>.jsonl), written when it ends: an interrupted
run resumes and trains nothing twice.

    python benchmarks/rank_fidelity.py [--space spaces/c8_resnet.yaml] [--flops 100M] [--count 12] [--distinct]
        [--reference 3x20000] [--reference-seeds 0,1] [--fidelities 1x2000,2x6000] [--only reference]
        [--plot docs/rank_fidelity.png]
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from eqnas.data.base import Splits
from eqnas.errors import EqnasError
from eqnas.jsonlog import JsonLinesLog
from eqnas.profiling import arch_flops, arch_params, parse_budget
from eqnas.search import rank_stats
from eqnas.search.fidelity import Fidelity, Rung, halve, mean_score, parse_rungs
from eqnas.search.space import Proxy, Sample, SearchSpace, load_space

ROOT = Path(__file__).resolve().parents[1]
THREADS = 1
DEVICE = "cpu"
PROFILED = 300  # a larger space is sampled (seeded) before the budget filter
VAL_IMAGES = 2000  # the seeded validation subset every training selects its epoch on


@dataclass(frozen=True)
class Run:
    """One training of one architecture."""

    key: str
    fidelity: str  # Rung.label: epochs x training images
    seed: int
    reference: bool  # scored on the test split (the reference) or on the validation subset
    metric: float  # test accuracy (reference) or best validation accuracy
    train_losses: list[float]  # mean training loss of each epoch
    cpu_s: float
    wall_s: float
    sample: dict = field(default_factory=dict)


class RunLog(JsonLinesLog[Run]):
    def __init__(self, path: Path) -> None:
        super().__init__(path, Run)

    def table(self) -> dict[tuple[str, str, int, bool], Run]:
        return {(r.key, r.fidelity, r.seed, r.reference): r for r in self.read()}


@dataclass(frozen=True)
class Candidate:
    key: str
    sample: Sample
    flops: int
    params: int


# ---------------------------------------------------------------- architectures

def pick_spread(flops: Sequence[int], count: int) -> list[int]:
    """Indices of `count` entries at evenly spaced log-FLOPs between the smallest and the largest
    (each target takes the nearest entry not taken yet)."""
    if count > len(flops):
        raise EqnasError(f"--count {count}: only {len(flops)} architectures of the sample fit the budget")
    logs = np.log(np.asarray(flops, dtype=float))
    free = set(range(len(flops)))
    chosen = []
    for target in np.linspace(logs.min(), logs.max(), count):
        best = min(free, key=lambda i: (abs(logs[i] - target), i))
        free.remove(best)
        chosen.append(best)
    return sorted(chosen, key=lambda i: flops[i])


def candidates(space: SearchSpace, flops_max: int, count: int, seed: int, distinct: bool = False) -> list[Candidate]:
    """`count` architectures at evenly spaced log-FLOPs within the budget, each network once (the
    first sample that builds it). `distinct`: the seeded sample is drawn from the space's distinct
    networks rather than from its samples, where a network several samples build (a dropped
    stage's labels) is as much more likely as it has samples."""
    samples = space.distinct(space.enumerate()) if distinct else space.enumerate()
    if len(samples) > PROFILED:
        samples = random.Random(seed).sample(samples, PROFILED)
    unique = []
    for sample in space.distinct(samples):  # each network profiled once
        try:
            arch = space.to_arch(sample)
            flops = arch_flops(arch)
        except EqnasError:
            continue
        if flops <= flops_max:
            unique.append((sample, arch, flops))
    chosen = pick_spread([f for _, _, f in unique], count)
    return [Candidate(space.key(unique[i][0]), unique[i][0], unique[i][2], arch_params(unique[i][1])) for i in chosen]


# ---------------------------------------------------------------- training

class Trainer:
    """Trains architectures of one space at a fidelity, loading each resolution's data once."""

    def __init__(self, space: SearchSpace, log: RunLog) -> None:
        self.space, self.log, self._data = space, log, {}

    def splits(self, resolution: int) -> Splits:
        from eqnas.data.registry import load_dataset
        from eqnas.train.loaders import take_subset

        if resolution not in self._data:
            full = load_dataset(self.space.proxy.data, self.space.proxy.data_root, resolution=resolution,
                                seed=self.space.proxy.seed)
            val = take_subset(full.val, min(VAL_IMAGES, len(full.val)), self.space.proxy.seed)
            self._data[resolution] = Splits(train=full.train, val=val, test=full.test, info=full.info)
        return self._data[resolution]

    def weights(self, candidate: Candidate, label: str, seed: int) -> Path:
        """Where the final weights of a run that a promotion continues from are kept."""
        import hashlib

        digest = hashlib.sha1(f"{candidate.key}|{label}|{seed}".encode()).hexdigest()[:16]
        return self.log.path.with_suffix(".weights") / f"{digest}.pt"

    def run(self, candidate: Candidate, fidelity: Rung, seed: int, reference: bool, start: Run | None = None,
            keep: bool = False) -> Run:
        """Trains `candidate` at `fidelity` with `seed` (the seed also draws the training images),
        or returns the recorded run. `start`: continue from that run's final weights for the extra
        epochs (as `--promotion continue`; its label then reads "2x6000 from 1x2000"); `keep`: keep
        this run's final weights for a run that continues from it (a recorded run whose weights
        are not there is trained again)."""
        label = fidelity.label if start is None else f"{fidelity.label} from {start.fidelity}"
        done = self.log.table().get((candidate.key, label, seed, reference))
        if done is not None and not (keep and not self.weights(candidate, label, seed).is_file()):
            return done
        from eqnas.train.config import TrainConfig
        from eqnas.train.loop import train

        proxy = self.space.proxy
        epochs = fidelity.epochs - (parse_rungs(start.fidelity.split(" ")[0])[0].epochs if start else 0)
        config = TrainConfig(epochs=epochs, batch_size=proxy.batch_size, subset=fidelity.images, seed=seed,
                             device=DEVICE, select="acc", schedule="onecycle", lr=proxy.lr, optimizer=proxy.optimizer)
        arch = self.space.to_arch(candidate.sample)
        initial = torch.load(self.weights(candidate, start.fidelity, seed), weights_only=True) if start else None
        cpu, wall = time.process_time(), time.perf_counter()
        result = train(arch, self.splits(arch.resolution), config, out_dir=None, progress=False, test=reference,
                       initial_state=initial)
        metrics = result.metrics
        metric = metrics["test_acc"] if reference else metrics["best_val"]["acc"]
        run = Run(candidate.key, label, seed, reference, round(float(metric), 6),
                  [round(float(row["train_loss"]), 6) for row in metrics["history"]],
                  round(time.process_time() - cpu, 3), round(time.perf_counter() - wall, 3), candidate.sample)
        if keep:
            path = self.weights(candidate, label, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(result.raw_model.state_dict(), path)
        self.log.append(run)
        kind = "reference test acc" if reference else "val acc"
        print(f"  {candidate.key} ({candidate.flops / 1e6:.1f}M FLOPs) {label} seed {seed}: {kind} "
              f"{run.metric:.4f}, {run.cpu_s:.0f} CPU s", flush=True)
        return run


# ---------------------------------------------------------------- scorers

@dataclass(frozen=True)
class Scored:
    """A scorer's score per candidate (higher is better) and its CPU seconds for the whole set."""

    name: str
    scores: list[float]
    cpu_s: float


def scorers(cands: list[Candidate], trainer: Trainer, fidelities: list[Rung], searches: Sequence[Scored]) -> list[Scored]:
    """The zero-cost, proxy and fidelity scorers, then `searches`: the search's own rankings."""
    proxy = fidelities[0]
    first = [trainer.run(c, proxy, 0, False) for c in cands]
    second = [trainer.run(c, proxy, 1, False) for c in cands]
    out = [
        Scored("FLOPs (zero cost)", [c.flops for c in cands], 0.0),
        Scored("parameters (zero cost)", [c.params for c in cands], 0.0),
        Scored(f"proxy {proxy.label}, seed 0", [r.metric for r in first], sum(r.cpu_s for r in first)),
        Scored(f"proxy {proxy.label}, seed 1", [r.metric for r in second], sum(r.cpu_s for r in second)),
        Scored(f"proxy {proxy.label}, mean of 2 seeds", [(a.metric + b.metric) / 2 for a, b in zip(first, second)],
               sum(r.cpu_s for r in first + second)),
        *(Scored(f"SoTL over proxy {proxy.label}, seed {seed} (minus summed train loss)",
                 [-sum(r.train_losses) for r in runs], sum(r.cpu_s for r in runs))
          for seed, runs in enumerate((first, second))),
    ]
    for fidelity in fidelities[1:-1]:  # the top rung only for the search's finalists: it costs about a reference
        runs = [trainer.run(c, fidelity, 0, False) for c in cands]
        out.append(Scored(f"fidelity {fidelity.label}, seed 0", [r.metric for r in runs], sum(r.cpu_s for r in runs)))
    out.extend(searches)
    return out


@dataclass(frozen=True)
class SearchOutcome:
    scored: Scored  # the search's own ranking, as scores (higher is better), and its CPU seconds
    winner: int  # index of the search's winner among the candidates

    def efficiency(self, reference: Sequence[float], exhaustive_s: float, gap: float = 0.01) -> "Efficiency":
        """The issue's search-efficiency measure against the reference: the search's CPU seconds
        as a fraction of training every candidate once with the reference recipe, when its
        winner's reference accuracy is within `gap` of the reference's best (else never)."""
        short = max(reference) - reference[self.winner]
        return Efficiency(reference[self.winner], max(reference), short, short <= gap + 1e-12,
                          self.scored.cpu_s / exhaustive_s)


@dataclass(frozen=True)
class Efficiency:
    winner: float  # the search's winner's reference accuracy
    best: float  # the reference's best
    short: float  # best - winner
    found: bool  # short within the gap
    cost: float  # the search's CPU seconds / exhaustive reference training

    def line(self) -> str:
        verdict = f"{self.cost:.2f} of exhaustive reference training" if self.found else \
            f"never (its winner is {self.short * 100:.1f} points short; it cost {self.cost:.2f})"
        return f"winner {self.winner:.4f} (reference best {self.best:.4f}): {verdict}"


def search_ranking(cands: list[Candidate], trainer: Trainer, rungs: list[Rung], eta: int,
                   finalist_seeds: int, promotion: str = "retrain", seed: int = 0,
                   rung0_seeds: int = 1) -> SearchOutcome:
    """What `eqnas search --seed SEED` would rank these candidates by: successive halving over
    the rungs (`eqnas.search.fidelity.halve`), each promotion continuing from the candidate's
    weights at the rung below (`promotion="continue"`, where `Rung.continues` allows) or trained
    from scratch at its rung ("retrain"), the finalists (when two or more) re-scored with
    `finalist_seeds` seeds, each reaching the top rung the same way, and ranked by their mean. A
    candidate's score is (highest rung reached, score there), flattened to one number; the cost
    counts every training the search did once. `rung0_seeds` > 1 scores rung 0 by the mean over
    that many seeds (seed, seed + 1, ...); promotions continue from the first seed's run."""
    runs: dict[tuple[int, int, int], Run] = {}
    continues = Fidelity(tuple(rungs), eta, promotion, finalist_seeds).continues

    def reach(index: int, k: int, run_seed: int) -> Run:
        if (index, k, run_seed) not in runs:
            below = reach(index, k - 1, run_seed) if continues(k) else None
            runs[index, k, run_seed] = trainer.run(cands[index], rungs[k], run_seed, False, start=below,
                                                   keep=continues(k + 1))
        return runs[index, k, run_seed]

    def rescore(index: int, first: float) -> float:
        extra = [reach(index, len(rungs) - 1, seed + i).metric for i in range(1, finalist_seeds)]
        return mean_score([first, *extra])

    def score(index: int, k: int) -> float:
        seeds = range(seed, seed + (rung0_seeds if k == 0 else 1))
        return mean_score([reach(index, k, s).metric for s in seeds])

    halving = halve(list(range(len(cands))), score, eta, len(rungs), rescore=rescore)
    order = {c: position for position, c in enumerate(halving.ranking)}
    flat = [float(len(cands) - order[i]) for i in range(len(cands))]
    name = f"eqnas search's ranking (seed {seed}, promotion {promotion}): successive halving over " \
           f"{','.join(r.label for r in rungs)}, eta {eta}, finalists x {finalist_seeds} seeds" + \
           (f", rung 0 x {rung0_seeds} seeds" if rung0_seeds > 1 else "")
    return SearchOutcome(Scored(name, flat, sum(r.cpu_s for r in runs.values())), halving.ranking[0])


# ---------------------------------------------------------------- report

@dataclass(frozen=True)
class Row:
    name: str
    cpu_s: float
    tau: float
    rho: float
    tau_top_third: float
    best_in_top3: bool


def evaluate_scorer(scored: Scored, reference: Sequence[float]) -> Row:
    return Row(scored.name, scored.cpu_s, rank_stats.kendall_tau(scored.scores, reference),
               rank_stats.spearman_rho(scored.scores, reference),
               rank_stats.tau_within_top(scored.scores, reference), rank_stats.best_in_top(scored.scores, reference, 3))


def markdown(rows: Sequence[Row], ceiling: Row) -> str:
    lines = ["| scorer | CPU s (whole set) | Kendall tau | Spearman rho | tau, top third | reference best in top 3 |",
             "|---|---|---|---|---|---|"]
    for row in (ceiling, *rows):
        lines.append(f"| {row.name} | {row.cpu_s:.0f} | {row.tau:.2f} | {row.rho:.2f} | {row.tau_top_third:.2f} | "
                     f"{'yes' if row.best_in_top3 else 'no'} |")
    return "\n".join(lines)


def plot(rows: Sequence[Row], ceiling: Row, path: Path, title: str) -> None:
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in rows if math.isfinite(row.tau)]  # tau is undefined when a ranking is constant
    fig, ax = plt.subplots(figsize=(8, 6.5))
    for row in rows:
        ax.scatter(max(row.cpu_s, 1.0), row.tau, marker="o" if row.best_in_top3 else "x", s=60,
                   label=f"{row.name} (top third: {row.tau_top_third:.2f})")
    ax.axhline(ceiling.tau, color="grey", linestyle="--", linewidth=1,
               label=f"reference seed-to-seed tau {ceiling.tau:.2f} (the ceiling)")
    ax.set_xscale("log")
    ax.set_xlabel("scorer cost: CPU seconds for the whole set (1 thread; zero-cost scorers at 1)")
    ax.set_ylabel("Kendall tau against the reference mean")
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=9)
    ax.set_ylim(min([0.0] + [r.tau - 0.05 for r in rows]), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncol=1,
              title="o: reference best in the scorer's top 3, x: not", title_fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_benchmark_args(parser: argparse.ArgumentParser) -> None:
    """The benchmark's architectures, reference and records (this script and search_efficiency.py)."""
    parser.add_argument("--space", type=Path, default=ROOT / "spaces" / "c8_resnet.yaml")
    parser.add_argument("--flops", default="100M", help="FLOP budget per sample (fvcore convention)")
    parser.add_argument("--count", type=int, default=12, help="architectures in the benchmark (>= 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the architecture sample")
    parser.add_argument("--distinct", action="store_true",
                        help="sample the space's distinct networks, not its samples (see candidates)")
    parser.add_argument("--reference", default="3x20000", help="reference recipe: EPOCHSxIMAGES")
    parser.add_argument("--reference-seeds", default="0,1", help="two or more seeds of the reference")
    parser.add_argument("--records", type=Path, default=None,
                        help="JSON-lines records (default runs/rank_fidelity/<space>.jsonl)")


@dataclass(frozen=True)
class Benchmark:
    """The architectures, their trainer, and the reference runs of each reference seed."""

    space: SearchSpace
    reference: Rung
    cands: list[Candidate]
    trainer: Trainer
    by_seed: list[list[Run]]  # by_seed[j][i]: candidate i with reference seed j

    @property
    def ref_mean(self) -> list[float]:
        return [statistics.mean(runs[i].metric for runs in self.by_seed) for i in range(len(self.cands))]

    @property
    def exhaustive_s(self) -> float:
        """CPU seconds of training every candidate once with the reference recipe."""
        return sum(r.cpu_s for r in self.by_seed[0])

    @property
    def spread(self) -> list[float]:
        """Per candidate, the |difference| of the first two reference seeds."""
        return [abs(a.metric - b.metric) for a, b in zip(self.by_seed[0], self.by_seed[1])]


def load_benchmark(args: argparse.Namespace) -> Benchmark:
    """The architectures of `add_benchmark_args`' flags and their reference, trained where the
    records lack it."""
    space = load_space(args.space)
    reference = parse_rungs(args.reference)[0]
    ref_seeds = [int(s) for s in args.reference_seeds.split(",")]
    if args.count < 3 or len(ref_seeds) < 2:
        raise EqnasError("use --count >= 3 and at least two --reference-seeds")
    log = RunLog(args.records or ROOT / "runs" / "rank_fidelity" / f"{space.name}.jsonl")
    log.path.parent.mkdir(parents=True, exist_ok=True)
    cands = candidates(space, parse_budget(args.flops), args.count, args.seed, args.distinct)
    print(f"{space.name}: {len(cands)} architectures under {args.flops} FLOPs, "
          f"{cands[0].flops / 1e6:.1f}M to {cands[-1].flops / 1e6:.1f}M; reference {reference.label} "
          f"(test split), seeds {ref_seeds}; records {log.path}", flush=True)
    trainer = Trainer(space, log)
    by_seed = [[trainer.run(c, reference, seed, True) for c in cands] for seed in ref_seeds]
    return Benchmark(space, reference, cands, trainer, by_seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_benchmark_args(parser)
    parser.add_argument("--fidelities", default=Fidelity.of(Proxy()).label,
                        help="proxy first, then longer fidelities: also the rungs of successive halving "
                             "(eqnas search's default rungs)")
    parser.add_argument("--eta", type=int, default=3, help="successive halving promotes the best 1/eta")
    parser.add_argument("--finalist-seeds", type=int, default=2, help="seeds of the finalists at the top rung")
    parser.add_argument("--only", choices=("reference", "all"), default="all",
                        help="reference: train the reference only (the expensive part), then stop")
    parser.add_argument("--plot", type=Path, default=None, help="write the tau-against-cost plot here")
    args = parser.parse_args()
    try:
        run(args)
    except EqnasError as err:
        raise SystemExit(f"rank_fidelity: error: {err}") from None


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    fidelities = list(parse_rungs(args.fidelities))
    bench = load_benchmark(args)
    space, cands, trainer, by_seed, ref_mean = bench.space, bench.cands, bench.trainer, bench.by_seed, bench.ref_mean
    ref_seeds = args.reference_seeds.split(",")
    ref_cpu = sum(r.cpu_s for runs in by_seed for r in runs)
    ceiling = evaluate_scorer(Scored(f"reference seed {ref_seeds[0]} vs seed {ref_seeds[1]} (ceiling)",
                                     [r.metric for r in by_seed[0]], sum(r.cpu_s for r in by_seed[0])),
                              [r.metric for r in by_seed[1]])
    spread = bench.spread
    print(f"\nreference test accuracy {min(ref_mean):.4f} to {max(ref_mean):.4f}; seed-to-seed |difference| "
          f"median {statistics.median(spread):.4f}, max {max(spread):.4f}; seed-to-seed Kendall tau "
          f"{ceiling.tau:.2f} ({ref_cpu:.0f} CPU s for all reference trainings)")
    if args.only == "reference":
        return
    outcomes = [search_ranking(cands, trainer, fidelities, args.eta, args.finalist_seeds, promotion)
                for promotion in ("continue", "retrain")]
    rows = [evaluate_scorer(s, ref_mean) for s in scorers(cands, trainer, fidelities, [o.scored for o in outcomes])]
    exhaustive = bench.exhaustive_s
    print(f"\nsearch efficiency against the reference ({exhaustive:.0f} CPU s to train every candidate once with "
          f"the reference recipe; reference seed-to-seed median |difference| {statistics.median(spread) * 100:.1f} "
          "points):")
    for outcome in outcomes:
        print(f"  {outcome.scored.name}: {outcome.efficiency(ref_mean, exhaustive).line()}")
    print()
    print(markdown(rows, ceiling))
    print(f"\n{len(cands)} architectures (keys, FLOPs, reference mean):")
    for c, acc in zip(cands, ref_mean):
        print(f"  {c.key}  {c.flops / 1e6:.1f}M  {acc:.4f}")
    if args.plot:
        plot(rows, ceiling, args.plot, f"{space.name}, {len(cands)} architectures under {args.flops} FLOPs: "
                                        f"reference {bench.reference.label} on the test split, mean of "
                                        f"{len(ref_seeds)} seeds")
        print(f"plot: {args.plot}")
    print(f"\nwhole run {time.perf_counter() - started:.0f} s wall")


if __name__ == "__main__":
    main()
