"""Search trial records, one JSON line per finished training of a candidate at a rung and seed
(see `eqnas.jsonlog`), and one per candidate the FLOP budget rejected."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eqnas.jsonlog import JsonLinesLog

Status = Literal["ok", "failed", "rejected"]


@dataclass(frozen=True)
class TrialRecord:
    key: str                   # the sample's identity (SearchSpace.key)
    status: Status
    sample: dict[str, Any]
    arch: dict[str, Any] | None
    flops: int | None          # fvcore: one multiply-add = one FLOP
    params: int | None         # trainable coefficients
    metric: float | None       # proxy validation metric, higher is better
    seconds: float
    error: str = ""
    trial: int = 0             # the candidate's number (every rung of a candidate shares it)
    extra: dict[str, Any] = field(default_factory=dict)
    rung: int = 0              # see eqnas.search.fidelity
    fidelity: str = ""         # the rung's EPOCHSxIMAGES
    seed: int = 0              # the training seed

    @property
    def run(self) -> tuple[str, int, int]:
        """What is never trained twice: (candidate, rung, seed)."""
        return (self.key, self.rung, self.seed)


class TrialLog(JsonLinesLog[TrialRecord]):
    """`trials.jsonl` in a run folder."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, TrialRecord)

    def finished(self) -> dict[tuple[str, int, int], TrialRecord]:
        """The last record of every (candidate, rung, seed) that was trained or tried (not merely
        rejected)."""
        return {r.run: r for r in self.read() if r.status != "rejected"}

    def rejected(self) -> dict[str, TrialRecord]:
        return {r.key: r for r in self.read() if r.status == "rejected"}


def arch_identity(arch_dict: dict[str, Any] | None) -> str:
    """Samples that differ only in labels the network does not use build the same network."""
    return json.dumps(arch_dict, sort_keys=True)
