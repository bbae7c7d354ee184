"""FLOPs against a hand count, parameters against the coefficient shapes, budget strings."""
from __future__ import annotations

from pathlib import Path

import pytest

from eqnas import build
from eqnas.arch import Arch, Stage, Stem
from eqnas.errors import EqnasError
from eqnas.groups import parse_group
from eqnas.nn.basis import kernel_basis
from eqnas.profiling import parse_budget, profile


def _conv(size_in, c_in, c_out, k, stride):
    size_out = (size_in + 2 * (k // 2) - k) // stride + 1
    return size_out, size_out * size_out * c_out * c_in * k * k


@pytest.mark.parametrize("group", ["trivial", "C4", "D4"])
def test_flops_equal_a_hand_count(group):
    """plain family: stem 3x3 -> 5x5 stride 2 -> 3x3; eval batch norm = 2 per element (fvcore),
    adaptive average pool = 1 per input element, linear = in x out."""
    arch = Arch(family="plain", group=group, stem=Stem(width=2, kernel=3),
                stages=(Stage(depth=1, width=3, kernel=5, stride=2), Stage(depth=1, width=4, kernel=3)),
                resolution=17, in_channels=3, num_classes=5)
    order = parse_group(group).order
    expected, size, c_in = 0, 17, 3
    for fields, k, stride in ((2, 3, 1), (3, 5, 2), (4, 3, 1)):
        size, conv = _conv(size, c_in, fields * order, k, stride)
        c_in = fields * order
        expected += conv + 2 * c_in * size * size
    expected += 4 * size * size + 4 * 5  # pooling after group pooling (4 fields), then the linear layer
    assert profile(arch, latency=False).flops == expected


def test_dp_anchor_flops_and_parameters_equal_a_hand_count():
    """examples/tramer2021_cnn.json on 28x28: conv 8x8/2 pad 2 -> 13, pool -> 12, conv 4x4/2 -> 5,
    pool -> 4, flatten 32*4*4, fc 32, fc 10. Pools, tanh and bias additions count zero (fvcore)."""
    arch = Arch.load(Path(__file__).resolve().parents[1] / "examples/tramer2021_cnn.json")
    conv1 = 13 * 13 * 16 * (1 * 8 * 8)
    conv2 = 5 * 5 * 32 * (16 * 4 * 4)
    linear = 32 * 4 * 4 * 32 + 32 * 10
    result = profile(arch, latency=False)
    assert result.flops == conv1 + conv2 + linear == 394_560
    assert result.params == result.dense_params == (16 * 64 + 16) + (32 * 256 + 32) + (512 * 32 + 32) + (32 * 10 + 10)


def test_parameters_count_coefficients_and_dense_weights():
    arch = Arch(family="plain", group="C8", stem=Stem(width=2, kernel=3), stages=(Stage(depth=1, width=3),),
                resolution=9, in_channels=1, num_classes=4)
    g = parse_group("C8")
    lift = 2 * 1 * kernel_basis(g, False, True, 3).shape[0]
    conv = 3 * 2 * kernel_basis(g, True, True, 3).shape[0]
    norms = 2 * (2 + 3)
    linear = 3 * 4 + 4
    result = profile(arch, latency=False)
    assert result.params == lift + conv + norms + linear
    assert result.dense_params == 16 * 9 + 24 * 16 * 9 + 2 * 8 * (2 + 3) + linear
    assert sum(p.numel() for p in build(arch).parameters()) == result.params


@pytest.mark.parametrize("text,value", [("2G", 2_000_000_000), ("500M", 500_000_000), ("1.5e9", 1_500_000_000),
                                        ("750k", 750_000), (" 3 T", 3_000_000_000_000), ("123", 123)])
def test_budget_strings(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["2X", "", "G", "-1M", "0", "2GG"])
def test_bad_budget_strings(text):
    with pytest.raises(EqnasError, match="bad FLOP budget"):
        parse_budget(text)
