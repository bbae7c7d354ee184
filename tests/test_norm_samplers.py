"""Ghost clipping against the brute-force loop over single samples, in float64.

For each sample the loop backpropagates the mean loss over its K views alone, takes the norm of
each parameter's gradient and of all of them together, clips with Opacus's factor
min(1, C / (norm + 1e-6)) and sums. Opacus's ghost path (eqnas's norm rules bound to K, its
loss wrapper's two backward passes) must give the same per-parameter norms and the same clipped,
summed gradient, for single layers with each route of the mixed rule forced, and for whole
networks of every registered family with the rule choosing.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from opacus.utils.module_utils import trainable_modules
from torch import nn

from eqnas import build
from eqnas.arch import Arch
from eqnas.families import family_names
from eqnas.nn import EquivariantConv2d, FieldGroupNorm
from eqnas.train.grad_samplers import equivariant_conv, ghost, ghost_module, norm_equivariant_conv
from eqnas.train.grad_samplers.ghost import NORM_RULES, norm_rule
from tests.conftest import field_type, random_arch, randomized

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-10  # relative, float64
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, targets) -> one loss per view

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def squared_error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs - targets).pow(2).flatten(1).sum(1)


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets, reduction="none")


def brute_force(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, views: int, loss: Loss,
                clip: float) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
    """(per-parameter norms [B], total norms [B], clipped summed gradient) by a loop over samples."""
    params = dict((name, p) for name, p in model.named_parameters() if p.requires_grad)
    per_sample = []
    for start in range(0, len(x), views):
        own = slice(start, start + views)
        grads = torch.autograd.grad(loss(model(x[own]), targets[own]).mean(), list(params.values()))
        per_sample.append(dict(zip(params, grads)))
    norms = {name: torch.stack([g[name].norm() for g in per_sample]) for name in params}
    total = torch.stack(list(norms.values())).norm(dim=0)
    factors = (clip / (total + 1e-6)).clamp(max=1.0)
    summed = {name: sum(f * g[name] for f, g in zip(factors, per_sample)) for name in params}
    return norms, total, summed


def through_ghost(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, views: int, loss: Loss,
                  clip: float) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(per-parameter norms, clipped summed gradient) from Opacus's ghost clipping."""
    wrapped = ghost_module(model, views, clip)
    per_sample = loss(wrapped(x), targets).reshape(-1, views).mean(1)
    DPTensorFastGradientClipping(wrapped, torch.optim.SGD(model.parameters(), lr=0.0), per_sample, "mean").backward()
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    norms = {name: p._norm_sample for name, p in params}
    summed = {name: p.grad.clone() for name, p in params}
    wrapped.cleanup()
    return norms, summed


def relative_error(got: torch.Tensor, expected: torch.Tensor, scale: torch.Tensor) -> float:
    return ((got - expected).abs().max() / scale).item()


def assert_matches_loop(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, views: int, loss: Loss,
                        clip_quantile: float = 0.5) -> None:
    """Clipping norm at a quantile of the samples' norms, so some samples are clipped and some not."""
    norms, total, _ = brute_force(model, x, targets, views, loss, 1.0)
    clip = total.quantile(clip_quantile).item()
    _, _, summed = brute_force(model, x, targets, views, loss, clip)
    got_norms, got_summed = through_ghost(model, x, targets, views, loss, clip)
    largest_norm = max(n.max() for n in norms.values())
    largest_grad = max(g.abs().max() for g in summed.values())
    for name in norms:
        # a norm's bias right before a post-residual norm has an exactly vanishing gradient: the
        # scale is then set by the network's largest norm or gradient entry
        assert relative_error(got_norms[name], norms[name], norms[name].max().clamp_min(1e-4 * largest_norm)) \
            < TOLERANCE, name
        assert relative_error(got_summed[name], summed[name], summed[name].abs().max().clamp_min(1e-4 * largest_grad)) \
            < TOLERANCE, name


@pytest.fixture(params=["ghost", "gradient"])
def route(request, monkeypatch) -> str:
    """Forces one side of the mixed rule in every layer."""
    ghost_norm = request.param == "ghost"
    monkeypatch.setattr(ghost, "ghost_is_cheaper", lambda positions, outputs, inputs: ghost_norm)
    monkeypatch.setattr(norm_equivariant_conv, "uses_ghost_norm",
                        lambda layer, positions, views: ghost_norm and not layer.weight_standardization)
    return request.param


def layer_case(layer: nn.Module, input_shape: tuple[int, ...], views: int, seed: int) -> None:
    layer = randomized(layer, seed)
    x = torch.randn(3 * views, *input_shape, dtype=torch.float64)
    with torch.no_grad():
        targets = torch.randn_like(layer(x))
    assert_matches_loop(layer, x, targets, views, squared_error)


