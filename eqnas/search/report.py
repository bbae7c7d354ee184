"""The table of a search run, read from its records."""
from __future__ import annotations

from pathlib import Path

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import format_flops
from eqnas.search.records import TrialLog, TrialRecord
from eqnas.search.standings import standings


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
    """One row per candidate, in the search's ranking: the highest rung it reached (fidelity),
    its score there (the mean over seeds where re-scored) and its score at each rung."""
    ranked = standings(records)
    multi = any(r.rung > 0 for r in records)
    rows = ["| rank | trial | status | fidelity | FLOPs | params | metric | by rung | seconds | architecture |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for rank, s in enumerate(ranked[:limit] if limit else ranked, start=1):
        r = s.record
        metric = "-" if s.score is None else f"{s.score:.4f}" + (f" ({s.seeds} seeds)" if s.seeds > 1 else "")
        by_rung = " / ".join("failed" if score is None else f"{score:.4f}" for score in s.scores) if multi else "-"
        fidelity = f"{r.rung}: {r.fidelity}" if r.fidelity else "-"
        flops = format_flops(r.flops) if r.flops is not None else "-"
        status = f"stopped@{r.extra['stopped_epoch']}" if "stopped_epoch" in r.extra else r.status
        rows.append(f"| {rank} | {r.trial} | {status} | {fidelity} | {flops} | {r.params or '-'} | {metric} | "
                    f"{by_rung} | {s.seconds:.1f} | {describe(r.arch)} |")
    rejected = sum(1 for r in records if r.status == "rejected")
    failed = sum(s.score is None for s in ranked)
    stopped = sum("stopped_epoch" in s.record.extra for s in ranked)
    rows.append("")
    rows.append(f"{len(ranked)} trained ({failed} failed, {stopped} stopped early by the median rule: "
                f"stopped@k = after epoch k), {rejected} rejected before training "
                f"(FLOPs: fvcore, one multiply-add = one FLOP; fidelity: rung: EPOCHSxIMAGES, ranked by "
                f"rung reached, then metric)")
    return "\n".join(rows)
