"""Per-sample gradients from Opacus with eqnas's grad samplers against Opacus's public
one-sample-at-a-time reference (`compute_microbatch_grad_sample`: each sample's L1 loss backward
alone), for single layers over groups, kernels, strides, bias and weight standardisation, and for
whole networks of every registered family with group norm and restrictions.

Everything runs in float64; the error of a parameter is max |opacus - reference| divided by
max |reference|, the largest entry of that parameter's per-sample gradients, or by SCALE_FLOOR
times the largest entry over all parameters where that is larger: some gradients vanish exactly
(a norm's bias right before a post-residual norm, which removes any per-field shift) and leave
only rounding noise in both.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest
import torch
from opacus.grad_sample import GradSampleModule
from opacus.utils.module_utils import trainable_modules, trainable_parameters
from opacus.utils.per_sample_gradients_utils import ModelWithLoss, clone_module, compute_microbatch_grad_sample
from opacus.validators.errors import UnsupportedModuleError
from torch import nn

from eqnas import build
from eqnas.arch import Arch, Stage, Stem
from eqnas.families import family_names
from eqnas.groups import parse_group
from eqnas.nn import EquivariantConv2d, FieldGroupNorm
from eqnas.train.grad_samplers import equivariant_conv, grad_sample_module, private_buffers
from eqnas.train.grad_samplers.constant_buffers import register_constant_buffers
from tests.conftest import field_type, random_arch, randomized

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9  # relative, float64
SCALE_FLOOR = 1e-4
GROUPS = ["trivial", "C4", "C8", "D4", "D8", "C16"]
RESTRICTIONS = {"D8-D4-D1": ("D8", ("D4", "D1")), "C8-C4-trivial": ("C8", ("C4", "trivial")), "D4-D2": ("D4", (None, "D2"))}

# The first layer's input needs no gradient, so PyTorch warns that its full backward hook sees
# only output gradients; that is all a grad sampler uses.
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def relative_errors(module: nn.Module, x: torch.Tensor, loss_reduction: str) -> dict[str, float]:
    """Each parameter's relative error of Opacus's per-sample gradients against the reference."""
    reference = compute_microbatch_grad_sample(x, module, loss_reduction=loss_reduction)
    model = clone_module(module)
    ModelWithLoss(grad_sample_module(model, loss_reduction), loss_reduction)(x).backward()
    floor = SCALE_FLOOR * max(grads.abs().max() for grads in reference.values())
    errors = {}
    for name, param in trainable_parameters(model):
        expected = reference[name]
        assert param.grad_sample.shape == expected.shape, name
        scale = expected.abs().max().clamp_min(floor)
        errors[name] = ((param.grad_sample - expected).abs().max() / scale).item()
    return errors


def assert_close(module: nn.Module, x: torch.Tensor, loss_reduction: str = "sum") -> None:
    errors = relative_errors(module, x, loss_reduction)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"


def small_fields(group: str) -> int:
    return 1 if parse_group(group).order >= 16 else 2


@pytest.mark.parametrize("weight_standardization", [False, True], ids=["plain", "ws"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("group", GROUPS)
def test_equivariant_conv(group, kernel, stride, bias, weight_standardization):
    """Contraction order as the FLOP count chooses it."""
    fields = small_fields(group)
    conv = EquivariantConv2d(field_type(group, fields), field_type(group, fields + 1), kernel, stride,
                             bias=bias, weight_standardization=weight_standardization)
    x = torch.randn(3, conv.in_type.channels, 7, 7, dtype=torch.float64)
    assert_close(randomized(conv, kernel), x)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("group", GROUPS)
def test_equivariant_conv_basis_first(monkeypatch, group, kernel, stride):
    """The other contraction order, forced (the FLOP count picks it for late, wide layers)."""
    monkeypatch.setattr(equivariant_conv, "contraction_order", lambda layer, positions: "basis first")
    fields = small_fields(group)
    conv = EquivariantConv2d(field_type(group, fields), field_type(group, fields + 1), kernel, stride, bias=True)
    x = torch.randn(3, conv.in_type.channels, 7, 7, dtype=torch.float64)
    assert_close(randomized(conv, kernel), x)


def test_contraction_order_by_hand_count():
    """Multiply-adds per sample, Q = |Gi| k^2: filter first O*Go*I*Q*(L + K), basis first I*K*Go*L*(Q + O)."""
    early = EquivariantConv2d(field_type("C4", 2), field_type("C4", 3), 3)  # K = 24, Q = 36
    assert early.basis.shape[0] == 24
    assert equivariant_conv.flop_counts(early, 49) == {"filter first": 3 * 4 * 2 * 36 * (49 + 24),
                                                      "basis first": 2 * 24 * 4 * 49 * (36 + 3)}
    assert equivariant_conv.contraction_order(early, 49) == "filter first"
    late = EquivariantConv2d(field_type("C8", 32), field_type("C8", 32), 3)  # K = 48, Q = 72, 4x4 map
    assert equivariant_conv.flop_counts(late, 16) == {"filter first": 32 * 8 * 32 * 72 * (16 + 48),
                                                     "basis first": 32 * 48 * 8 * 16 * (72 + 32)}
    assert equivariant_conv.contraction_order(late, 16) == "basis first"
    standardized = EquivariantConv2d(field_type("C8", 32), field_type("C8", 32), 3, weight_standardization=True)
    assert equivariant_conv.contraction_order(standardized, 16) == "filter first"


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("group", GROUPS)
def test_lifting_conv(group, kernel):
    """Image channels (trivial fields) -> regular fields, as in every stem."""
    conv = EquivariantConv2d(field_type(group, 3, regular=False), field_type(group, 2), kernel, 2,
                             bias=True, weight_standardization=True)
    assert_close(randomized(conv, kernel), torch.randn(3, 3, 9, 9, dtype=torch.float64))


@pytest.mark.parametrize("order", ["filter first", "basis first"])
@pytest.mark.parametrize("kernel,stride,padding", [(8, 2, 2), (4, 2, 0), (4, 1, 1), (3, 2, 0)])
def test_trivial_conv_with_even_kernels_and_any_padding(monkeypatch, order, kernel, stride, padding):
    """The anchor net's layers (8x8 stride 2 padding 2, 4x4 stride 2 unpadded), with bias."""
    monkeypatch.setattr(equivariant_conv, "contraction_order", lambda layer, positions: order)
    conv = randomized(EquivariantConv2d(field_type("trivial", 2, regular=False), field_type("trivial", 3), kernel,
                                        stride, bias=True, padding=padding), kernel)
    x = torch.randn(3, 2, 12, 12, dtype=torch.float64)
    assert conv(x).shape[-1] == (12 + 2 * padding - kernel) // stride + 1
    assert_close(conv, x)


