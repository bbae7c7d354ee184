"""The table of a search run, read from its records."""
from __future__ import annotations

from pathlib import Path

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import format_flops
from eqnas.search.records import TrialLog, TrialRecord


def load_records(run_dir: Path) -> list[TrialRecord]:
    path = run_dir / "trials.jsonl"
    if not path.exists():
        raise EqnasError(f"{run_dir} is not a search run folder (no trials.jsonl)")
    return TrialLog(path).read()


def describe(arch_dict: dict | None) -> str:
    if not arch_dict:
        return "-"
    arch = Arch.from_dict(arch_dict)
    groups = [str(g) for g in arch.stage_groups()]
    stages = " ".join(f"{s.depth}x{s.width}k{s.kernel}s{s.stride}" for s in arch.stages)
    schedule = groups[0] if len(set(groups)) == 1 else "->".join(groups)
    return f"{schedule} {arch.family} stem {arch.stem.width} | {stages} | {arch.resolution}px"


def report_table(records: list[TrialRecord], limit: int | None = None) -> str:
    trained = [r for r in records if r.status != "rejected"]
    trained.sort(key=lambda r: (r.status != "ok", -(r.metric or 0.0)))
    rows = ["| rank | trial | status | FLOPs | params | metric | seconds | architecture |", "|---|---|---|---|---|---|---|---|"]
    for rank, r in enumerate(trained[:limit] if limit else trained, start=1):
        metric = f"{r.metric:.4f}" if r.metric is not None else "-"
        flops = format_flops(r.flops) if r.flops is not None else "-"
        status = f"stopped@{r.extra['stopped_epoch']}" if "stopped_epoch" in r.extra else r.status
        rows.append(f"| {rank} | {r.trial} | {status} | {flops} | {r.params or '-'} | {metric} | {r.seconds:.1f} | {describe(r.arch)} |")
    rejected = sum(1 for r in records if r.status == "rejected")
    failed = sum(1 for r in records if r.status == "failed")
    rows.append("")
    stopped = sum(1 for r in trained if "stopped_epoch" in r.extra)
    rows.append(f"{len(trained)} trained ({failed} failed, {stopped} stopped early by the median rule: "
                f"stopped@k = after epoch k), {rejected} rejected before training "
                f"(FLOPs: fvcore, one multiply-add = one FLOP)")
    return "\n".join(rows)
