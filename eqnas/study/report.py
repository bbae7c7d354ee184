"""The study's tables, read from its records: `results.csv` (one row per run), the mean and
95% Student-t interval per cell, the paired differences of the compared arms, and what the
epsilon covers. `eqnas report DIR` prints the same text as `report.md`."""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from eqnas.errors import EqnasError
from eqnas.profiling import format_flops
from eqnas.study.records import CONFIG, RUNS, RunLog, RunRecord
from eqnas.study.stats import Interval, paired_difference, t_interval

RESULTS, REPORT, CELLS = "results.csv", "report.md", "cells.csv"
COLUMNS = ("dataset", "budget", "arm", "seed", "epsilon", "flops", "params", "test_acc", "test_auc",
           "epsilon_spent", "delta", "seconds", "train_images", "search_images", "arch")
CellKey = tuple[str, int, str, float | None]  # dataset, budget, arm, target epsilon
STAGES = ("search", "search-select", "retrain", "select", "test")  # DataUse.stage, in pipeline order


def privacy_label(epsilon: float | None) -> str:
    return "none" if epsilon is None else f"{epsilon:g}"


def _images(record: RunRecord, stage: str) -> int | None:
    return next((use["count"] for use in record.data_used if use["stage"] == stage and use["split"] == "train"), None)


def result_rows(records: list[RunRecord]) -> list[dict]:
    """The tidy table: one row per run."""
    return [{"dataset": r.dataset, "budget": r.budget, "arm": r.arm, "seed": r.seed,
             "epsilon": privacy_label(r.epsilon), "flops": r.flops, "params": r.params, "test_acc": r.test_acc,
             "test_auc": r.test_auc, "epsilon_spent": r.epsilon_spent, "delta": r.delta,
             "seconds": round(r.seconds, 2), "train_images": _images(r, "retrain"),
             "search_images": _images(r, "search"), "arch": r.arch} for r in records]


def by_cell(records: list[RunRecord]) -> dict[CellKey, list[RunRecord]]:
    groups: dict[CellKey, list[RunRecord]] = defaultdict(list)
    for record in records:
        if record.test_acc is not None:
            groups[(record.dataset, record.budget, record.arm, record.epsilon)].append(record)
    return dict(groups)


def cell_intervals(records: list[RunRecord]) -> dict[CellKey, Interval]:
    """Test accuracy per cell: mean and 95% t interval over its seeds."""
    return {key: t_interval([r.test_acc for r in group]) for key, group in by_cell(records).items()}


def paired_rows(records: list[RunRecord], compare: list[tuple[str, str]]) -> list[dict]:
    """first - second, paired by seed, for every dataset, budget and privacy setting both ran."""
    cells = by_cell(records)
    rows = []
    for (dataset, budget, arm, epsilon), group in sorted(cells.items(), key=lambda kv: _order(kv[0])):
        for first, second in compare:
            other = cells.get((dataset, budget, second, epsilon))
            if arm != first or other is None:
                continue
            diff = paired_difference({r.seed: r.test_acc for r in group}, {r.seed: r.test_acc for r in other})
            rows.append({"dataset": dataset, "budget": budget, "epsilon": epsilon, "first": first,
                         "second": second, "interval": diff})
    return rows


def _order(key: CellKey) -> tuple:
    dataset, budget, arm, epsilon = key
    return dataset, budget, epsilon is not None, epsilon or 0.0, arm


def _pm(interval: Interval, digits: int = 4) -> str:
    if interval.n < 2:
        return f"{interval.mean:.{digits}f} (n=1, no interval)"
    return f"{interval.mean:.{digits}f} ± {interval.half_width:.{digits}f}"


