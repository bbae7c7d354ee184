"""The median stopping rule, alone and inside a search run (learning curves simulated)."""
from __future__ import annotations

import statistics

import pytest

from eqnas.arch import Arch
from eqnas.search.early_stop import MedianStop, TrialCurve, running_best
from eqnas.search.records import TrialLog
from eqnas.search.report import report_table
from eqnas.search.runner import SearchConfig, run_search
from eqnas.search.trial import stopping_rule
from eqnas.search.space import parse_space


def test_running_best():
    assert running_best([0.2, 0.5, 0.4, 0.6]) == [0.2, 0.5, 0.5, 0.6]


def test_rule_compares_the_best_so_far_with_the_median_of_completed_trials():
    rule = MedianStop(min_completed=3)
    rule.add_completed([0.3, 0.5, 0.6])
    rule.add_completed([0.4, 0.6, 0.7])
    assert not rule.should_stop(1, [0.0], epochs=3)  # two completed trials: too few to judge
    rule.add_completed([0.5, 0.4, 0.8])  # running best 0.5, 0.5, 0.8
    # medians of the running bests: epoch 1 -> 0.4, epoch 2 -> 0.5
    assert rule.should_stop(1, [0.39], epochs=3)
    assert not rule.should_stop(1, [0.4], epochs=3)  # equal to the median is not below it
    assert not rule.should_stop(2, [0.45, 0.52], epochs=3)
    assert rule.should_stop(2, [0.45, 0.49], epochs=3)
    assert rule.should_stop(2, [0.49, 0.2], epochs=3)  # judged by its best epoch, not its last
    assert not rule.should_stop(3, [0.0, 0.0, 0.0], epochs=3)  # never at the last epoch


def test_trial_curve_records_stops_and_only_complete_curves_become_references():
    rule = MedianStop(min_completed=1)
    first = TrialCurve(rule, epochs=3)
    assert all(first(epoch, metric) for epoch, metric in [(1, 0.5), (2, 0.6), (3, 0.7)])
    first.finish()
    assert rule.completed == [[0.5, 0.6, 0.7]]
    poor = TrialCurve(rule, epochs=3)
    assert poor(1, 0.4) is False and poor.stopped_epoch == 1 and poor.curve == [0.4]
    poor.finish()
    assert len(rule.completed) == 1
    recording_only = TrialCurve(None, epochs=3)
    assert recording_only(1, 0.0) and recording_only.stopped_epoch is None


def test_min_completed_must_be_positive():
    with pytest.raises(ValueError, match="min_completed"):
        MedianStop(min_completed=0)


EPOCHS = 4
SPACE = parse_space({
    "name": "curves", "family": "resnet", "group": "C4", "resolution": 13,
    "stem": {"width": [1, 2, 3, 4], "kernel": 3},
    "stages": [{"depth": [1, 2], "width": [1, 2, 3, 4], "stride": 2}],
    "proxy": {"data": "synthetic", "rungs": f"{EPOCHS}x64"},  # one rung
})


def final_metric(arch: Arch) -> float:
    return arch.stem.width / 10 + arch.stages[0].width / 100 + arch.stages[0].depth / 1000


class CurveTrainer:
    """Learning curves that rise linearly to `final_metric`, so bad trials show early; counts epochs."""

    def __init__(self) -> None:
        self.epochs_run = 0

    def __call__(self, arch: Arch, on_epoch, job) -> float:
        best = 0.0
        for epoch in range(1, EPOCHS + 1):
            metric = final_metric(arch) * epoch / EPOCHS
            self.epochs_run += 1
            best = max(best, metric)
            if not on_epoch(epoch, metric):
                break
        return best


def run(tmp_path, early_stop: bool, trials: int = 16) -> tuple[CurveTrainer, list]:
    trainer = CurveTrainer()
    config = SearchConfig(flops_max=10**12, strategy="random", trials=trials, seed=0, early_stop=early_stop)
    run_search(SPACE, config, trainer, tmp_path, echo=lambda _: None)
    return trainer, [r for r in TrialLog(tmp_path / "trials.jsonl").read() if r.status == "ok"]


def test_search_stops_trials_below_the_median_and_records_where(tmp_path):
    trainer, records = run(tmp_path / "early", early_stop=True)
    stopped = [r for r in records if "stopped_epoch" in r.extra]
    complete = [r for r in records if "stopped_epoch" not in r.extra]
    assert stopped and len(complete) >= 3
    assert all(len(r.extra["curve"]) == r.extra["stopped_epoch"] < EPOCHS for r in stopped)
    assert all(len(r.extra["curve"]) == EPOCHS for r in complete)
    assert all("stopped_epoch" not in r.extra for r in records[:3])  # nothing stops before 3 have completed
    for record in stopped:  # each stop was below the median of the complete curves seen before it
        earlier = [r for r in complete if r.trial < record.trial]
        epoch = record.extra["stopped_epoch"]
        assert max(record.extra["curve"]) < statistics.median(max(r.extra["curve"][:epoch]) for r in earlier)
    assert trainer.epochs_run == sum(len(r.extra["curve"]) for r in records) < len(records) * EPOCHS

    table = report_table(TrialLog(tmp_path / "early" / "trials.jsonl").read())
    assert table.count("| stopped@") == len(stopped) and f"{len(stopped)} stopped early" in table
    assert (tmp_path / "early" / "pareto.png").stat().st_size > 0

    baseline, full_records = run(tmp_path / "full", early_stop=False)
    assert baseline.epochs_run == len(full_records) * EPOCHS
    assert max(r.metric for r in records) == max(r.metric for r in full_records)  # same samples, same winner


def test_resumed_search_rebuilds_the_rule_from_complete_curves(tmp_path):
    _, records = run(tmp_path, early_stop=True, trials=10)
    rule = stopping_rule(TrialLog(tmp_path / "trials.jsonl").read())
    assert len(rule.completed) == sum("stopped_epoch" not in r.extra for r in records)
