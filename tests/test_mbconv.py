"""The MBConv family and its layers: the depthwise group convolution and squeeze-and-excitation
(plain twins, per-sample gradients against the one-sample loop in float64, FLOPs against a hand
count), stochastic depth under DP, invariance of random architectures in train, eval and exported
modes, and block names that are wrong."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from opacus.utils.module_utils import trainable_parameters
from torch import nn

from eqnas import build, export
from eqnas.arch import Arch, Stage, Stem
from eqnas.check import equivariance_errors, grid_transformations
from eqnas.cli import main
from eqnas.errors import EqnasError
from eqnas.families.mbconv import se_hidden
from eqnas.groups import FieldType, parse_group
from eqnas.nn.depthwise import DepthwiseGroupConv2d
from eqnas.nn.drop_path import DropPath
from eqnas.nn.squeeze_excite import FieldSqueezeExcite
from eqnas.profiling import count_flops, profile
from eqnas.train.grad_samplers import grad_sample_module
from tests.test_grad_samplers import randomized, relative_errors

ROOT = Path(__file__).resolve().parents[1]
GRAD_TOLERANCE = 1e-10  # relative, float64
INVARIANCE_TOLERANCE = 1e-4
GROUPS = ["trivial", "C4", "C8", "D4", "D8"]

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def fields_of(group: str, fields: int) -> FieldType:
    return FieldType(parse_group(group), fields)


def assert_grads_close(module: nn.Module, x: torch.Tensor, loss_reduction: str = "sum") -> None:
    errors = relative_errors(module, x, loss_reduction)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= GRAD_TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"


# --- layers ------------------------------------------------------------------------------
@pytest.mark.parametrize("group", GROUPS)
def test_depthwise_exports_to_a_grouped_conv2d_with_the_same_outputs(group):
    layer = DepthwiseGroupConv2d(fields_of(group, 3), 3, stride=2, bias=True)
    with torch.no_grad():
        layer.bias.normal_()
    plain = layer.to_plain()
    order = parse_group(group).order
    assert isinstance(plain, nn.Conv2d) and plain.groups == 3
    assert plain.weight.shape == (3 * order, order, 3, 3)
    x = torch.randn(2, 3 * order, 9, 9)
    assert torch.allclose(plain(x), layer(x), atol=1e-6)


def test_depthwise_mixes_no_two_fields():
    """Zeroing one field's input changes only that field's output."""
    layer = DepthwiseGroupConv2d(fields_of("C4", 3), 3)
    x = torch.randn(1, 12, 7, 7)
    cut = x.clone()
    cut[:, 4:8] = 0
    difference = (layer(x) - layer(cut)).abs().amax(dim=(0, 2, 3)).reshape(3, 4).amax(-1)
    assert difference[0] == 0 and difference[2] == 0 and difference[1] > 0


@pytest.mark.parametrize("bias,weight_standardization", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("kernel,stride", [(1, 1), (1, 2), (3, 1), (3, 2), (5, 1), (5, 2)])
@pytest.mark.parametrize("group", GROUPS)
def test_depthwise_per_sample_gradients(group, kernel, stride, bias, weight_standardization):
    if weight_standardization and group == "trivial" and kernel == 1:
        pytest.skip("a one-entry filter standardises to zero: no gradient to compare")
    layer = DepthwiseGroupConv2d(fields_of(group, 2), kernel, stride, bias=bias,
                                 weight_standardization=weight_standardization)
    x = torch.randn(3, layer.in_type.channels, 7, 7, dtype=torch.float64)
    assert_grads_close(randomized(layer, kernel), x)


@pytest.mark.parametrize("activation", ["silu", "relu", "mish", "tanh"])
@pytest.mark.parametrize("group", GROUPS)
def test_squeeze_excite_per_sample_gradients(group, activation):
    layer = FieldSqueezeExcite(fields_of(group, 3), hidden=2, activation=activation)
    x = torch.randn(4, layer.field_type.channels, 5, 5, dtype=torch.float64)
    assert_grads_close(randomized(layer, 0), x)


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_squeeze_excite_gates_whole_fields_and_commutes_with_the_group(group):
    layer = FieldSqueezeExcite(fields_of(group, 3), hidden=2)
    x = torch.randn(2, layer.field_type.channels, 5, 5)
    gate = (layer(x) / x).reshape(2, 3, -1)
    assert torch.allclose(gate, gate[..., :1].expand_as(gate), atol=1e-6)  # one gate per field
    # a rotation of the map together with any permutation of each field's channels
    permuted = x.reshape(2, 3, -1, 5, 5).flip(2).reshape_as(x)
    expected = layer(x).reshape(2, 3, -1, 5, 5).flip(2).reshape_as(x)
    rotated = lambda t: torch.rot90(t, 1, (-2, -1))  # noqa: E731
    assert torch.allclose(layer(rotated(permuted)), rotated(expected), atol=1e-6)


@pytest.mark.parametrize("group", ["trivial", "C8", "D4"])
def test_layer_flops_equal_a_hand_count(group):
    """Depthwise: C x |G| x k^2 per output position (fvcore: one multiply-add = one FLOP).
    Squeeze-and-excitation: the average pool one per input element, the MLP F x h + h x F."""
    order = parse_group(group).order
    depthwise = nn.Sequential(DepthwiseGroupConv2d(fields_of(group, 3), 5, stride=2))  # export() replaces children
    assert count_flops(depthwise, 11, 3 * order) == 3 * order * order * 25 * 6 * 6
    squeeze = FieldSqueezeExcite(fields_of(group, 3), hidden=2)
    assert count_flops(squeeze, 7, 3 * order) == 3 * order * 49 + 3 * 2 + 2 * 3


@pytest.mark.parametrize("group", ["trivial", "C4", "D4"])
def test_network_flops_equal_a_hand_count(group):
    """Stem 3x3 on 17x17 -> one MBConv (expand 3, k5 stride 2, SE 0.5) -> 1x1 head conv.
    Eval batch norm counts 2 per element, the residual add and activations 0 (fvcore)."""
    g = parse_group(group).order
    arch = Arch(family="mbconv", group=group, stem=Stem(width=2, kernel=3),
                stages=(Stage(depth=1, width=3, kernel=5, stride=2, block="mbconv_e3_se0.5"),
                        Stage(depth=1, width=4, kernel=1, block="conv")),
                resolution=17, in_channels=3, num_classes=5, activation="silu")
    stem = 17 * 17 * (2 * g) * 3 * 9 + 2 * 2 * g * 17 * 17
    expand = 17 * 17 * (6 * g) * (2 * g) + 2 * 6 * g * 17 * 17
    depthwise = 9 * 9 * (6 * g) * g * 25 + 2 * 6 * g * 9 * 9
    squeeze = 6 * g * 9 * 9 + 6 * se_hidden(2, 0.5) * 2
    project = 9 * 9 * (3 * g) * (6 * g) + 2 * 3 * g * 9 * 9
    head_conv = 9 * 9 * (4 * g) * (3 * g) + 2 * 4 * g * 9 * 9
    pool_and_linear = 4 * 9 * 9 + 4 * 5
    assert profile(arch, latency=False).flops == stem + expand + depthwise + squeeze + project + head_conv + pool_and_linear


# --- stochastic depth under DP -----------------------------------------------------------
def test_stochastic_depth_is_per_sample_gradient_safe():
    """Train mode, masks held fixed (same seed before every forward): Opacus's per-sample
    gradients equal each sample's own loss gradient through the same batch forward."""
    arch = Arch(family="mbconv", group="C4", stem=Stem(width=2, kernel=3),
                stages=(Stage(depth=2, width=2, kernel=3, block="mbconv_e2_se0.5_sd0.5"),), resolution=9,
                norm="group", activation="silu")
    model = randomized(build(arch), seed=4).train()
    x = torch.randn(6, 1, 9, 9, dtype=torch.float64)
    wrapped = grad_sample_module(model, "sum")
    torch.manual_seed(11)
    wrapped(x).sum().backward()
    opacus = {name: param.grad_sample.clone() for name, param in trainable_parameters(wrapped)}
    for index in range(x.shape[0]):
        reference = randomized(build(arch), seed=4).train()
        torch.manual_seed(11)
        out = reference(x)
        out[index].sum().backward()
        for name, param in reference.named_parameters():
            key = f"_module.{name}" if f"_module.{name}" in opacus else name
            expected = param.grad
            assert torch.allclose(opacus[key][index], expected, rtol=0, atol=1e-10 * (1 + expected.abs().max())), name
    assert len(opacus) == len(list(model.parameters()))
    # the masks acted: without them the same seed gives other outputs
    reference = randomized(build(arch), seed=4).train()
    torch.manual_seed(11)
    dropped = reference(x)
    for layer in [m for m in reference.modules() if isinstance(m, DropPath)]:
        layer.prob = 0.0
    assert not torch.allclose(reference(x), dropped)