def cell_table(records: list[RunRecord]) -> str:
    cells, intervals = by_cell(records), cell_intervals(records)
    lines = ["| dataset | budget | arm | ε | n | test acc (mean ± 95% t) | 95% interval | FLOPs | params | ε spent (max) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(cells, key=_order):
        dataset, budget, arm, epsilon = key
        group, interval = cells[key], intervals[key]
        spent = [r.epsilon_spent for r in group if r.epsilon_spent is not None]
        flops = sorted({r.flops for r in group})
        spent_text = f"{max(spent):.3f}" if spent else "-"
        flops_text = ", ".join(format_flops(f) for f in flops) + (" (over budget)" if flops[-1] > budget else "")
        lines.append(f"| {dataset} | {format_flops(budget)} | {arm} | {privacy_label(epsilon)} | {interval.n} "
                     f"| {_pm(interval)} | [{interval.low:.4f}, {interval.high:.4f}] "
                     f"| {flops_text} | {group[0].params:,} | {spent_text} |")
    return "\n".join(lines)


def paired_table(rows: list[dict]) -> str:
    if not rows:
        return "(no compared pair of arms ran at the same dataset, budget and privacy setting)"
    lines = ["| dataset | budget | ε | difference | n seeds | mean (first − second) | 95% t interval |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        interval = row["interval"]
        lines.append(f"| {row['dataset']} | {format_flops(row['budget'])} | {privacy_label(row['epsilon'])} "
                     f"| {row['first']} − {row['second']} | {interval.n} | {interval.mean:+.4f} "
                     f"| [{interval.low:+.4f}, {interval.high:+.4f}] |")
    return "\n".join(lines)


def privacy_statement(records: list[RunRecord]) -> str:
    """What the epsilon covers, and the images every stage saw, per dataset."""
    private = [r for r in records if r.epsilon is not None]
    lines = []
    if private:
        deltas = sorted({r.delta for r in private if r.delta is not None})
        lines.append("ε covers the retraining only: DP-SGD (Opacus, the accountant in each run's metrics.json) "
                     f"on the images marked 'covered' below, at δ = {', '.join(f'{d:g}' for d in deltas)}. "
                     "The searches saw no image of the private training set (checked before training), so they "
                     "spend none of it; the validation split that chooses checkpoints and the test split are "
                     "not covered.")
    else:
        lines.append("No run is private: no ε is claimed.")
    seen: dict[str, set[tuple]] = defaultdict(set)
    for record in records:
        for use in record.data_used:
            stage = use["stage"]
            if stage == "retrain":  # one line per privacy setting
                stage = "retrain without DP" if record.epsilon is None else f"retrain under DP-SGD (ε = {record.epsilon:g})"
            seen[record.dataset].add((STAGES.index(use["stage"]), stage, use["dataset"], use["split"], use["selection"],
                                      use["count"], use["covered_by_epsilon"], use["indices_sha256"]))
    for dataset in sorted(seen):
        lines.append(f"\nData each stage used, study dataset {dataset}:")
        for _, stage, name, split, selection, count, covered, sha in sorted(seen[dataset], key=lambda u: u[:2]):
            mark = "covered by ε" if covered else "not covered"
            digest = f" [indices sha256 {sha}]" if sha else ""
            lines.append(f"- {stage}: {name}, {split} split, {count} images: {selection} ({mark}){digest}")
    return "\n".join(lines)


def report_text(records: list[RunRecord], compare: list[tuple[str, str]]) -> str:
    return "\n\n".join([
        "## Test accuracy per cell (mean and 95% Student-t interval over seeds)", cell_table(records),
        "## Paired differences (by seed)", paired_table(paired_rows(records, compare)),
        "## Privacy accounting", privacy_statement(records),
        "FLOPs: fvcore, one multiply-add = one FLOP, per sample, of the network that trained (adapted to the "
        "data and, under DP, to group norm).",
    ]) + "\n"


def write_csv(path: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def cell_rows(records: list[RunRecord]) -> list[dict]:
    cells, intervals = by_cell(records), cell_intervals(records)
    return [{"dataset": k[0], "budget": k[1], "arm": k[2], "epsilon": privacy_label(k[3]), "n": v.n,
             "mean_acc": v.mean, "ci95_low": v.low, "ci95_high": v.high,
             "flops": sum(r.flops for r in cells[k]) / len(cells[k])}
            for k, v in sorted(intervals.items(), key=lambda kv: _order(kv[0]))]


def write_report(config, out: Path, echo: Callable[[str], None] = print) -> list[RunRecord]:
    """results.csv, cells.csv, report.md and the two plots, from the records."""
    from eqnas.study.plots import plot_accuracy_vs_epsilon, plot_accuracy_vs_flops

    records = RunLog(out / RUNS).read()
    write_csv(out / RESULTS, result_rows(records), COLUMNS)
    write_csv(out / CELLS, cell_rows(records), ("dataset", "budget", "arm", "epsilon", "n", "mean_acc", "ci95_low",
                                                  "ci95_high", "flops"))
    text = report_text(records, list(config.compare))
    (out / REPORT).write_text(f"# Study {config.name}\n\n{text}")
    intervals, flops = cell_intervals(records), {k: [r.flops for r in g] for k, g in by_cell(records).items()}
    plot_accuracy_vs_flops(intervals, flops, out / "accuracy_vs_flops.png")
    if config.private:
        plot_accuracy_vs_epsilon(intervals, out / "accuracy_vs_epsilon.png")
    echo(f"{len(records)} runs -> {out / RESULTS}, {out / REPORT} (eqnas report {out})")
    return records


def load_report(out: Path) -> str:
    """The text of `eqnas report` for a study folder."""

    if not (out / RUNS).exists():
        raise EqnasError(f"{out} is not a study folder (no {RUNS})")
    compare = [tuple(pair) for pair in json.loads((out / CONFIG).read_text()).get("compare", [])]
    return report_text(RunLog(out / RUNS).read(), compare)
