"""Compound scaling: measured FLOPs of every scaled architecture within 10% of its target,
budget-violating grid points never trained, the group axis at matched FLOPs, resume."""
from __future__ import annotations

import json

import pytest

from eqnas.arch import Arch, Stage, Stem
from eqnas.errors import EqnasError
from eqnas.profiling import arch_flops
from eqnas.scaling.compound import Coefficients, coefficient_grid, scale_arch, scale_to_target
from eqnas.scaling.compound_search import ScaleConfig, parse_phis, run_compound
from eqnas.search.records import TrialLog

BASE = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3),
            stages=(Stage(depth=1, width=2, stride=2), Stage(depth=1, width=4, stride=2)), resolution=17)


def score(arch: Arch) -> float:
    return sum(s.depth for s in arch.stages) + arch.resolution / 100 + arch.stem.width / 1000


def test_grid_points_satisfy_the_compound_constraint():
    grid = coefficient_grid(0.1, tolerance=0.1)
    assert grid and all(abs(c.flop_factor - 2) <= 0.1 and min(c.alpha, c.beta, c.gamma) >= 1 for c in grid)


@pytest.mark.parametrize("coefficients", [Coefficients(1.2, 1.1, 1.15), Coefficients(1.0, 1.4, 1.0),
                                          Coefficients(1.0, 1.0, 1.4)])
def test_scaled_flops_within_ten_percent_of_target(coefficients):
    base_flops = arch_flops(BASE)
    for phi in (1, 2, 3):
        arch, flops = scale_to_target(BASE, coefficients, phi, base_flops * 2**phi)
        assert flops == arch_flops(arch)
        assert abs(flops / (base_flops * 2**phi) - 1) <= 0.10
        assert (arch.resolution - 1) % arch.total_stride == 0


def test_group_axis_keeps_channels_and_flops():
    arch = scale_arch(BASE, 1.0, 1.0, 1.0, group="C8")
    assert arch.group == "C8" and arch.stem.width == 1 and [s.width for s in arch.stages] == [1, 2]
    assert abs(arch_flops(arch) / arch_flops(BASE) - 1) < 0.05


def test_run_compound_never_trains_over_budget_and_resumes(tmp_path):
    trained = []
    budget = int(2.1 * arch_flops(BASE))
    config = ScaleConfig(phis=(1, 2), flops_max=budget, groups=("C4", "C8"))
    summary = run_compound(BASE, config, lambda a: trained.append(a) or score(a), tmp_path, echo=lambda _: None)
    assert trained and all(arch_flops(a) <= budget for a in trained)
    records = TrialLog(tmp_path / "grid.jsonl").read()
    assert any(r.status == "rejected" for r in records)
    assert all(r.flops > budget for r in records if r.status == "rejected")
    assert len({json.dumps(a.to_dict(), sort_keys=True) for a in trained}) == len(trained)  # no network twice
    for entry in summary["scaled"]:
        assert entry["within_10_percent"]
        arch = Arch.load(tmp_path / entry["file"])
        assert abs(arch_flops(arch) / entry["target"] - 1) <= 0.10
    best = max((r for r in records if r.status == "ok"), key=lambda r: (r.metric, -r.flops))
    assert summary["coefficients"] == best.sample
    again = []
    run_compound(BASE, config, lambda a: again.append(a) or score(a), tmp_path, echo=lambda _: None)
    assert again == []


@pytest.mark.parametrize("text,expected", [("1..3", (1, 2, 3)), ("2", (2,)), ("1,2,4", (1, 2, 4))])
def test_phi_parsing(text, expected):
    assert parse_phis(text) == expected


@pytest.mark.parametrize("text", ["0..2", "a..b", "", "1-3"])
def test_bad_phi(text):
    with pytest.raises(EqnasError, match="bad --phi"):
        parse_phis(text)
