"""The pure helpers of benchmarks/strategy_efficiency.py, on hand-made traces."""
from __future__ import annotations

import itertools

import pytest

from conftest import ROOT, load_benchmark
from eqnas.search.space import load_space

bench = load_benchmark("strategy_efficiency")
Step, Reached = bench.Step, bench.Reached

TRACE = [Step(0.50, 10.0, 0.5), Step(0.70, 20.0, 0.25), Step(0.79, 30.0, 0.25), Step(0.80, 40.0, 1.0)]


def test_time_to_target_stops_at_the_first_step_on_target():
    assert bench.time_to_target(TRACE, 0.79) == Reached(3, 61.0, 1.0, True)
    assert bench.time_to_target(TRACE, 0.45) == Reached(1, 10.5, 0.5, True)


def test_time_to_target_counts_the_whole_trace_when_never_reached():
    assert bench.time_to_target(TRACE, 0.81) == Reached(4, 102.0, 2.0, False)
    assert bench.time_to_target([], 0.5) == Reached(0, 0.0, 0.0, False)


def test_summarize_takes_medians_and_worst_ratio_over_seeds():
    reached = [Reached(2, 30.0, 1.0, True), Reached(6, 90.0, 3.0, True), Reached(24, 240.0, 5.0, False)]
    row = bench.summarize("random", False, reached, exhaustive_s=120.0)
    assert row.median_trials == 6 and row.found == 2 and row.seeds == 3
    assert row.median_ratio == pytest.approx(0.75) and row.worst_ratio == pytest.approx(2.0)
    assert row.mean_ratio == pytest.approx((0.25 + 0.75 + 2.0) / 3)
    assert row.median_overhead_s == pytest.approx(3.0)


def test_best_row_takes_the_lowest_median_then_the_lowest_worst_case():
    rows = [bench.Row("a", False, 5, 0.30, 0.3, 0.9, 0, 5, 5), bench.Row("b", True, 4, 0.20, 0.3, 0.8, 0, 5, 5),
            bench.Row("c", False, 4, 0.20, 0.3, 0.5, 0, 5, 5)]
    assert bench.best_row(rows).strategy == "c"


def test_the_benchmark_space_has_24_valid_architectures():
    space = load_space(ROOT / "spaces" / "bench_24.yaml")
    samples = space.enumerate()
    assert len(samples) == space.size() == 24
    assert len({space.key(s) for s in samples}) == 24
    for sample in samples:
        space.to_arch(sample)


def test_random_order_expectation_matches_the_average_over_all_orders():
    table = [bench.Trained(str(i), {}, metric, seconds, seconds, [metric], [seconds])
             for i, (metric, seconds) in enumerate([(0.9, 5.0), (0.5, 1.0), (0.95, 7.0), (0.6, 2.0), (0.4, 3.0)])]
    orders = list(itertools.permutations(table))
    brute = sum(bench.time_to_target([Step(t.metric, t.seconds, 0.0) for t in order], 0.9).seconds
                for order in orders) / len(orders)
    assert bench.random_order_seconds(table, 0.9) == pytest.approx(brute)
    assert bench.random_order_seconds(table, 0.99) == pytest.approx(18.0)  # none on target: all of it


def test_replayed_training_stops_where_the_rule_says_and_costs_the_seconds_up_to_there():
    from eqnas.search.early_stop import MedianStop

    def trained(curve):
        return bench.Trained("k", {}, max(curve), 40.0, 40.0, curve, [10.0, 20.0, 30.0, 40.0][:len(curve)])

    rule = MedianStop(min_completed=2)
    good = trained([0.5, 0.6, 0.7, 0.8])
    assert good.run(None) == (0.8, 40.0)
    assert good.run(rule) == (0.8, 40.0) and good.run(rule) == (0.8, 40.0)  # two complete runs: references
    assert trained([0.5, 0.55, 0.9, 0.95]).run(rule) == (0.55, 20.0)  # below the median 0.6 after epoch 2
    assert trained([0.5, 0.6, 0.6, 0.6]).run(rule) == (0.6, 30.0)  # below 0.7 after epoch 3
    assert trained([0.5, 0.6, 0.7, 0.1]).run(rule) == (0.7, 40.0)  # never stopped at the last epoch
