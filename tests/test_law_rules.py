"""The rules of an `eqnas laws` sweep, without training: the group axis at matched FLOPs and the
per-point learning rate, epochs, early stopping and divergence test, against hand-computed values."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from eqnas.errors import EqnasError
from eqnas.groups import parse_group
from eqnas.profiling import arch_flops
from eqnas.scaling.law_groups import FLOP_TOLERANCE, check_regroupable, parse_groups, regroup
from eqnas.scaling.law_recipe import Patience, PointRecipe, chance_loss, diverged
from eqnas.scaling.law_sizes import parse_sizes, pick_sizes
from eqnas.scaling.law_sweep import size_table
from eqnas.search.space import load_space

ROOT = Path(__file__).resolve().parents[1]
REAL_RUN_SIZES = "598,1828,3834,9886"  # --sizes of the real run (README, Scaling laws)


def test_the_real_run_sizes_are_one_width_ladder_with_matched_flops_in_every_group():
    space = load_space(ROOT / "spaces/laws_resnet.yaml")
    table = size_table(space, space.enumerate(), adapt=lambda arch: arch)  # already 1 channel, 10 classes, 29x29
    picked = [table[i] for i in pick_sizes([c.params for c in table], parse_sizes(REAL_RUN_SIZES))]
    assert [c.sample for c in picked] == [{"stages.0.width": k, "stages.1.width": 2 * k} for k in (1, 2, 3, 5)]
    for candidate in picked:
        flops = {g.name: arch_flops(regroup(candidate.arch, g)) for g in parse_groups("trivial,C2,C4,C8,D4")}
        assert flops["C8"] == arch_flops(candidate.arch)  # regrouping to its own group changes nothing
        assert max(flops.values()) / min(flops.values()) - 1 < FLOP_TOLERANCE, flops


def test_regroup_keeps_every_layers_channels():
    arch = load_space(ROOT / "spaces/laws_resnet.yaml").to_arch({"stages.0.width": 3, "stages.1.width": 6})
    # C8: stem 2, stages 3 and 6 fields = 16, 24, 48 channels
    for name, widths in {"trivial": (16, 24, 48), "C2": (8, 12, 24), "C4": (4, 6, 12), "D4": (2, 3, 6)}.items():
        rebuilt = regroup(arch, parse_group(name))
        assert rebuilt.group == name
        assert (rebuilt.stem.width, *(s.width for s in rebuilt.stages)) == widths
        assert rebuilt.stages[1].stride == 2 and rebuilt.head == arch.head  # only widths and group change


def test_groups_that_do_not_fit_the_family_are_refused_naming_the_group():
    space = load_space(ROOT / "spaces/laws_resnet.yaml")
    with pytest.raises(EqnasError, match=r"group C16 is not valid .* stage 0 has 8 channels"):
        regroup(space.to_arch({"stages.0.width": 1, "stages.1.width": 2}), parse_group("C16"))
    restricted = load_space(ROOT / "spaces/d8_restricted_resnet.yaml")
    sample = {label: values[0] for label, values in restricted.searched().items()}
    with pytest.raises(EqnasError, match="not valid for 'd8_restricted_resnet sample': its stages restrict"):
        regroup(restricted.to_arch(sample), parse_group("C8"))
    with pytest.raises(EqnasError, match="not valid for space 'd8_restricted_resnet': its stages restrict"):
        check_regroupable(restricted.name, restricted.choices)
    grouped = load_space(ROOT / "spaces/group_resnet.yaml")
    with pytest.raises(EqnasError, match="'group_resnet' searches its group over trivial, C4, C8, D4"):
        check_regroupable(grouped.name, grouped.choices)


@pytest.mark.parametrize("text,needle", [
    ("trivial,C7x", "--groups 'trivial,C7x': unknown group 'C7x'"), ("C4,c4", "C4 is given twice"),
])
def test_bad_group_lists_name_the_value(text, needle):
    with pytest.raises(EqnasError) as error:
        parse_groups(text)
    assert needle in str(error.value)


def test_learning_rate_falls_as_one_over_width():
    rule = PointRecipe()  # ref_flops 2e6, power 0.5
    assert rule.lr(3e-3, 2e6) == 3e-3
    assert rule.lr(3e-3, 8e6) == 1.5e-3  # 4x the FLOPs is 2x the width: half the rate
    assert rule.lr(3e-3, 0.5e6) == 6e-3
    assert rule.lr(3e-3, 38_330_852) == 0.000685  # 3e-3 x sqrt(2 / 38.33) = 6.853e-4
    assert PointRecipe(lr_power=0.0).lr(0.01, 1e9) == 0.01


def test_epochs_rise_as_the_data_shrinks_within_bounds():
    rule = PointRecipe()  # min_samples 20000, epochs in [2, 12]
    assert [rule.epochs(n) for n in (2500, 5000, 10000, 20000)] == [8, 4, 2, 2]
    assert rule.epochs(3000) == 7  # ceil(6.67)
    assert rule.epochs(1000) == 12  # 20 epochs wanted, capped
    assert rule.epochs(60000) == 2  # at least min_epochs
    assert PointRecipe.fixed_epochs(3).epochs(10) == PointRecipe.fixed_epochs(3).epochs(10**6) == 3
    with pytest.raises(EqnasError, match="min_epochs <= max_epochs"):
        PointRecipe(min_epochs=3, max_epochs=2)


def test_patience_stops_after_epochs_without_a_lower_loss():
    stop = Patience(2)
    assert [stop(e, loss) for e, loss in enumerate([1.0, 0.9, 0.95, 0.9], 1)] == [True, True, True, False]
    stop = Patience(2)
    assert [stop(e, loss) for e, loss in enumerate([1.0, 0.95, 0.8, 0.85, 0.79], 1)] == [True] * 5
    nan = float("nan")
    stop = Patience(2)
    assert [stop(e, loss) for e, loss in enumerate([nan, nan], 1)] == [True, False]  # NaN is never an improvement
    never = Patience(0)
    assert all(never(e, 5.0) for e in range(1, 10))


def test_a_run_diverged_unless_its_loss_is_finite_and_below_chance():
    chance = chance_loss(10, "multiclass")
    assert chance == pytest.approx(2.302585, abs=1e-6)
    assert chance_loss(14, "multilabel") == pytest.approx(math.log(2))
    assert not diverged(2.30, chance)
    for loss in (2.31, chance, float("nan"), float("inf"), None):
        assert diverged(loss, chance), loss
