"""`runs.jsonl`: one JSON line per finished retraining (see `eqnas.jsonlog`), so a study that
is killed resumes by reading the file and training only the runs it lacks."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqnas.jsonlog import JsonLinesLog

CONFIG = "study_config.json"  # the resolved study config, saved in the study folder

RUNS = "runs.jsonl"


def run_key(dataset: str, budget: int, arm: str, epsilon: float | None, seed: int) -> str:
    """A run's identity in the grid."""
    privacy = "none" if epsilon is None else f"eps{epsilon:g}"
    return f"{dataset}|{budget}|{arm}|{privacy}|seed{seed}"


@dataclass(frozen=True)
class RunRecord:
    key: str
    dataset: str
    budget: int                # FLOP budget (fvcore: one multiply-add = one FLOP)
    arm: str
    seed: int
    epsilon: float | None      # target epsilon; None: not private
    flops: int                 # the network that trained (adapted to the data)
    params: int                # trainable coefficients
    test_acc: float | None
    test_auc: float | None
    epsilon_spent: float | None
    delta: float | None
    seconds: float
    arch: str                  # the architecture file retrained (relative to the study folder if inside)
    data_used: list[dict[str, Any]] = field(default_factory=list)  # eqnas.study.provenance.DataUse, per stage


class RunLog(JsonLinesLog[RunRecord]):
    def __init__(self, path: Path) -> None:
        super().__init__(path, RunRecord)

    def finished(self) -> dict[str, RunRecord]:
        return {record.key: record for record in self.read()}