@pytest.mark.parametrize("views", [1, 3])
@pytest.mark.parametrize("sequence", [False, True], ids=["flat", "sequence"])
def test_linear(route, views, sequence):
    layer_case(nn.Linear(5, 4), (2, 5) if sequence else (5,), views, seed=views)


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("weight_standardization", [False, True], ids=["plain", "ws"])
@pytest.mark.parametrize("kernel,stride", [(1, 1), (3, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("group", ["trivial", "C4", "D4", "C8"])
def test_equivariant_conv(route, group, kernel, stride, weight_standardization, views):
    conv = EquivariantConv2d(field_type(group, 2), field_type(group, 3), kernel, stride, bias=True,
                             weight_standardization=weight_standardization)
    layer_case(conv, (conv.in_type.channels, 6, 6), views, seed=kernel)


@pytest.mark.parametrize("views", [1, 2])
def test_equivariant_conv_in_chunks_of_whole_samples(monkeypatch, views):
    """CPU chunks hold whole samples (all their views): one sample per chunk here."""
    monkeypatch.setattr(equivariant_conv, "CPU_CHUNK_BYTES", 1)
    monkeypatch.setattr(norm_equivariant_conv, "uses_ghost_norm", lambda layer, positions, views: False)
    conv = EquivariantConv2d(field_type("C4", 2), field_type("C4", 3), 3, bias=True)
    layer_case(conv, (conv.in_type.channels, 5, 5), views, seed=4)


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("group", ["C4", "D4"])
def test_lifting_conv(route, group, views):
    conv = EquivariantConv2d(field_type(group, 3, regular=False), field_type(group, 2), 3, 2, bias=True)
    layer_case(conv, (3, 7, 7), views, seed=1)


@pytest.mark.parametrize("views", [1, 3])
@pytest.mark.parametrize("group", ["trivial", "C8", "D4"])
def test_field_group_norm(group, views):
    norm = FieldGroupNorm(field_type(group, 3))
    layer_case(norm, (norm.field_type.channels, 4, 4), views, seed=2)


def network_case(model: nn.Module, input_shape: tuple[int, ...], classes: int, views: int, seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.randn(4 * views, *input_shape, dtype=torch.float64)
    assert_matches_loop(model, x, torch.randint(classes, (len(x),)), views, cross_entropy)


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("family", family_names())
def test_whole_network(family, views):
    """Group norm, mish, weight standardisation, restrictions; the mixed rule chooses per layer."""
    rng = random.Random(f"{family}-{views}")
    arch = random_arch(rng, family, "D4", kernels=(1, 3), max_width=2, stage_groups=("D4", "C4"), norm="group",
                       activation="mish", weight_standardization=rng.random() < 0.5,
                       post_residual_norm=rng.random() < 0.5)
    model = randomized(build(arch), seed=1)
    network_case(model, (arch.in_channels, arch.resolution, arch.resolution), arch.num_classes, views, seed=2)


def test_the_dp_anchor_network():
    """examples/tramer2021_cnn.json: biases, no norm, tanh, a hidden linear layer."""
    arch = Arch.load(ROOT / "examples/tramer2021_cnn.json")
    network_case(randomized(build(arch), seed=2), (1, 28, 28), arch.num_classes, views=2, seed=3)


def test_the_rule_picks_both_routes():
    """Gram matrices for a 1x1 map of many fields; the per-sample gradient for larger maps."""
    wide = EquivariantConv2d(field_type("C4", 64), field_type("C4", 64), 3)  # p = 64, d = 64 * K
    assert norm_equivariant_conv.uses_ghost_norm(wide, positions=1, views=1)  # T = 4
    assert not norm_equivariant_conv.uses_ghost_norm(wide, positions=16, views=1)  # T = 64: 2T(p + d) > pd
    assert not norm_equivariant_conv.uses_ghost_norm(wide, positions=1, views=16)
    assert ghost.ghost_is_cheaper(2, 10, 512)  # classifier, two views
    assert not ghost.ghost_is_cheaper(6, 10, 512)  # space holds (72 <= 5120), time does not (6264 > 5120)
    assert not ghost.ghost_is_cheaper(60, 100, 100)  # space holds (7200 <= 10000), time does not (24000)


@pytest.mark.parametrize("family", family_names())
def test_every_trainable_layer_has_a_norm_rule(family):
    arch = random_arch(random.Random(3), family, "C4", norm="group", weight_standardization=True,
                       post_residual_norm=True, hidden=3)
    model = build(arch)
    assert {type(m) for _, m in trainable_modules(model)} <= set(NORM_RULES)


def test_views_need_a_rule_for_every_layer():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(NotImplementedError, match="Conv2d"):
        ghost_module(model, views=2, max_grad_norm=1.0)
    ghost_module(model, views=1, max_grad_norm=1.0).cleanup()  # one view: Opacus's fallback is per sample


def test_norm_rules_refuse_duplicates():
    with pytest.raises(ValueError, match="twice"):
        norm_rule(nn.Linear)(lambda layer, activations, backprops, views=1: {})
