"""One search run: FLOP filter -> strategy (through the NNI adapter) -> proxy training at the
lowest rung, with the median stopping rule ending hopeless trials early -> successive halving up
the rungs and the finalists' extra seeds (`eqnas.search.fidelity`, `eqnas.search.promotion`) ->
append-only records -> best.json, top-k, Pareto plot.

Resuming replays the strategy with the same seed, then the same promotions; a (candidate, rung,
seed) already in `trials.jsonl` returns its recorded result instead of training again, and the
learning curves rebuild the stopping rule's reference.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import format_flops
from eqnas.search.devices import slots_per_device
from eqnas.search.fidelity import Fidelity
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.promotion import Run, run_promotions
from eqnas.search.records import TrialLog, TrialRecord, arch_identity
from eqnas.search.space import Sample, SearchSpace
from eqnas.search.standings import Standing, standings
from eqnas.search.supernet_options import SupernetOptions
from eqnas.search.trial import TrainFn, TrialFailed, TrialRunner
from eqnas.train.adapt import TrainingMode

TOP_K = 5


@dataclass(frozen=True)
class SearchConfig:
    flops_max: int
    flops_min: int = 0
    strategy: str = "evolution"
    trials: int = 10
    time_budget_s: float | None = None
    concurrency: int = 1
    seed: int = 0
    resume: bool = False
    early_stop: bool = True  # the median stopping rule (eqnas.search.early_stop)
    training_service: dict | None = None  # NNI's training-service section, for other machines
    fidelity: Fidelity | None = None  # the rungs; None: the space proxy's (`Fidelity.of`)
    devices: tuple[str, ...] = ()  # parallel trials spread over these (eqnas.search.devices); (): none
    budgets: tuple[int, ...] = ()  # several FLOP budgets, one winner each (strategy supernet); () : flops_max
    supernet: SupernetOptions | None = None  # strategy supernet's own knobs
    modes: tuple[TrainingMode, ...] = ()  # other ways the winner will train (a study's DP): the budget holds in each


@dataclass(frozen=True)
class SearchSummary:
    out_dir: str
    evaluated: int
    rejected: int
    failed: int
    best_metric: float | None  # at the highest rung it reached (mean over seeds if re-scored)
    best_flops: int | None
    best_path: str | None
    best_fidelity: str | None = None  # the rung it reached: EPOCHSxIMAGES


def run_search(space: SearchSpace, config: SearchConfig, train_fn: TrainFn, out_dir: Path,
               echo: Callable[[str], None] = print) -> SearchSummary:
    """Runs the search into `out_dir`. With `config.concurrency` > 1 or a training service, trials
    run in processes of NNI's training service, so `train_fn` must be picklable (`proxy_trainer`
    is)."""
    from eqnas.search import nni_adapter

    log = open_log(out_dir, config.resume)
    fidelity = config.fidelity or Fidelity.of(space.proxy)
    _check_same_rungs(log, fidelity)
    flop_filter = FlopFilter(space, config.flops_max, config.flops_min, modes=config.modes)
    flop_filter.check_feasible()
    save_search_config(out_dir, space, config, fidelity=asdict(fidelity))
    earlier = set(log.finished())
    if earlier:
        echo(f"resuming: {len(earlier)} finished trainings in {log.path} will not be trained again")
    accept = budget_gate(space, flop_filter, log)

    shown: set[Run] = set()

    def show(record: TrialRecord) -> None:
        if record.run not in earlier and record.run not in shown:
            shown.add(record.run)
            echo(trial_line(record, space.proxy.metric, len(fidelity.rungs)))

    def ran(run: Run) -> None:
        record = log.finished().get(run)
        if record is not None:
            show(record)

    on_this_machine = config.concurrency > 1 and config.training_service is None
    threads = max(1, (os.cpu_count() or 1) // config.concurrency) if on_this_machine else None
    runner = TrialRunner(space, train_fn, log.path, flop_filter, fidelity, config.early_stop, threads,
                         config.devices, slots_per_device(config.devices, config.concurrency))
    searched = space.searched()
    if searched:
        nni_adapter.run_search(
            choices=searched, evaluate=runner, accept=accept, strategy=config.strategy,
            max_trials=config.trials, seed=config.seed, time_budget_s=config.time_budget_s,
            concurrency=config.concurrency, work_dir=str(out_dir / "nni"),
            on_trial_end=lambda sample: ran((space.key(sample), 0, space.proxy.seed)),
            training_service=config.training_service, identity=space.to_arch,
        )
        # NNI can end an experiment before the end events of its last trial processes reach this
        # process; their records are in the log, so their lines are printed from there.
        for record in sorted(log.finished().values(), key=lambda record: record.trial):
            show(record)
    elif accept({}):
        try:
            runner({})
        except TrialFailed:
            pass
        ran((space.key({}), 0, space.proxy.seed))
    if len(fidelity.rungs) > 1:
        run_promotions(runner, ran)
    return write_outputs(out_dir, space.proxy.metric, config.flops_max, echo)


def open_log(out_dir: Path, resume: bool) -> TrialLog:
    """The run folder's `trials.jsonl`; one that holds records is continued only with `resume`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log = TrialLog(out_dir / "trials.jsonl")
    if log.path.exists() and log.read() and not resume:
        raise EqnasError(f"{out_dir} already holds a search: pass --resume to continue it, or choose another --out")
    return log