def test_the_dp_anchor_network():
    """examples/tramer2021_cnn.json (tanh, max pools, biases, hidden layer), mean-reduced loss."""
    arch = Arch.load(ROOT / "examples/tramer2021_cnn.json")
    model = randomized(build(arch), seed=2)
    errors = relative_errors(model, torch.randn(4, 1, 28, 28, dtype=torch.float64), "mean")
    assert len(errors) == 8  # weight and bias of two convolutions and two linear layers
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize("group", ["trivial", "C8", "D4"])
def test_convpool_without_norm(group):
    """No norm (convolutions with bias), tanh, a hidden layer, pools after every stage."""
    rng = random.Random(group)
    arch = random_arch(rng, "convpool", group, kernels=(1, 3), max_width=2, norm="none", activation="tanh", hidden=3)
    model = randomized(build(arch), seed=3)
    x = torch.randn(3, arch.in_channels, arch.resolution, arch.resolution, dtype=torch.float64)
    errors = relative_errors(model, x, "mean")
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{arch.to_json()}\n{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize("order", ["filter first", "basis first"])
def test_conv_in_chunks(monkeypatch, order):
    """CPU batches go through in cache-sized chunks: a batch of 5 in chunks of 2 leaves a remainder."""
    monkeypatch.setattr(equivariant_conv, "contraction_order", lambda layer, positions: order)
    conv = EquivariantConv2d(field_type("C4", 2), field_type("C4", 3), 3, weight_standardization=order == "filter first")
    x = torch.randn(5, conv.in_type.channels, 7, 7, dtype=torch.float64)
    monkeypatch.setattr(equivariant_conv, "CPU_CHUNK_BYTES", 2 * equivariant_conv.sample_bytes(conv, 49, 8))
    assert equivariant_conv.chunk_size(conv, x, 49) == 2
    assert_close(randomized(conv, 0), x)


@pytest.mark.parametrize("group", GROUPS)
def test_field_group_norm(group):
    norm = FieldGroupNorm(field_type(group, 3))
    x = torch.randn(4, norm.field_type.channels, 5, 5, dtype=torch.float64)
    assert_close(randomized(norm, 0), x)


@pytest.mark.parametrize("restriction", list(RESTRICTIONS))
@pytest.mark.parametrize("family", family_names())
def test_whole_network(family, restriction):
    """Every parameter of a random network (group norm, mish, restrictions) matches the loop,
    with the mean-reduced loss that training uses."""
    group, stage_groups = RESTRICTIONS[restriction]
    rng = random.Random(f"{family}-{restriction}")
    arch = random_arch(rng, family, group, kernels=(1, 3), max_width=2, stage_groups=stage_groups, norm="group",
                       activation="mish", weight_standardization=rng.random() < 0.5,
                       post_residual_norm=rng.random() < 0.5)
    model = randomized(build(arch), seed=1)
    x = torch.randn(3, arch.in_channels, arch.resolution, arch.resolution, dtype=torch.float64)
    errors = relative_errors(model, x, "mean")
    assert len(errors) == len(list(model.parameters()))
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{arch.to_json()}\n{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize("family", family_names())
def test_every_trainable_layer_has_a_grad_sampler(family):
    """No layer falls back to Opacus's generic functorch path."""
    arch = random_arch(random.Random(3), family, "C4", norm="group", weight_standardization=True,
                       post_residual_norm=True)
    model = build(arch)
    missing = {type(m) for _, m in trainable_modules(model)} - set(GradSampleModule.GRAD_SAMPLERS)
    assert not missing
    assert private_buffers(model) == []


def test_batch_norm_is_refused():
    arch = random_arch(random.Random(4), "resnet", "C4", norm="batch")
    with pytest.raises(UnsupportedModuleError):
        grad_sample_module(build(arch))


def test_undeclared_buffers_are_refused():
    class Scaled(nn.Linear):
        def __init__(self) -> None:
            super().__init__(2, 2)
            self.register_buffer("running", torch.zeros(2))

    assert private_buffers(nn.Sequential(Scaled())) == ["0.running"]
    with pytest.raises(NotImplementedError, match="0.running"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grad_sample_module(nn.Sequential(Scaled()))


def test_constant_buffers_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="twice"):
        register_constant_buffers(EquivariantConv2d, "basis")


def test_autograd_leaves_the_coefficients_to_the_hooks():
    """Inside the wrapper's forward, autograd computes no coefficient gradient where the layer's
    input carries one (the hooks give it); the stem keeps its path so that its hook fires. The
    model outside the wrapper trains as before: its coefficient gradients (autograd's) equal the
    sum of the per-sample ones (the hooks')."""
    arch = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3),
                stages=(Stage(depth=1, width=2, stride=2),), resolution=13, norm="group")
    model = randomized(build(arch), seed=0).double()
    x = torch.randn(4, 1, 13, 13, dtype=torch.float64)
    wrapped = grad_sample_module(model, loss_reduction="sum")
    wrapped(x).square().sum().backward()
    convs = [m for m in model.modules() if isinstance(m, EquivariantConv2d)]
    assert len(convs) >= 3 and not any(layer.coefficient_grads_from_hooks for layer in convs)
    assert convs[0].coefficients.grad is not None  # the stem: its input needs no gradient
    assert all(layer.coefficients.grad is None for layer in convs[1:])
    sampled = [layer.coefficients.grad_sample.sum(0) for layer in convs]
    wrapped.disable_hooks()
    model.zero_grad(set_to_none=True)
    model(x).square().sum().backward()
    for layer, expected in zip(convs, sampled):
        assert torch.allclose(layer.coefficients.grad, expected, rtol=1e-10, atol=1e-12)


