"""Where each candidate of a search ended, from the records alone: the highest rung at which it
has a score, its score there (the mean over seeds where finalists were re-scored) and the search's
ranking by both (`eqnas.search.fidelity.rank`). Outputs, `eqnas report` and the Pareto plot
read it."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from eqnas.search.fidelity import Score, mean_score, rank
from eqnas.search.records import TrialRecord


@dataclass(frozen=True)
class Standing:
    record: TrialRecord  # its search-seed run at the rung it reached (its rung-0 run if it never scored)
    scores: tuple[Score, ...]  # per rung it ran at: the mean over its seeds there (None: failed)
    seeds: int  # how many seeds its final score averages
    seconds: float  # all its trainings

    @property
    def rung(self) -> int:
        return self.record.rung

    @property
    def score(self) -> Score:
        return self.scores[self.rung]


def standings(records: list[TrialRecord]) -> list[Standing]:
    """Every candidate that was trained or tried, best first; of equal scores, the one with fewer
    FLOPs (then the one trained first)."""
    last = {r.run: r for r in records if r.status != "rejected"}  # a run recorded twice: the last
    runs: dict[str, list[TrialRecord]] = defaultdict(list)
    for record in sorted(last.values(), key=lambda r: (r.trial, r.rung, r.seed)):
        runs[record.key].append(record)
    # rank() keeps the table's order among equal scores: the network with fewer FLOPs first
    cheaper_first = sorted(runs, key=lambda key: (_flops(runs[key][0]), runs[key][0].trial))
    table = {key: tuple(mean_score([r.metric for r in runs[key] if r.rung == k]) for k in range(runs[key][-1].rung + 1))
             for key in cheaper_first}
    result = []
    for key in rank(table):
        scored = [k for k, score in enumerate(table[key]) if score is not None]
        at_rung = [r for r in runs[key] if r.rung == (scored[-1] if scored else 0)]  # the search's seed first
        result.append(Standing(at_rung[0], table[key], sum(r.status == "ok" for r in at_rung),
                               sum(r.seconds for r in runs[key])))
    return result


def _flops(record: TrialRecord) -> float:
    return math.inf if record.flops is None else record.flops
