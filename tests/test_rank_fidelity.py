"""Rank statistics (eqnas.search.rank_stats) and the pure helpers of benchmarks/rank_fidelity.py,
against hand-computed values."""
from __future__ import annotations

import math

import pytest

from conftest import load_benchmark
from eqnas.errors import EqnasError
from eqnas.search import rank_stats


bench = load_benchmark("rank_fidelity")


def test_kendall_tau_counts_discordant_pairs():
    # 6 pairs, one discordant (2 and 3 swapped): (5 - 1) / 6
    assert rank_stats.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert rank_stats.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_kendall_tau_b_normalises_for_ties():
    # a ties the first two: 2 concordant, 0 discordant, 1 pair tied in a only:
    # tau_b = 2 / sqrt((3 - 1) * (3 - 0))
    assert rank_stats.kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))


def test_spearman_rho_from_rank_differences():
    # rank differences 0, 1, -1, 0: 1 - 6 * 2 / (4 * (16 - 1))
    assert rank_stats.spearman_rho([10, 20, 30, 40], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_best_in_top_three():
    reference = [0.5, 0.9, 0.6, 0.7, 0.8]  # the best is index 1
    assert rank_stats.best_in_top([5, 3, 4, 2, 1], reference, 3)  # scorer puts it third
    assert not rank_stats.best_in_top([5, 2, 4, 3, 1], reference, 3)  # fourth
    assert rank_stats.best_in_top([5, 2, 4, 3, 1], reference, 4)
    assert not rank_stats.best_in_top([5, 3, 4, 3, 1], reference, 3)  # tied for third and fourth


def test_tau_within_top_third():
    reference = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    # the reference's top third is indices 8, 7, 6; the scorer orders them 6 > 8 > 7
    scores = [1, 2, 3, 4, 5, 6, 9, 7, 8]
    # pairs (8,7) concordant, (8,6) discordant, (7,6) discordant: (1 - 2) / 3
    assert rank_stats.tau_within_top(scores, reference) == pytest.approx(-1 / 3)
    assert rank_stats.kendall_tau(scores, reference) == pytest.approx((36 - 2 * 2) / 36)


@pytest.mark.parametrize("scores,reference", [([1, 2], [1, 2, 3]), ([1], [1]), ([1, float("nan")], [1, 2])])
def test_rank_statistics_refuse_bad_input(scores, reference):
    with pytest.raises(EqnasError):
        rank_stats.kendall_tau(scores, reference)


def test_pick_spread_takes_evenly_spaced_log_flops():
    flops = [1, 2, 4, 8, 16, 32, 64, 100, 101]
    # targets at log 1, log 10.05, log 101 (evenly spaced in log): nearest are 1, 8, 101
    assert [flops[i] for i in bench.pick_spread(flops, 3)] == [1, 8, 101]
    assert sorted(bench.pick_spread(flops, 9)) == list(range(9))
    with pytest.raises(EqnasError):
        bench.pick_spread(flops, 10)


def test_search_ranking_is_successive_halving_over_recorded_runs():
    """Five candidates, eta 2, two rungs: rung 0 promotes the best two; the finalists' top-rung
    score is their mean over two seeds; the rest rank by their rung-0 score."""
    rungs = bench.parse_rungs("1x10,2x20")
    rung0 = [0.5, 0.9, 0.7, 0.8, 0.1]
    top = {(1, 0): 0.6, (1, 1): 0.7, (3, 0): 0.9, (3, 1): 0.8}  # (candidate, seed) at rung 1

    class Table:
        def __init__(self):
            self.calls = []

        def run(self, candidate, rung, seed, reference, start=None, keep=False):
            self.calls.append((candidate.key, rung.label, seed))
            index = int(candidate.key)
            metric = rung0[index] if rung.label == "1x10" else top[(index, seed)]
            return bench.Run(candidate.key, rung.label, seed, reference, metric, [], 1.0 + index, 0.0)

    cands = [bench.Candidate(str(i), {}, 1, 1) for i in range(5)]
    table = Table()
    outcome = bench.search_ranking(cands, table, list(rungs), eta=2, finalist_seeds=2)
    # finalists 3 (mean 0.85) and 1 (0.65), then 2 (0.7), 0 (0.5), 4 (0.1) at rung 0
    assert outcome.winner == 3
    assert outcome.scored.scores == [2.0, 4.0, 3.0, 5.0, 1.0]
    assert sorted(c for c in table.calls if c[1] == "2x20") == [("1", "2x20", 0), ("1", "2x20", 1),
                                                               ("3", "2x20", 0), ("3", "2x20", 1)]
    assert outcome.scored.cpu_s == sum(1.0 + i for i in range(5)) + 2 * (2.0 + 4.0)


class ContinuingTable:
    """Scores by (candidate, label, seed); records what each run started from and kept."""

    def __init__(self, scores):
        self.scores, self.calls = scores, []

    def run(self, candidate, rung, seed, reference, start=None, keep=False):
        label = rung.label if start is None else f"{rung.label} from {start.fidelity}"
        self.calls.append((candidate.key, label, seed, keep))
        metric = self.scores[(int(candidate.key), rung.label, seed)]
        return bench.Run(candidate.key, label, seed, reference, metric, [], 1.0, 0.0)


def test_continued_promotions_start_from_the_rung_below_and_a_lone_finalist_trains_once():
    """Three rungs, eta 3, five candidates: rung 0 promotes one (5 // 3), which continues to
    rungs 1 and 2 from its own weights; alone at the top, it gets no second seed."""
    rungs = list(bench.parse_rungs("1x10,2x30,3x90"))
    scores = {(i, "1x10", 0): s for i, s in enumerate([0.5, 0.9, 0.7, 0.8, 0.1])}
    scores.update({(1, "2x30", 0): 0.6, (1, "3x90", 0): 0.95})
    table = ContinuingTable(scores)
    cands = [bench.Candidate(str(i), {}, 1, 1) for i in range(5)]
    outcome = bench.search_ranking(cands, table, rungs, eta=3, finalist_seeds=2, promotion="continue")
    assert outcome.winner == 1 and outcome.scored.cpu_s == 5 + 2
    assert [c for c in table.calls if c[0] == "1"] == [
        ("1", "1x10", 0, True), ("1", "2x30 from 1x10", 0, True), ("1", "3x90 from 2x30 from 1x10", 0, False)]
    assert all(keep for _, label, _, keep in table.calls if label == "1x10")  # any may be promoted


def test_continued_finalists_reach_the_top_rung_again_with_the_next_seed():
    rungs = list(bench.parse_rungs("1x10,2x20"))
    scores = {(i, "1x10", s): v for i, v in enumerate([0.5, 0.9, 0.7, 0.8]) for s in (0, 1)}
    scores.update({(1, "2x20", 0): 0.6, (1, "2x20", 1): 0.7, (3, "2x20", 0): 0.9, (3, "2x20", 1): 0.3})
    table = ContinuingTable(scores)
    cands = [bench.Candidate(str(i), {}, 1, 1) for i in range(4)]
    outcome = bench.search_ranking(cands, table, rungs, eta=2, finalist_seeds=2, promotion="continue")
    assert outcome.winner == 1  # means: 1 -> 0.65, 3 -> 0.60
    assert sorted(c[:3] for c in table.calls if c[2] == 1) == [
        ("1", "1x10", 1), ("1", "2x20 from 1x10", 1), ("3", "1x10", 1), ("3", "2x20 from 1x10", 1)]
    assert outcome.scored.cpu_s == 4 + 2 + 4  # every training counted once


def test_efficiency_is_the_cost_fraction_when_the_winner_is_within_the_gap():
    scored = bench.Scored("s", [1.0, 2.0, 3.0], cpu_s=30.0)
    near = bench.SearchOutcome(scored, winner=1).efficiency([0.70, 0.815, 0.82], exhaustive_s=120.0)
    assert near.found and near.cost == pytest.approx(0.25) and near.short == pytest.approx(0.005)
    far = bench.SearchOutcome(scored, winner=0).efficiency([0.70, 0.815, 0.82], exhaustive_s=120.0)
    assert not far.found and "12.0 points short" in far.line()


def test_rung_0_scored_by_the_mean_of_two_seeds_promotes_by_that_mean():
    """Seed 0 alone would promote candidate 1 (0.9); the mean over seeds 0 and 1 promotes 2."""
    rungs = list(bench.parse_rungs("1x10,2x20"))
    rung0 = {0: [0.5, 0.5], 1: [0.9, 0.3], 2: [0.8, 0.7], 3: [0.1, 0.2]}  # candidate -> seeds 0, 1
    scores = {(i, "1x10", s): v[s] for i, v in rung0.items() for s in (0, 1)}
    scores.update({(2, "2x20", 0): 0.85})
    table = ContinuingTable(scores)
    cands = [bench.Candidate(str(i), {}, 1, 1) for i in range(4)]
    outcome = bench.search_ranking(cands, table, rungs, eta=3, finalist_seeds=2, promotion="continue", rung0_seeds=2)
    assert outcome.winner == 2
    assert outcome.scored.scores == [2.0, 3.0, 4.0, 1.0]  # 2 at rung 1; then means 0.6 (1), 0.5 (0), 0.15 (3)
    assert [c[:3] for c in table.calls if c[0] == "2"] == [("2", "1x10", 0), ("2", "1x10", 1), ("2", "2x20 from 1x10", 0)]
    assert outcome.scored.cpu_s == 8 + 1  # eight rung-0 runs, one promotion
