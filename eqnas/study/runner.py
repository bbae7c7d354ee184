"""`run_study`: checks everything that can be checked before training (config, search data,
searched spaces' and fixed architectures' FLOPs against their budgets), then per cell finds its architecture and retrains it under every
privacy setting and seed, appending one record per finished run, and writes the report.

A study killed mid-grid resumes: finished runs are read from `runs.jsonl`, finished searches
from their folders, and only the rest trains."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.profiling import format_flops
from eqnas.search.runner import run_search
from eqnas.study.config import StudyConfig
from eqnas.study.data import StudyData
from eqnas.study.grid import Run, cells, runs
from eqnas.study.provenance import check_search_data
from eqnas.study.records import CONFIG, RUNS, RunLog, RunRecord
from eqnas.study.winners import SearchFn, cell_arch, check_arms, cost
from eqnas.train.loop import train

TrainFn = Callable[..., object]  # the signature of eqnas.train.loop.train


def save_config(config: StudyConfig, out: Path) -> None:
    """Writes the resolved config; a folder holding another study's config is refused."""
    path = out / CONFIG
    resolved = json.loads(json.dumps(config.to_dict()))
    if path.exists():
        saved = json.loads(path.read_text())
        for key in sorted(set(saved) | set(resolved)):
            if saved.get(key) != resolved.get(key):
                raise EqnasError(f"{out} holds a study whose {key!r} differs ({saved.get(key)!r} there, "
                                 f"{resolved.get(key)!r} now): use the same config to resume, or another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resolved, indent=2) + "\n")


def run_study(config: StudyConfig, out: Path, train_fn: TrainFn = train, search_fn: SearchFn = run_search,
              echo: Callable[[str], None] = print) -> list[RunRecord]:
    """Runs (or resumes) the study into `out` and writes its report; returns every run's record."""
    from eqnas.study.report import write_report

    check_search_data(config.datasets, config.search_data.dataset, config.search_data.public_split, config.private)
    grid = cells(config)
    data = StudyData(config)
    for dataset in config.datasets:
        data.parts(dataset)  # a public split too large for the data fails here, before training
    check_arms(config, grid, data)
    save_config(config, out)
    log = RunLog(out / RUNS)
    done = log.finished()
    total = sum(len(runs(config, cell)) for cell in grid)
    if done:
        echo(f"resuming: {len(done)} of {total} runs are finished in {log.path} and will not train again")
    count = len(done)
    for cell in grid:
        todo = [run for run in runs(config, cell) if run.key not in done]
        if not todo:
            continue
        arch_path = cell_arch(config, cell, data, out, search_fn, echo)
        for run in todo:
            shown = arch_path.relative_to(out) if arch_path.is_relative_to(out) else arch_path  # a movable folder
            record = _retrain(config, run, Arch.load(arch_path), str(shown), data, out, train_fn)
            log.append(record)
            count += 1
            echo(_progress(record, count, total))
    return write_report(config, out, echo)


def _retrain(config: StudyConfig, run: Run, arch: Arch, arch_path: str, data: StudyData, out: Path,
             train_fn: TrainFn) -> RunRecord:
    cell = run.cell
    train_config = config.run_config(cell.arm, run.epsilon, run.seed)
    folder = out / "runs" / re.sub(r"[^A-Za-z0-9.+=-]+", "_", run.key)
    metrics = train_fn(arch, data.retrain_splits(cell.dataset, arch.resolution), train_config, folder,
                       progress=False).metrics
    flops, params = cost(Arch.from_dict(metrics["arch"]))
    privacy = metrics["privacy"] or {}
    return RunRecord(
        key=run.key, dataset=cell.dataset, budget=cell.budget, arm=cell.arm.name, seed=run.seed,
        epsilon=run.epsilon, flops=flops, params=params, test_acc=metrics["test_acc"],
        test_auc=metrics["test_auc"], epsilon_spent=privacy.get("epsilon"), delta=privacy.get("delta"),
        seconds=metrics["seconds"], arch=arch_path,
        data_used=[use.to_dict() for use in data.uses(cell.dataset, cell.arm.searched, train_config)],
    )


def _progress(record: RunRecord, count: int, total: int) -> str:
    privacy = "no DP" if record.epsilon is None else f"eps {record.epsilon_spent:.2f} of {record.epsilon:g}"
    acc = "-" if record.test_acc is None else f"{record.test_acc:.4f}"
    return (f"[{count}/{total}] {record.dataset} {format_flops(record.budget)} {record.arm} seed {record.seed} "
            f"({privacy}): test acc {acc}, {format_flops(record.flops)} FLOPs, {record.seconds:.0f}s")