def save_search_config(out_dir: Path, space: SearchSpace, config: SearchConfig, **extra) -> None:
    """`search_config.json`: the space's choices, its proxy and the resolved config."""
    (out_dir / "search_config.json").write_text(json.dumps(
        {"space": space.name, "choices": {k: list(v) for k, v in space.choices.items()},
         "proxy": asdict(space.proxy), **asdict(config), **extra}, indent=2))


def budget_gate(space: SearchSpace, flop_filter: FlopFilter, log: TrialLog) -> Callable[[Sample], bool]:
    """accept(sample): whether its FLOPs are within the budget; each sample turned away is
    recorded once as rejected."""
    rejected_keys = set(log.rejected())

    def accept(sample: Sample) -> bool:
        key = space.key(sample)
        flops = flop_filter.flops(sample)
        ok = flop_filter.within(flops)
        if not ok and key not in rejected_keys:
            rejected_keys.add(key)
            reason = "invalid architecture" if flops is None else f"{format_flops(flops)} FLOPs outside budget"
            log.append(TrialRecord(key=key, status="rejected", sample=sample, arch=None, flops=flops, params=None,
                                   metric=None, seconds=0.0, error=reason))
        return ok

    return accept


def run_nni_search(space: SearchSpace, config: SearchConfig, out_dir: Path, device: str,
                   echo: Callable[[str], None] = print) -> SearchSummary:
    """The runner of NNI's strategies (``eqnas.search.strategies``): the space's proxy trains each
    trial on `device`, at every rung of the search's fidelity schedule."""
    from eqnas.search.proxy import proxy_trainer

    at_once = f", {config.concurrency} at once" if config.concurrency > 1 else ""
    fidelity = config.fidelity
    rungs_note = (f"rungs {fidelity.label} (EPOCHSxIMAGES), eta {fidelity.eta}, promotion: {fidelity.promotion}, "
                  f"finalists x {fidelity.finalist_seeds} seeds when two or more") if len(fidelity.rungs) > 1 else \
        f"{fidelity.rungs[0].epochs} epoch(s), {fidelity.rungs[0].images or 'all'} images"
    echo(f"searching {space.name} ({space.size()} architectures) with {config.strategy}, {config.trials} trials"
         f"{at_once}, budget {format_flops(config.flops_max)} FLOPs; proxy: {space.proxy.data}, {rungs_note} "
         f"-> {out_dir}")
    summary = run_search(space, config, proxy_trainer(space.proxy, device), out_dir, echo)
    echo(f"table: eqnas report {out_dir}    retrain: eqnas retrain --arch {out_dir}/best.json --data {space.proxy.data}")
    return summary


