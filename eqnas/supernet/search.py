"""`eqnas search --strategy supernet`: train the space's supernet once (one per outer choice: the
group or restriction schedule), then search its subnets with inherited weights, for one or
several FLOP budgets.

Run folder: `supernet/<outer choice>/supernet.pt` (trained when missing, resumed when cut short;
by default only its subnets within the largest budget are trained, see SupernetOptions.cap),
`flops.json` (the FLOPs counted, eqnas.supernet.flop_counts);
per budget (the run folder itself for one budget, `<run>/<budget>/` for several) the records,
best.json, top/, pareto.png and summary.json of an ordinary search, every candidate scored with
the supernet's weights (`eqnas.supernet.score`) on a validation subset. A subnet scored for one
budget is not scored again for another. `top_k` > 0: the best K of each budget are retrained
stand-alone (`eqnas.supernet.standalone`).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.data.base import Splits
from eqnas.errors import EqnasError
from eqnas.profiling import arch_params, format_flops
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.proxy import proxy_config
from eqnas.search.records import TrialLog, TrialRecord, arch_identity
from eqnas.search.runner import (SearchConfig, SearchSummary, budget_gate, open_log, save_search_config, trial_line,
                                 write_outputs)
from eqnas.search.space import Sample, SearchSpace
from eqnas.search.supernet_options import SupernetOptions
from eqnas.supernet.flop_counts import read_flop_counts, write_flop_counts
from eqnas.supernet.record import SUPERNETS, FILE
from eqnas.supernet.score import ScoreData, score_data, score_subnet
from eqnas.supernet.subnets import outer_choices, outer_labels
from eqnas.supernet.supernet import Supernet
from eqnas.supernet.train import Sandwich, train_supernet
from eqnas.train.adapt import TrainingMode

FIDELITY = "supernet"  # the records' fidelity: scored with inherited weights
SUBNET_STRATEGY = "evolution"  # NNI's strategy over the subnets of a space larger than --trials
_METRIC_KEYS = {"accuracy": "acc", "auc": "auc"}


def budget_folders(out_dir: Path, budgets: tuple[int, ...]) -> list[Path]:
    """The run folder for one budget; a folder per budget (named like `100M`) for several."""
    return [out_dir] if len(budgets) == 1 else [out_dir / format_flops(budget) for budget in budgets]


def supernet_folder(out_dir: Path, space: SearchSpace, outer: Sample) -> Path:
    """`<run>/supernet/<outer choice>`: `all` when the space has no outer label."""
    return out_dir / SUPERNETS / (space.key(outer).replace("|", ",") or "all")


def train_supernets(space: SearchSpace, splits: Splits, options: SupernetOptions, out_dir: Path, device: str,
                    echo: Callable[[str], None], flops_cap: int | None = None, flops_cache: dict | None = None,
                    modes: tuple[TrainingMode, ...] = ()) -> dict[str, Supernet]:
    """Outer choice key -> its supernet, trained into the run folder (or read back when finished);
    `flops_cap`: only subnets within it are trained, FLOPs counted as the search's filter counts
    them (`modes`, `flops_cache`; eqnas.supernet.draws)."""
    config = proxy_config(space.proxy, device).replace(epochs=options.epochs, subset=options.images)
    sandwich = Sandwich(flops_cap=flops_cap)
    supernets = {}
    for outer in outer_choices(space):
        folder = supernet_folder(out_dir, space, outer)
        supernet = Supernet(space, outer, options.kernels)
        where = f" ({space.key(outer)})" if outer else ""
        within = "every subnet" if flops_cap is None else f"subnets within {format_flops(flops_cap)} FLOPs"
        echo(f"supernet{where}: {options.epochs} epoch(s) on {options.images or 'all'} images, kernels "
             f"{options.kernels}, {within} -> {folder / FILE}")
        start = time.perf_counter()
        history = train_supernet(supernet, splits, config, folder, sandwich, flops_cache=flops_cache, modes=modes)
        if history:
            echo(f"supernet{where} trained: largest loss {history[-1]['largest_loss']:.4f}, "
                 f"{time.perf_counter() - start:.0f}s")
        supernets[space.key(outer)] = supernet.eval()
    return supernets


class InheritedScores:
    """Scores subnets with their supernet's weights, each network once (memory of this run and of
    every budget's records)."""

    def __init__(self, space: SearchSpace, supernets: dict[str, Supernet], data: ScoreData, metric: str,
                 known: dict[str, TrialRecord]) -> None:
        self.space, self.supernets, self.data = space, supernets, data
        self.metric_key = _METRIC_KEYS[metric]
        self.known = known  # arch identity -> a record holding its score

    def __call__(self, sample: Sample, arch: Arch) -> tuple[float, dict, float]:
        """(metric, every score, seconds) of the sample's network."""
        found = self.known.get(arch_identity(arch.to_dict()))
        if found is not None:
            return found.metric, found.extra.get("scores", {}), 0.0
        outer = {label: sample[label] for label in outer_labels(self.space)}
        scores = score_subnet(self.supernets[self.space.key(outer)], arch, self.data)
        return scores[self.metric_key], scores, scores["seconds"]


