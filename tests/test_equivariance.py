"""Equivariance of every registered family across groups, in train mode, eval mode and after
export(), and export() matching the original."""
from __future__ import annotations

import random

import pytest
import torch

from eqnas import build, export
from eqnas.check import equivariance_errors, grid_transformations
from eqnas.errors import EqnasError
from eqnas.families import family_names
from eqnas.groups import parse_group
from tests.conftest import random_arch

TOLERANCE = 1e-4
GROUPS = ["trivial", "C4", "C8", "D4", "D8", "C16"]


def _assert_invariant(model, arch, seed):
    result = equivariance_errors(model, arch, seed=seed)
    expected = set(grid_transformations(arch.final_group))
    assert set(result["exact"]) == expected
    for name, error in result["exact"].items():
        assert error < TOLERANCE, f"{arch.final_group} {name}: {error:.2e}"


@pytest.mark.parametrize("family", family_names())
@pytest.mark.parametrize("group", GROUPS)
def test_random_architectures_are_invariant(family, group):
    rng = random.Random(hash((family, group)) % 1000)
    kernels = (1, 3) if group == "C16" else (1, 3, 5)
    for trial in range(2):
        arch = random_arch(rng, family, group, kernels=kernels, norm=rng.choice(("batch", "group")),
                           activation=rng.choice(("relu", "mish", "elu")),
                           weight_standardization=rng.random() < 0.3, post_residual_norm=rng.random() < 0.3)
        torch.manual_seed(trial)
        model = build(arch)
        _assert_invariant(model.train(), arch, seed=trial)
        _assert_invariant(model.eval(), arch, seed=trial)
        _assert_invariant(export(model), arch, seed=trial)


@pytest.mark.parametrize("family", family_names())
def test_export_matches_original(family):
    rng = random.Random(7)
    for group in ("trivial", "C8", "D4"):
        arch = random_arch(rng, family, group)
        model = build(arch)
        model.train()
        batch = torch.randn(6, arch.in_channels, arch.resolution, arch.resolution)
        model(batch)  # moves batch-norm statistics away from their initial values
        model.eval()
        plain = export(model)
        with torch.no_grad():
            assert torch.allclose(plain(batch), model(batch), atol=1e-5, rtol=0)
        names = {type(m).__name__ for m in plain.modules()}
        assert not names & {"EquivariantConv2d", "FieldBatchNorm", "FieldGroupNorm"}


@pytest.mark.parametrize("schedule", [("D8", "D4", "D1"), ("C8", "C4", "trivial"), ("D4", "D4", "D2"), ("D16", "C16", "C8")])
def test_restricted_networks_are_invariant_to_the_last_group(schedule):
    rng = random.Random(3)
    for family in family_names():
        arch = random_arch(rng, family, schedule[0], kernels=(3,), stage_groups=schedule[1:], norm="group")
        assert arch.final_group == parse_group(schedule[-1])
        model = build(arch)
        _assert_invariant(model.train(), arch, seed=1)
        _assert_invariant(model.eval(), arch, seed=1)
        _assert_invariant(export(model), arch, seed=1)


def test_restriction_is_not_invariant_to_the_lost_elements():
    """A D4 -> D1 network loses the 90 degree rotations: the check must see that (it can fail)."""
    arch = random_arch(random.Random(1), "resnet", "D4", kernels=(3,), stage_groups=("D1",))
    model = build(arch).eval()
    x = torch.randn(2, arch.in_channels, arch.resolution, arch.resolution)
    with torch.no_grad():
        error = (model(torch.rot90(x, 1, (-2, -1))) - model(x)).abs().max() / model(x).abs().max()
    assert error > 1e-3


@pytest.mark.parametrize("parent,child", [("C8", "D4"), ("C8", "C3"), ("D4", "D8"), ("C4", "C8")])
def test_invalid_restriction_is_a_clear_error(parent, child):
    with pytest.raises(EqnasError, match=f"{child} is not a subgroup of the previous stage's group {parent}"):
        random_arch(random.Random(0), "resnet", parent, stage_groups=(child,))


def test_eval_mode_expands_the_filter_once():
    arch = random_arch(random.Random(2), "resnet", "C4")
    model = build(arch).eval()
    conv = model.features[0][0]
    calls = []
    original = conv.expand_weight
    conv.expand_weight = lambda: calls.append(1) or original()
    x = torch.randn(1, arch.in_channels, arch.resolution, arch.resolution)
    with torch.no_grad():
        model(x), model(x), model(x)
    assert len(calls) == 1
    model.train()
    model(x)
    assert len(calls) == 2


@pytest.mark.parametrize("head", ["max", "max_mean"])
@pytest.mark.parametrize("group", ["C8", "D4", "trivial"])
def test_each_head_is_invariant_and_feeds_the_classifier_its_invariants(head, group):
    arch = random_arch(random.Random(7), "resnet", group, head=head)
    model = build(arch)
    _assert_invariant(model.train(), arch, seed=0)
    _assert_invariant(model.eval(), arch, seed=0)
    last_fields = arch.stages[-1].width
    assert model.classifier.in_features == {"max": 1, "max_mean": 4}[head] * last_fields
    x = torch.randn(3, arch.in_channels, arch.resolution, arch.resolution)
    with torch.no_grad():
        assert torch.allclose(export(model)(x), model(x), atol=1e-5)


def test_stride_one_two_by_two_max_pool_commutes_with_grid_rotations_and_flips():
    """convpool's pool: every 2x2 window maps onto a 2x2 window, and the output grid keeps the
    centre, so it is exact (not merely approximate) on the pixel grid; a stride-2 pool is not."""
    from eqnas.families.convpool import pool

    x = torch.randn(2, 3, 9, 9)
    for transform in grid_transformations(parse_group("D4")).values():
        assert torch.equal(pool()(transform(x)), transform(pool()(x)))
    strided = torch.nn.MaxPool2d(2, stride=2)
    assert not torch.equal(strided(torch.rot90(x, 1, (-2, -1))), torch.rot90(strided(x), 1, (-2, -1)))