# --- the family ----------------------------------------------------------------------------
BLOCKS = ("mbconv", "mbconv_e3", "mbconv_e4_se0.25", "mbconv_e2_se0.5_sd0.3", "fused_e2_se0.5", "fused", "conv")


def random_mbconv(rng: random.Random, group: str, stage_groups: tuple[str | None, ...] = (), **overrides) -> Arch:
    """A small random MBConv architecture whose input size is exact for its strides."""
    count = len(stage_groups) or rng.randint(1, 3)
    stages = tuple(
        Stage(depth=rng.randint(1, 2), width=rng.randint(1, 3), kernel=rng.choice((1, 3, 5)), stride=rng.choice((1, 2)),
              block=rng.choice(BLOCKS), group=(stage_groups or (None,) * count)[index])
        for index in range(count)
    )
    options = {"activation": rng.choice(("silu", "relu")), "norm": rng.choice(("batch", "group")), **overrides}
    arch = Arch(family="mbconv", group=group, stem=Stem(width=rng.randint(1, 3), kernel=3), stages=stages,
                resolution=13, in_channels=rng.choice((1, 3)), num_classes=3, **options)
    return arch.replace(resolution=arch.exact_resolution(rng.randint(9, 17)))


def assert_invariant(model: nn.Module, arch: Arch, seed: int) -> None:
    result = equivariance_errors(model, arch, seed=seed)
    assert set(result["exact"]) == set(grid_transformations(arch.final_group))
    for name, error in result["exact"].items():
        assert error <= INVARIANCE_TOLERANCE, f"{arch.to_json()}\n{name}: {error:.2e}"


