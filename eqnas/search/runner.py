"""One search run: FLOP filter -> strategy (through the NNI adapter) -> proxy training ->
append-only records -> best.json, top-k, Pareto plot.

Resuming replays the strategy with the same seed; samples already in `trials.jsonl` return
their recorded result instead of training again.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import arch_params, format_flops
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.records import TrialLog, TrialRecord, arch_identity
from eqnas.search.space import Sample, SearchSpace

TrainFn = Callable[[Arch], float]
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


@dataclass(frozen=True)
class SearchSummary:
    out_dir: str
    evaluated: int
    rejected: int
    failed: int
    best_metric: float | None
    best_flops: int | None
    best_path: str | None


class TrialFailed(RuntimeError):
    """Raised back to the strategy so it records a failure and moves on."""


def run_search(space: SearchSpace, config: SearchConfig, train_fn: TrainFn, out_dir: Path,
               echo: Callable[[str], None] = print) -> SearchSummary:
    from eqnas.search import nni_adapter

    out_dir.mkdir(parents=True, exist_ok=True)
    log = TrialLog(out_dir / "trials.jsonl")
    if log.path.exists() and log.read() and not config.resume:
        raise EqnasError(f"{out_dir} already holds a search: pass --resume to continue it, or choose another --out")
    flop_filter = FlopFilter(space, config.flops_max, config.flops_min)
    flop_filter.check_feasible()
    (out_dir / "search_config.json").write_text(json.dumps(
        {"space": space.name, "choices": {k: list(v) for k, v in space.choices.items()},
         "proxy": asdict(space.proxy), **asdict(config)}, indent=2))
    finished = log.finished()
    rejected_keys = set(log.rejected())
    counter = {"trial": len(finished)}
    if finished:
        echo(f"resuming: {len(finished)} finished trials in {log.path} will not be trained again")

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

    by_arch = {arch_identity(r.arch): r for r in finished.values() if r.status == "ok"}

    def evaluate(sample: Sample) -> float:
        key = space.key(sample)
        if key in finished:
            record = finished[key]
            if record.status == "failed":
                raise TrialFailed(f"recorded as failed: {record.error}")
            return float(record.metric)
        counter["trial"] += 1
        arch = space.to_arch(sample)
        flops = flop_filter.flops(sample)
        started = time.perf_counter()
        twin = by_arch.get(arch_identity(arch.to_dict()))
        extra = {"same_as": twin.key} if twin else {}
        try:
            # samples that differ only in unused labels (e.g. a dropped stage) are one network
            metric = twin.metric if twin else float(train_fn(arch))
            if math.isnan(metric):
                raise TrialFailed("metric is NaN (diverged)")
            status, error = "ok", ""
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # any trial failure (exception, NaN, out of memory) is recorded
            metric, status, error = None, "failed", f"{type(exc).__name__}: {exc}"
        record = TrialRecord(
            key=key, status=status, sample=sample, arch=arch.to_dict(), flops=flops,
            params=arch_params(arch), metric=metric, seconds=round(time.perf_counter() - started, 3),
            error=error, trial=counter["trial"], extra=extra,
        )
        log.append(record)
        finished[key] = record
        if status == "ok":
            by_arch.setdefault(arch_identity(record.arch), record)
        shown = f"{metric:.4f}" if metric is not None else f"FAILED ({error[:80]})"
        echo(f"trial {record.trial}: {format_flops(flops)} FLOPs, {space.proxy.metric} {shown}, {record.seconds:.1f}s")
        if status == "failed":
            raise TrialFailed(error)
        return metric

    searched = space.searched()
    if searched:
        nni_adapter.run_search(
            choices=searched, evaluate=evaluate, accept=accept, strategy=config.strategy,
            max_trials=config.trials, seed=config.seed, time_budget_s=config.time_budget_s,
            concurrency=config.concurrency, work_dir=str(out_dir / "nni"),
        )
    elif accept({}):
        try:
            evaluate({})
        except TrialFailed:
            pass
    return write_outputs(out_dir, space.proxy.metric, config.flops_max, echo)


def write_outputs(out_dir: Path, metric_name: str, flops_max: int | None,
                  echo: Callable[[str], None] = print) -> SearchSummary:
    """best.json, top/<rank>.json, pareto.png and summary.json from the records."""
    from eqnas.search.pareto import plot_pareto

    records = TrialLog(out_dir / "trials.jsonl").read()
    ok = sorted((r for r in records if r.status == "ok"), key=lambda r: -r.metric)
    unique_ok = list({arch_identity(r.arch): r for r in reversed(ok)}.values())[::-1]
    failed = len({r.key for r in records if r.status == "failed"})
    rejected = len({r.key for r in records if r.status == "rejected"})
    best_path = None
    if unique_ok:
        top_dir = out_dir / "top"
        top_dir.mkdir(exist_ok=True)
        for rank, record in enumerate(unique_ok[:TOP_K], start=1):
            Arch.from_dict(record.arch).save(top_dir / f"{rank}.json")
        best_path = str(Arch.from_dict(unique_ok[0].arch).save(out_dir / "best.json"))
    plot_pareto(records, out_dir / "pareto.png", metric_name, flops_max)
    summary = SearchSummary(
        out_dir=str(out_dir), evaluated=len(unique_ok) + failed, rejected=rejected, failed=failed,
        best_metric=unique_ok[0].metric if unique_ok else None,
        best_flops=unique_ok[0].flops if unique_ok else None, best_path=best_path,
    )
    (out_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    echo(f"{summary.evaluated} trained ({failed} failed), {rejected} rejected by the FLOP budget before training")
    if not unique_ok:
        echo("no trial finished: the strategy found too few candidates within the budget; raise --flops, "
             "lower --flops-min or narrow the space")
    if best_path:
        echo(f"best: {metric_name} {summary.best_metric:.4f} at {format_flops(summary.best_flops)} FLOPs -> {best_path}")
    return summary