def search_budget(space: SearchSpace, config: SearchConfig, budget: int, folder: Path, scores: InheritedScores,
                  flops_cache: dict, echo: Callable[[str], None]) -> SearchSummary:
    """One budget's search over the subnets: every one of them when the space holds at most
    `config.trials` samples, or when at most that many fit the budget (known once a cap counted
    every subnet's FLOPs), else NNI's evolution for `config.trials` scored subnets."""
    from eqnas.search import nni_adapter

    log = TrialLog(folder / "trials.jsonl")
    flop_filter = FlopFilter(space, budget, config.flops_min, modes=config.modes, _cache=flops_cache)
    flop_filter.check_feasible()
    save_search_config(folder, space, config, budget=budget)
    accept = budget_gate(space, flop_filter, log)
    seed = space.proxy.seed

    def evaluate(sample: Sample) -> float:
        key = space.key(sample)
        done = log.finished().get((key, 0, seed))
        if done is not None:
            return done.metric
        arch = space.to_arch(sample)
        metric, every, seconds = scores(sample, arch)
        record = log.append_from(lambda records: TrialRecord(
            key=key, status="ok", sample=sample, arch=arch.to_dict(), flops=flop_filter.flops(sample),
            params=arch_params(arch), metric=metric, seconds=seconds, trial=1 + max((r.trial for r in records), default=0),
            extra={"scores": every}, fidelity=FIDELITY, seed=seed))
        scores.known.setdefault(arch_identity(record.arch), record)
        echo(f"[{format_flops(budget)}] " + trial_line(record, space.proxy.metric, 1))
        return metric

    fitting = _fitting(space, flop_filter, flops_cache)
    if space.size() <= config.trials:
        for sample in space.enumerate():
            if accept(sample):
                evaluate(sample)
    elif fitting is not None and len(fitting) <= config.trials:
        for sample in fitting:
            evaluate(sample)
    else:
        nni_adapter.run_search(choices=space.searched(), evaluate=evaluate, accept=accept, strategy=SUBNET_STRATEGY,
                               max_trials=config.trials, seed=config.seed, time_budget_s=config.time_budget_s,
                               work_dir=str(folder / "nni"), identity=space.to_arch)
    return write_outputs(folder, space.proxy.metric, budget, echo, done=("scored", "scoring"))


def _fitting(space: SearchSpace, flop_filter: FlopFilter, counted: dict) -> list[Sample] | None:
    """The first sample of each network within the budget when every sample's FLOPs are already
    counted (by a cap), else None (counting them all just to find out would cost more than the search)."""
    samples = space.enumerate()
    if not all(space.key(sample) in counted for sample in samples):
        return None
    return space.distinct([sample for sample, _ in flop_filter.fitting(samples)])


def run_supernet_search(space: SearchSpace, config: SearchConfig, out_dir: Path, device: str,
                        echo: Callable[[str], None] = print) -> list[SearchSummary]:
    """The runner of strategy `supernet` (``eqnas.search.strategies``): one summary per budget."""
    from eqnas.data.registry import load_dataset
    from eqnas.supernet.standalone import retrain_top

    if config.concurrency > 1 or config.training_service is not None:
        raise EqnasError("--strategy supernet scores subnets in this process: --concurrency and "
                         "--training-service do not apply")
    options = config.supernet or SupernetOptions()
    budgets = config.budgets or (config.flops_max,)
    folders = budget_folders(out_dir, budgets)
    logs = [open_log(folder, config.resume) for folder in folders]
    proxy = space.proxy
    echo(f"searching {space.name} ({space.size()} architectures) with a supernet, {config.trials} scored subnets "
         f"per budget, budgets {', '.join(map(format_flops, budgets))} FLOPs; data {proxy.data} -> {out_dir}")
    splits = load_dataset(proxy.data, proxy.data_root, resolution=max(space.choices["resolution"]), seed=proxy.seed)
    flops_cache = read_flop_counts(out_dir, config.modes)  # counted once: by the cap, then each budget's filter
    try:
        supernets = train_supernets(space, splits, options, out_dir, device, echo, options.flops_cap(budgets),
                                    flops_cache, config.modes)
        known = {arch_identity(r.arch): r for log in logs for r in log.read() if r.status == "ok"}
        scores = InheritedScores(space, supernets, score_data(splits, seed=proxy.seed), proxy.metric, known)
        summaries = [search_budget(space, config, budget, folder, scores, flops_cache, echo)
                     for budget, folder in zip(budgets, folders)]
    finally:
        write_flop_counts(out_dir, config.modes, flops_cache)
    if options.top_k:
        retrain_top(space, dict(zip(budgets, folders)), options, out_dir, device, echo)
    echo(f"table: eqnas report {folders[0]}    weights: eqnas.load({str(out_dir)!r}, subnet=<best.json>)")
    return summaries
