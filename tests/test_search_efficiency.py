"""benchmarks/search_efficiency.py's summary line, on hand-made replays."""
from __future__ import annotations

from conftest import load_benchmark

bench = load_benchmark("search_efficiency")
Efficiency = bench.bench.Efficiency


def replayed(seed: int, winner: float, cost: float, tau: float = 0.5) -> object:
    return bench.Replayed("s", seed, Efficiency(winner, 0.82, 0.82 - winner, 0.82 - winner <= 0.01, cost), tau)


def test_summary_takes_the_median_cost_and_the_worst_only_when_every_seed_found_the_target():
    rows = [replayed(0, 0.82, 0.15, 0.7), replayed(1, 0.815, 0.30, 0.6), replayed(2, 0.82, 0.20, 0.9)]
    assert bench.summary(rows) == "| s | 3 of 3 | 0.20 | 0.30 | 0.2 | 0.70 |"
    missed = [replayed(0, 0.82, 0.15), replayed(1, 0.80, 0.10)]
    assert bench.summary(missed) == "| s | 1 of 2 | 0.12 | inf | 1.0 | 0.50 |"
