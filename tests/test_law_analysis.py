"""Approach 2 (IsoFLOP parabolas) against approach 3 on planted laws, the hold-out check against
hand-computed errors, and fits, fit.json and plots per group, all from hand-made sweep records."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from eqnas.errors import EqnasError
from eqnas.scaling.compute_optimal import FlopModel
from eqnas.scaling.holdout import largest_compute, log_rmse
from eqnas.scaling.isoflop_fit import IsoFlopConfig, fit_isoflop, level_minimum
from eqnas.scaling.law_analysis import agreement, fit_family, fit_groups
from eqnas.scaling.law_fit import FitConfig
from eqnas.scaling.law_report import family_dir, summary_lines, write_family, write_report
from eqnas.scaling.law_sweep import PointRecord

CHINCHILLA_LIKE = dict(E=0.3, A=30.0, B=20.0, alpha=0.35, beta=0.3)
STEEP_N = dict(E=1.2, A=400.0, B=60.0, alpha=0.6, beta=0.45)
FAST = FitConfig(n_boot=20, init_a=(2.0, 5.0), init_b=(2.0, 5.0), init_e=(-1.0, 0.0), init_alpha=(0.5,),
                 init_beta=(0.5,))
AGREE = 0.02  # approach 2's a within this (absolute) of the planted a and of approach 3's


def law(params: dict, N, D):
    return params["E"] + params["A"] / N ** params["alpha"] + params["B"] / D ** params["beta"]


def planted(params: dict, sizes, samples, noise: float = 0.003, seed: int = 0):
    """Losses of a known law on the grid sizes x samples, with seeded log-normal noise."""
    N, D = (g.ravel() for g in np.meshgrid(sizes, samples))
    return N, D, law(params, N, D) * np.exp(np.random.default_rng(seed).normal(0.0, noise, N.shape))


@dataclass(frozen=True)
class GroupedRecord(PointRecord):
    """A sweep record that carries its group, as the group-axis sweep writes them."""

    group: str = ""


def records(params: dict, sizes, samples, flop_model: FlopModel, group: str | None = None, noise: float = 0.0):
    """Finished sweep records of a planted law; forward FLOPs per sample k N^p / 3."""
    out = []
    for n, d, loss in zip(*planted(params, sizes, samples, noise)):
        forward = int(round(flop_model.k * n**flop_model.p / 3))
        fields = dict(key=f"{group}-{n}-{d}", status="ok", arch={}, params=int(n), flops_per_sample=forward,
                      subset=int(d), epochs=1, samples_seen=int(d), train_flops=3.0 * forward * d, loss=float(loss),
                      acc=0.5, epsilon=None, seconds=1.0)
        out.append(PointRecord(**fields) if group is None else GroupedRecord(**fields, group=group))
    return out


# --- approach 2 ----------------------------------------------------------------------------

WIDE_SIZES, WIDE_SAMPLES = np.geomspace(1e3, 1e7, 9), np.geomspace(1e2, 1e7, 11)


@pytest.mark.parametrize("truth", [CHINCHILLA_LIKE, STEEP_N], ids=["chinchilla-like", "steep-N"])
@pytest.mark.parametrize("p", [1.0, 1.3])
def test_approach_2_and_approach_3_agree_on_a_planted_law(truth, p):
    flop_model = FlopModel(k=6.0, p=p)
    recs = records(truth, WIDE_SIZES, WIDE_SAMPLES, flop_model, noise=0.003)
    family = fit_family("planted", recs, FAST)
    a_true = truth["beta"] / (truth["alpha"] + p * truth["beta"])
    a2 = family.isoflop.a
    assert len(family.isoflop.levels) >= 5 and a2.n_boot > 150
    assert a2.value == pytest.approx(a_true, abs=AGREE)
    agree = agreement(family, np.array([1e12]))
    assert abs(agree["difference"]) < AGREE and agree["intervals_overlap"] is True
    assert agree["approach3_a_frontier"]["value"] == pytest.approx(a_true, abs=AGREE)


def test_level_minimum_of_an_exact_parabola():
    x = np.log(np.geomspace(1.0, math.e**4, 5))  # 0, 1, 2, 3, 4
    (c2, c1, c0), n_opt = level_minimum(x, (x - 2.5) ** 2 + 1.0)
    assert (c2, c1, c0) == pytest.approx((1.0, -5.0, 7.25))
    assert n_opt == pytest.approx(math.e**2.5)
    assert "optimum is above the sizes swept" in level_minimum(x, 5.0 - x)
    assert "optimum is below the sizes swept" in level_minimum(x, x)


def test_approach_2_refuses_too_few_points_with_what_is_missing():
    flop_model = FlopModel(k=6.0, p=1.0)
    N, D, loss = planted(CHINCHILLA_LIKE, [1e4, 1e5], WIDE_SAMPLES)
    with pytest.raises(EqnasError, match="needs 3 model sizes whose training compute ranges overlap"):
        fit_isoflop(N, D, loss, flop_model.train_flops(N, D))
    # All sizes far below the optimum: loss falls with N at every level, no minimum is bracketed.
    N, D, loss = planted(CHINCHILLA_LIKE, np.geomspace(10, 100, 4), np.geomspace(1e6, 1e9, 4))
    with pytest.raises(EqnasError, match="needs 3 compute levels with a bracketed loss minimum, got 0 of 8; "
                       "the others: 8 x lowest loss at the largest size"):
        fit_isoflop(N, D, loss, flop_model.train_flops(N, D), IsoFlopConfig(n_boot=0))
    with pytest.raises(EqnasError, match="n_levels"):
        IsoFlopConfig(n_levels=2)


# --- hold-out ------------------------------------------------------------------------------


def test_log_rmse_and_the_largest_compute_mask_by_hand():
    assert log_rmse([1.0, math.e], [math.e, math.e]) == pytest.approx(math.sqrt(0.5))
    assert log_rmse([2.0, 2.0, 1.0], [1.0, 4.0, 1.0]) == pytest.approx(math.log(2) * math.sqrt(2 / 3))
    assert largest_compute([5.0, 9.0, 1.0, 7.0], 2).tolist() == [False, True, False, True]
    assert not largest_compute([5.0, 9.0], 0).any()
    with pytest.raises(EqnasError, match="--holdout-largest 4: use 0 .* up to 3 for 4 runs"):
        largest_compute([5.0, 9.0, 1.0, 7.0], 4)


def test_holdout_fits_without_the_largest_runs_and_scores_them(tmp_path):
    flop_model = FlopModel(k=6.0, p=1.0)
    recs = records(CHINCHILLA_LIKE, np.geomspace(1e4, 1e6, 4), np.geomspace(1e3, 1e5, 4), flop_model, noise=0.01)
    family = fit_family("c8", recs, FAST, holdout_largest=3)
    largest = sorted(recs, key=lambda r: r.train_flops)[-3:]
    assert {r.key for r in family.held_out} == {r.key for r in largest} and family.law.n_points == 13
    N = np.array([r.params for r in largest], float)
    D = np.array([r.samples_seen for r in largest], float)
    observed = np.array([r.loss for r in largest])
    by_hand = math.sqrt(np.mean(np.log(family.law.predict(N, D) / observed) ** 2))
    assert family.holdout_rmse() == pytest.approx(by_hand)
    assert 0 < family.holdout_rmse() < 0.05

    write_family(family, np.array([1e12]), tmp_path)
    saved = json.loads((tmp_path / "fit.json").read_text())["holdout"]
    assert saved["count"] == 3 and saved["rmse_log_loss"] == pytest.approx(by_hand)
    assert (tmp_path / "holdout.png").stat().st_size > 5000
    write_report([family], np.array([1e12]), tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert f"3 held out, RMSE of log loss {by_hand:.4f}" in report and report.count("ok (held out)") == 3
    printed = summary_lines(family, np.array([1e12]), tmp_path)
    assert f"3 held-out run(s) of largest compute: RMSE of log loss {by_hand:.4f}" in printed[1]
    assert "approach 3 (FLOP model) a=" in "\n".join(printed)

    too_many = fit_family("c8", recs, FAST, holdout_largest=12)
    assert too_many.law is None and "need 5" in too_many.problem


# --- groups --------------------------------------------------------------------------------

GROUP_ALPHAS = {"C8": 0.55, "trivial": 0.3, "D4": 0.5, "C4": 0.45}  # |G| = 8, 1, 8, 4


def test_fits_files_and_the_exponent_plot_per_group(tmp_path):
    flop_model = FlopModel(k=6.0, p=1.0)
    sizes, samples = np.geomspace(1e4, 1e6, 4), np.geomspace(1e3, 1e5, 4)
    recs = [r for g, a in GROUP_ALPHAS.items()
            for r in records({**CHINCHILLA_LIKE, "alpha": a}, sizes, samples, flop_model, group=g)]
    families = fit_groups("resnet", recs, FAST)
    assert [f.group for f in families] == ["trivial", "C4", "C8", "D4"]
    for f in families:
        assert f.law.alpha == pytest.approx(GROUP_ALPHAS[f.group], rel=0.05)
        assert {r.group for r in f.records} == {f.group} and f.label == f"resnet [{f.group}]"
    budgets = np.array([1e12])
    for f in families:
        write_family(f, budgets, family_dir(tmp_path, f))
    write_report(families, budgets, tmp_path)
    for group in GROUP_ALPHAS:
        fit = json.loads((tmp_path / "resnet" / group / "fit.json").read_text())
        assert fit["group"] == group and fit["law"]["alpha"] == pytest.approx(GROUP_ALPHAS[group], rel=0.05)
    assert (tmp_path / "resnet" / "exponents_vs_group.png").stat().st_size > 5000
    assert "| resnet [C4] | 16 / 0 | 0 |" in (tmp_path / "report.md").read_text()


def test_points_without_a_group_give_one_fit_in_the_family_folder():
    recs = records(CHINCHILLA_LIKE, np.geomspace(1e4, 1e6, 3), np.geomspace(1e3, 1e5, 3), FlopModel(6.0, 1.0))
    (family,) = fit_groups("plain", recs, FAST)
    assert family.group is None and family.label == "plain" and family.law.n_points == 9
    assert family_dir(Path("out"), family).as_posix() == "out/plain"


# --- the CLI flag --------------------------------------------------------------------------


def test_cli_passes_holdout_largest_and_refuses_a_negative_count(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from eqnas.cli.laws_cmd import command
    from eqnas.scaling import law_report

    seen = {}
    monkeypatch.setattr(law_report, "run_laws", lambda *args, **kwargs: seen.update(kwargs))
    space = str(Path(__file__).resolve().parents[1] / "spaces" / "tiny_c8_laws.yaml")
    args = ["--space", space, "--out", str(tmp_path / "out")]
    assert CliRunner().invoke(command, [*args, "--holdout-largest", "2"]).exit_code == 0
    assert seen["holdout_largest"] == 2
    bad = CliRunner().invoke(command, [*args, "--holdout-largest", "-1"])
    assert bad.exit_code == 2 and "-1 is not in the range x>=0" in bad.output
