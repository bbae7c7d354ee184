"""Space files: validation with errors naming the key, samples -> architecture files, and the
FLOP filter (impossible budgets, extreme FLOPs)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eqnas.errors import EqnasError
from eqnas.profiling import arch_flops
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.space import load_space, parse_space

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "spaces").glob("*.yaml"))

SMALL = {
    "name": "tiny", "family": "resnet", "group": ["trivial", "C4"], "resolution": 13,
    "stem": {"width": [1, 2], "kernel": 3},
    "stages": [{"depth": 1, "width": [1, 2], "stride": 2}],
    "proxy": {"data": "synthetic", "epochs": 1, "subset": 64},
}


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_shipped_spaces_load_and_sample(path):
    space = load_space(path)
    first = {label: values[0] for label, values in space.searched().items()}
    last = {label: values[-1] for label, values in space.searched().items()}
    for sample in (first, last):
        try:
            arch = space.to_arch(sample)
        except EqnasError as error:
            assert "subgroup" in str(error)  # restriction schedules are constraints
            continue
        assert arch_flops(arch) > 0


def test_required_spaces_exist():
    names = {p.stem for p in SPACES}
    assert {"c8_resnet", "c4_resnet", "d4_resnet", "cnn_resnet", "group_resnet", "d8_restricted_resnet"} <= names


@pytest.mark.parametrize("change,message", [
    ({"colour": "blue"}, "unknown key 'colour'"),
    ({"stem": {"width": [], "kernel": 3}}, r"stem.width: empty choice"),
    ({"stages": [{"depth": 1, "width": [1, 2], "padding": 3}]}, r"stages\[0\]: unknown key 'padding'"),
    ({"stages": [{"width": 2}]}, r"stages\[0\]: missing key 'depth'"),
    ({"group": ["C4", "Q3"]}, "group = 'Q3': unknown group 'Q3'"),
    ({"stem": {"width": [1, -2]}}, r"stem.width = -2: arch.stem.width: must be a positive integer"),
    ({"proxy": {"metric": "f1"}}, "proxy.metric: 'f1' is not one of"),
    ({"proxy": {"epoch": 1}}, "proxy: unknown key 'epoch'"),
    ({"num_stages": [1, 3]}, "num_stages: each value must be between 1 and 1"),
])
def test_bad_space_files_name_the_key(tmp_path, change, message):
    data = {**SMALL, **change}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(EqnasError, match=message):
        load_space(path)


def test_not_yaml(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("family: [resnet\n")
    with pytest.raises(EqnasError, match="not valid YAML"):
        load_space(path)


def test_samples_become_architectures_with_per_stage_groups():
    space = parse_space({**SMALL, "group": "D4", "stages": [
        {"depth": 1, "width": 1}, {"depth": 1, "width": 1, "stride": 2, "group": ["D4", "D2", "C8"]}]})
    assert str(space.to_arch({"stem.width": 1, "stages.1.group": "D2"}).final_group) == "D2"
    with pytest.raises(EqnasError, match="C8 is not a subgroup"):
        space.to_arch({"stem.width": 1, "stages.1.group": "C8"})


def test_flop_filter_extremes_match_enumeration():
    space = parse_space(SMALL)
    flop_filter = FlopFilter(space, flops_max=10**12)
    counts = [flop_filter.flops(s) for s in space.enumerate()]
    assert flop_filter._extreme(min) == min(counts)
    assert flop_filter._extreme(max) == max(counts)


def test_flop_filter_fitting_keeps_the_samples_within_both_bounds_in_order():
    space = parse_space(SMALL)
    samples = space.enumerate()
    counts = sorted({arch_flops(space.to_arch(s)) for s in samples})
    low, high = counts[1], counts[-2]  # leaves out the smallest and the largest count
    kept = FlopFilter(space, flops_max=high, flops_min=low).fitting(samples)
    expected = [s for s in samples if low <= arch_flops(space.to_arch(s)) <= high]
    assert [s for s, _ in kept] == expected and 0 < len(expected) < len(samples)
    assert all(flops == arch_flops(space.to_arch(s)) for s, flops in kept)


def test_distinct_keeps_the_first_sample_of_each_network():
    # num_stages 1 or 2, the second stage's width 1 or 2: the two one-stage samples (second
    # width 1, then 2) build one network, so 4 samples are 3 networks
    space = parse_space({**SMALL, "group": "C4", "stem": {"width": 1, "kernel": 3}, "num_stages": [1, 2],
                         "stages": [{"depth": 1, "width": 1, "stride": 2}, {"depth": 1, "width": [1, 2], "stride": 1}]})
    samples = space.enumerate()
    one_stage = [i for i, s in enumerate(samples) if s["num_stages"] == 1]
    assert len(samples) == 4 and len(one_stage) == 2
    expected = [s for i, s in enumerate(samples) if i != one_stage[1]]
    assert space.distinct(samples) == expected
    assert space.distinct(samples[::-1]) == [s for i, s in enumerate(samples[::-1]) if i != 3 - one_stage[0]]
    assert len({space.to_arch(s) for s in expected}) == 3


def test_impossible_budget_is_a_clear_error():
    space = parse_space(SMALL)
    smallest = min(FlopFilter(space, 10**12).flops(s) for s in space.enumerate())
    with pytest.raises(EqnasError, match="no architecture in space 'tiny' fits --flops"):
        FlopFilter(space, flops_max=smallest - 1).check_feasible()
    FlopFilter(space, flops_max=smallest).check_feasible()
    with pytest.raises(EqnasError, match="reaches --flops-min"):
        FlopFilter(space, flops_max=10**12, flops_min=10**11).check_feasible()


def test_flop_filter_counts_the_larger_flops_of_every_training_mode():
    """DP turns batch norm into group norm, which costs FLOPs that batch norm (folded) does not."""
    from eqnas.train.adapt import TrainingMode

    space = parse_space(SMALL)
    for sample in space.enumerate():
        arch = space.to_arch(sample)
        plain, private = arch_flops(arch), arch_flops(arch.replace(norm="group"))
        assert private > plain
        assert FlopFilter(space, 10**12).flops(sample) == plain
        assert FlopFilter(space, 10**12, modes=(TrainingMode(dp=True),)).flops(sample) == private
        assert FlopFilter(space, 10**12, modes=(TrainingMode(norm="none"),)).flops(sample) == plain  # never below the proxy's
    smallest = min(FlopFilter(space, 10**12).flops(s) for s in space.enumerate())
    with pytest.raises(EqnasError, match="no architecture in space 'tiny' fits"):
        FlopFilter(space, smallest, modes=(TrainingMode(dp=True),)).check_feasible()


def test_flop_filter_on_a_large_space_finds_the_smallest():
    space = load_space(ROOT / "spaces/c8_resnet.yaml")
    flop_filter = FlopFilter(space, flops_max=10**12)
    smallest = space.to_arch({label: values[0] for label, values in space.searched().items()})
    assert flop_filter._extreme(min) == arch_flops(smallest)