SCHEDULES = {"C4": ("C4", ()), "C8": ("C8", ()), "D4": ("D4", ()), "D8": ("D8", ()), "trivial": ("trivial", ()),
             "D8-D4-D1": ("D8", (None, "D4", "D1")), "C8-C4-trivial": ("C8", ("C8", "C4", "trivial")),
             "D4-C4": ("D4", (None, "C4"))}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_random_mbconv_architectures_are_invariant_in_train_eval_and_export_and_export_matches(schedule):
    group, stage_groups = SCHEDULES[schedule]
    rng = random.Random(schedule)
    for trial in range(3):
        arch = random_mbconv(rng, group, stage_groups)
        torch.manual_seed(trial)
        model = build(arch)
        assert_invariant(model.train(), arch, seed=trial)  # the check holds stochastic depth's masks fixed
        model(torch.randn(4, arch.in_channels, arch.resolution, arch.resolution))  # moves batch-norm statistics
        assert_invariant(model.eval(), arch, seed=trial)
        plain = export(model)
        assert_invariant(plain, arch, seed=trial)
        x = torch.randn(3, arch.in_channels, arch.resolution, arch.resolution)
        with torch.no_grad():
            assert torch.allclose(plain(x), model(x), atol=1e-5, rtol=0)
        assert not {type(m).__name__ for m in plain.modules()} & {"EquivariantConv2d", "DepthwiseGroupConv2d",
                                                                  "FieldBatchNorm", "FieldGroupNorm"}


def test_the_registered_block_kinds_are_the_builders():
    from eqnas.families import FAMILIES
    from eqnas.families.mbconv import BUILDERS

    assert FAMILIES["mbconv"].blocks == tuple(BUILDERS)


def test_a_block_adds_its_input_only_when_it_keeps_stride_and_fields():
    arch = Arch(family="mbconv", group="C4", stem=Stem(width=2, kernel=3), resolution=9,
                stages=(Stage(depth=2, width=2, block="mbconv_e2"), Stage(depth=1, width=3, stride=2, block="fused_e2")))
    blocks = list(build(arch).features)[1:]
    assert [block.residual for block in blocks] == [True, True, False]


