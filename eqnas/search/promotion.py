"""The rungs above the lowest: successive halving (`eqnas.search.fidelity.halve`) over a search's
recorded rung-0 scores, run in the search's own process after the strategy's proposals (also
when those ran in parallel), and the finalists' extra seeds at the top rung when two or more
reach it, each reaching it the way the search seed did (`Fidelity.path`: through the continued
rungs, or from scratch).

Every training goes through the search's `TrialRunner`, so a (candidate, rung, seed) already
recorded is not trained again (a resumed search replays the same promotions from the same
records) and a failure is recorded and the halving goes on without that candidate.
"""
from __future__ import annotations

from collections.abc import Callable

from eqnas.search.fidelity import Halving, Score, halve, mean_score
from eqnas.search.records import TrialLog, TrialRecord
from eqnas.search.trial import TrialFailed, TrialRunner

Run = tuple[str, int, int]  # (candidate key, rung, seed)


def candidates(records: list[TrialRecord], seed: int) -> dict[str, TrialRecord]:
    """Candidate key -> its rung-0 record, in candidate order. A twin (the same network as an
    earlier candidate, `same_as`) is that candidate, so it is not a candidate of its own."""
    first = sorted((r for r in records if r.rung == 0 and r.seed == seed and r.status != "rejected"),
                   key=lambda r: r.trial)
    return {r.key: r for r in first if "same_as" not in r.extra}


def finalist_seeds(seed: int, count: int) -> list[int]:
    """The seeds a finalist is scored with at the top rung: the search's, then the next ones."""
    return [seed + i for i in range(count)]


def run_promotions(runner: TrialRunner, on_run: Callable[[Run], None]) -> Halving:
    """Promotes and trains rung by rung; `on_run` is called after each training attempt."""
    fidelity, seed = runner.fidelity, runner.space.proxy.seed
    entered = candidates(TrialLog(runner.log_path).read(), seed)
    top = len(fidelity.rungs) - 1

    def attempt(key: str, rung: int, run_seed: int) -> Score:
        try:
            metric = runner.run(entered[key].sample, rung, run_seed)
        except TrialFailed:
            metric = None
        on_run((key, rung, run_seed))
        return metric

    def rescored(key: str, run_seed: int) -> Score:
        """A finalist's top-rung score with another seed, reached as promotion reached it."""
        for rung in fidelity.path(top):
            metric = attempt(key, rung, run_seed)
            if metric is None:
                return None
        return metric

    def score(key: str, rung: int) -> Score:
        if rung == 0:
            return entered[key].metric  # the strategy's trial (None: failed)
        return attempt(key, rung, seed)

    def all_seeds(key: str, first: float) -> Score:
        return mean_score([first, *(rescored(key, s) for s in finalist_seeds(seed, fidelity.finalist_seeds)[1:])])

    return halve(list(entered), score, fidelity.eta, len(fidelity.rungs), rescore=all_seeds)