def test_a_mean_loss_scales_the_output_gradient_once():
    """The mean-loss wrapper gives Opacus's own "mean" per-sample gradients (its hooks take the
    backprops of n times the loss, n scaled once at the output); make_private keeps it as is;
    with hooks off, gradients are the unwrapped model's."""
    from opacus import PrivacyEngine

    arch = Arch(family="resnet", group="C4", stem=Stem(width=2, kernel=3),
                stages=(Stage(depth=1, width=2, stride=2),), resolution=13, norm="group")
    model = randomized(build(arch), seed=0).double()
    reference = GradSampleModule(clone_module(model), loss_reduction="mean", strict=False)
    wrapped = grad_sample_module(model, loss_reduction="mean")
    assert wrapped.loss_reduction == "mean"
    x, y = torch.randn(5, 1, 13, 13, dtype=torch.float64), torch.randint(10, (5,))
    for module in (reference, wrapped):
        nn.functional.cross_entropy(module(x), y).backward()
    for (name, expected), got in zip(reference.named_parameters(), wrapped.parameters()):
        assert torch.allclose(got.grad_sample, expected.grad_sample, rtol=1e-12, atol=1e-14), name

    def plain_grads(module: nn.Module) -> list[torch.Tensor]:
        module.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(module(x), y).backward()
        return [p.grad.clone() for p in model.parameters()]

    expected = plain_grads(model)
    wrapped.disable_hooks()
    assert all(torch.equal(a, b) for a, b in zip(plain_grads(wrapped), expected))
    wrapped.enable_hooks()
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=5)
    made = PrivacyEngine().make_private(module=wrapped, optimizer=optimizer, data_loader=loader,
                                        noise_multiplier=1.0, max_grad_norm=1.0)
    assert made[0] is wrapped