@pytest.mark.parametrize("block, message", [
    ("mbconv_e0", "'e0' in 'mbconv_e0': e must be an integer >= 1"),
    ("mbconv_se1.5", "se must be a ratio in (0, 1]"),
    ("mbconv_sd1", "sd must be a probability in [0, 1)"),
    ("mbconv_x3", "'x3' in 'mbconv_x3' is not an option of mbconv blocks"),
    ("mbconv_e2_e3", "'mbconv_e2_e3' gives e twice"),
    ("conv_e2", "is not an option of conv blocks (options: none)"),
    ("basic", "'basic' is not a block of this family: use one of mbconv, fused, conv"),
])
def test_bad_block_names_name_the_bad_part(block, message):
    with pytest.raises(EqnasError, match=None) as error:
        Arch(family="mbconv", group="C4", stem=Stem(width=2), stages=(Stage(depth=1, width=2, block=block),),
             resolution=9)
    assert message in str(error.value)


def test_resnet_families_refuse_mbconv_blocks_and_the_cli_exits_2(tmp_path, capsys):
    data = json.loads((ROOT / "examples/c8_small.json").read_text())
    data["stages"][0]["block"] = "mbconv_e6"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "--arch", str(path)])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1
    assert "'mbconv_e6' is not a block of this family: use one of basic, bottleneck" in lines[0]


# --- shipped files ---------------------------------------------------------------------------
MBCONV_EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.json") if '"mbconv"' in p.read_text())


def test_the_b0_table_and_its_twins_are_shipped():
    assert {"efficientnet_b0_29.json", "efficientnet_b0_29_c4.json", "efficientnet_b0_29_c8.json",
            "efficientnet_b0_29_d4.json", "c8_mbconv_small.json"} <= set(MBCONV_EXAMPLES)
    b0 = Arch.load(ROOT / "examples/efficientnet_b0_29.json")
    # Table 1 of Tan & Le 2019: MBConv1 k3 x1, MBConv6 k3 x2, k5 x2, k3 x3, k5 x3, k5 x4, k3 x1, conv1x1 1280
    assert [(s.depth, s.kernel, s.block.split("_")[1] if "_" in s.block else s.block) for s in b0.stages] == [
        (1, 3, "e1"), (2, 3, "e6"), (2, 5, "e6"), (3, 3, "e6"), (3, 5, "e6"), (4, 5, "e6"), (1, 3, "e6"), (1, 1, "conv")]
    assert [s.width for s in b0.stages] == [16, 24, 40, 80, 112, 192, 320, 1280] and b0.stem.width == 32
    for group in ("c4", "c8", "d4"):
        twin = Arch.load(ROOT / f"examples/efficientnet_b0_29_{group}.json")
        assert twin.group.lower() == group and twin.resolution == b0.resolution
        assert [(s.depth, s.kernel, s.stride, s.block) for s in twin.stages] == [
            (s.depth, s.kernel, s.stride, s.block) for s in b0.stages]


def test_the_compound_base_is_invariant():
    arch = Arch.load(ROOT / "examples/c8_mbconv_small.json")
    model = build(arch).eval()
    assert_invariant(model, arch, seed=0)


@pytest.mark.parametrize("name", ["c8_mbconv", "cnn_mbconv"])
def test_mbconv_spaces_search_expand_se_kernel_depth_and_width(name):
    from eqnas.search.space import load_space

    space = load_space(ROOT / f"spaces/{name}.yaml")
    searched = space.searched()
    blocks = searched["stages.1.block"]
    assert {"stages.1.depth", "stages.1.width", "stages.1.kernel"} <= set(searched)
    assert {b.split("_")[1] for b in blocks} == {"e3", "e6"} and any("se" in b for b in blocks) and \
        any("se" not in b for b in blocks)
    arch = space.to_arch({label: values[-1] for label, values in searched.items()})
    logits = build(arch).eval()(torch.zeros(2, arch.in_channels, arch.resolution, arch.resolution))
    assert arch.family == "mbconv" and logits.shape == (2, arch.num_classes)
