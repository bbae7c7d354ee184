"""Rank statistics (eqnas.search.rank_stats) and the pure helpers of benchmarks/rank_fidelity.py,
against hand-computed values."""
from __future__ import annotations

import math
import pytest

from eqnas.errors import EqnasError
from conftest import load_benchmark
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


@pytest.mark.parametrize("text,epochs,images", [("3x20000", 3, 20000), ("4xall", 4, None), ("1X2000", 1, 2000)])
def test_fidelity_parse(text, epochs, images):
    fid = bench.Fidelity.parse(text)
    assert (fid.epochs, fid.images) == (epochs, images)


@pytest.mark.parametrize("text", ["3", "0x100", "2x0", "ax3"])
def test_fidelity_parse_refuses(text):
    with pytest.raises(EqnasError, match=text):
        bench.Fidelity.parse(text)