def _check_same_rungs(log: TrialLog, fidelity: Fidelity) -> None:
    """A resumed search reuses records by (candidate, rung, seed), so its rungs must be the same."""
    labels = [rung.label for rung in fidelity.rungs]
    for record in log.read():
        if record.fidelity and (record.rung >= len(labels) or labels[record.rung] != record.fidelity):
            raise EqnasError(f"{log.path.parent} was searched with rung {record.rung} = {record.fidelity}, not with "
                             f"rungs {fidelity.label}: resume with the same rungs, or choose another --out")


def trial_line(record: TrialRecord, metric_name: str, rungs: int) -> str:
    """The progress line of a finished training."""
    shown = f"{record.metric:.4f}" if record.metric is not None else f"FAILED ({record.error[:80]})"
    if "stopped_epoch" in record.extra:
        shown += f" (stopped after epoch {record.extra['stopped_epoch']}: below the median)"
    notes = [record.fidelity] + ["continued"] * ("continued_from" in record.extra) + [f"seed {record.seed}"]
    where = f" rung {record.rung} ({', '.join(notes)})" if rungs > 1 else ""
    return f"trial {record.trial}{where}: {format_flops(record.flops)} FLOPs, {metric_name} {shown}, {record.seconds:.1f}s"


def write_outputs(out_dir: Path, metric_name: str, flops_max: int | None,
                  echo: Callable[[str], None] = print, done: tuple[str, str] = ("trained", "training")) -> SearchSummary:
    """best.json, top/<rank>.json, pareto.png and summary.json from the records, in the search's
    ranking (`eqnas.search.standings`): the highest rung reached, then the score there. `done`:
    what happened to each candidate and its noun, for the closing line."""
    from eqnas.search.pareto import plot_pareto

    records = TrialLog(out_dir / "trials.jsonl").read()
    ranked = standings(records)
    ok = [s for s in ranked if s.score is not None]
    best_of: dict[str, Standing] = {}  # each network at its best-ranked record (samples may share one)
    for standing in ok:
        best_of.setdefault(arch_identity(standing.record.arch), standing)
    unique_ok = list(best_of.values())
    failed = sum(s.score is None for s in ranked)
    rejected = len({r.key for r in records if r.status == "rejected"})
    best_path = None
    if unique_ok:
        top_dir = out_dir / "top"
        top_dir.mkdir(exist_ok=True)
        for rank, standing in enumerate(unique_ok[:TOP_K], start=1):
            Arch.from_dict(standing.record.arch).save(top_dir / f"{rank}.json")
        best_path = str(Arch.from_dict(unique_ok[0].record.arch).save(out_dir / "best.json"))
    plot_pareto(records, out_dir / "pareto.png", metric_name, flops_max)
    best = unique_ok[0] if unique_ok else None
    summary = SearchSummary(
        out_dir=str(out_dir), evaluated=len(unique_ok) + failed, rejected=rejected, failed=failed,
        best_metric=best.score if best else None, best_flops=best.record.flops if best else None,
        best_path=best_path, best_fidelity=best.record.fidelity if best else None,
    )
    (out_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    echo(f"{summary.evaluated} {done[0]} ({failed} failed), {rejected} rejected by the FLOP budget before {done[1]}")
    if not unique_ok:
        echo("no trial finished: the strategy found too few candidates within the budget; raise --flops, "
             "lower --flops-min or narrow the space")
    if best:
        seeds = f", mean of {best.seeds} seeds" if best.seeds > 1 else ""
        fidelity = f" (rung {best.rung}: {best.record.fidelity}{seeds})" if best.rung > 0 else ""
        echo(f"best: {metric_name} {summary.best_metric:.4f}{fidelity} at {format_flops(summary.best_flops)} FLOPs "
             f"-> {best_path}")
    return summary
