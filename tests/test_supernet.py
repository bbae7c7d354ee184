"""The weight-sharing supernet: every subnet's static network reproduces the supernet's forward
of it and its FLOPs, random subnets are invariant (train, eval, export) for every group and
restriction schedule the shipped spaces use, and the elastic kernels, widths and depths share
what they claim to share."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import yaml

from eqnas import export
from eqnas.check import equivariance_errors, grid_transformations, relative_error
from eqnas.errors import EqnasError
from eqnas.profiling import arch_flops, count_flops
from eqnas.search.space import load_space, parse_space
from eqnas.supernet import Supernet
from eqnas.supernet.kernels import KERNEL_MODES, projection
from eqnas.supernet.resize import resize
from eqnas.supernet.subnets import outer_choices

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"c4": "c4_resnet", "c8": "c8_resnet", "d4": "d4_resnet", "d8_restricted": "d8_restricted_resnet"}
EXACT = 1e-5
INVARIANT = 1e-4


def tiny(name: str, **overrides) -> "SearchSpace":  # noqa: F821
    """A shipped space with its group, schedule, depths, kernels and strides, but widths of 1-3
    fields and 13x13 inputs, so a test forward costs milliseconds."""
    data = yaml.safe_load((ROOT / "spaces" / f"{SHIPPED[name]}.yaml").read_text())
    data["resolution"] = 13
    data["stem"]["width"] = [1, 2]
    for index, stage in enumerate(data["stages"]):
        stage["width"] = [1, 2] if index == 0 else [2, 3]
    data.update(overrides)
    return parse_space(data, where=name)


def supernets(name: str, kernels: str, rng: random.Random, count: int = 2) -> list[Supernet]:
    """The supernets of `count` random outer choices (the group, or a restriction schedule)."""
    space = tiny(name)
    choices = outer_choices(space)
    return [Supernet(space, outer, kernels) for outer in rng.sample(choices, min(count, len(choices)))]


def perturb(supernet: Supernet, seed: int) -> None:
    """Random values in every stored tensor (running statistics included), so a slice taken
    from the wrong place cannot agree by accident."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in supernet.state_dict(keep_vars=True).items():
            if tensor.is_floating_point():
                noise = torch.randn(tensor.shape, generator=generator)
                tensor.copy_(noise.abs() + 0.5 if "running_var" in name else 0.5 * noise)


def _assert_invariant(model, arch, seed):
    result = equivariance_errors(model, arch, seed=seed)
    assert set(result["exact"]) == set(grid_transformations(arch.final_group))
    for name, error in result["exact"].items():
        assert error < INVARIANT, f"{arch.final_group} {name}: {error:.2e}"


@pytest.mark.parametrize("kernels", list(KERNEL_MODES))
@pytest.mark.parametrize("name", list(SHIPPED))
def test_extracted_subnets_reproduce_the_supernet_and_its_flops(name, kernels):
    rng = random.Random(f"{name}{kernels}")
    for supernet in supernets(name, kernels, rng):
        perturb(supernet, seed=1)
        for arch in (supernet.largest(), supernet.smallest(), supernet.random(rng), supernet.random(rng)):
            x = torch.randn(3, arch.in_channels, arch.resolution, arch.resolution)
            static = supernet.extract(arch)
            for train in (True, False):
                supernet.train(train), static.train(train)
                with torch.no_grad():
                    assert relative_error(supernet(x, arch), static(x)) <= EXACT
            assert count_flops(static, arch.resolution, arch.in_channels) == arch_flops(arch)


@pytest.mark.parametrize("kernels", list(KERNEL_MODES))
@pytest.mark.parametrize("name", list(SHIPPED))
def test_random_subnets_are_invariant_in_train_eval_and_export(name, kernels):
    rng = random.Random(f"inv{name}{kernels}")
    for trial, supernet in enumerate(supernets(name, kernels, rng)):
        perturb(supernet, seed=trial)
        for arch in (supernet.random(rng), supernet.random(rng)):
            view = supernet.view(arch)
            _assert_invariant(view.train(), arch, seed=trial)
            _assert_invariant(view.eval(), arch, seed=trial)
            _assert_invariant(export(supernet.extract(arch)), arch, seed=trial)


def test_every_restriction_schedule_has_its_own_supernet():
    space = tiny("d8_restricted")
    schedules = outer_choices(space)
    assert {tuple(s.values()) for s in schedules} == {
        (g1, g2) for g1 in ("D8", "D4", "C8", "C4") for g2 in ("D4", "D1", "C4", "trivial") if _is_subgroup(g2, g1)
    }
    with pytest.raises(EqnasError, match="stages.1.group"):
        Supernet(space)
    with pytest.raises(EqnasError, match="not a valid combination"):
        Supernet(space, {"stages.1.group": "C4", "stages.2.group": "D1"})


def _is_subgroup(child: str, parent: str) -> bool:
    from eqnas.groups import parse_group

    return parse_group(child).is_subgroup_of(parse_group(parent))


def test_narrower_and_shallower_subnets_take_the_leading_fields_and_blocks():
    supernet = Supernet(tiny("c4"), kernels="separate")
    perturb(supernet, seed=3)
    large = supernet.extract(supernet.largest())
    sample = {label: max(values) for label, values in supernet.space.searched().items()}
    narrow = supernet.extract({**sample, "stages.0.width": 1, "stages.1.depth": 1})
    wide_first = large.features[1].body[0][0].coefficients  # stage 0, block 0, first conv
    narrow_first = narrow.features[1].body[0][0].coefficients
    assert narrow_first.shape[0] == 1 and wide_first.shape[0] == 2
    assert torch.equal(narrow_first, wide_first[:1])
    # stage 1 keeps its first block (same weights) and drops the second
    start_large, count_large = large.stage_spans[1]
    start_narrow, count_narrow = narrow.stage_spans[1]
    assert (count_large, count_narrow) == (2, 1)
    second = large.features[start_large].body[1][0].coefficients
    assert torch.equal(narrow.features[start_narrow].body[1][0].coefficients, second)


def test_kernel_map_starts_as_the_centre_crop_for_the_trivial_group():
    """Trivial bases are the pixel basis: the projected small filter is exactly the large
    filter's centre; for C4 the centre crop is approximated by the small basis."""
    space = tiny("c4", group="trivial")
    supernet = Supernet(space, kernels="map")  # initial maps: not perturbed
    sample = {label: max(values) for label, values in space.searched().items()}
    large = supernet.extract(sample).features[1].body[0][0]
    small = supernet.extract({**sample, "stages.0.kernel": 3}).features[1].body[0][0]
    assert (large.kernel, small.kernel) == (5, 3)
    assert torch.allclose(small.expand_weight(), large.expand_weight()[..., 1:4, 1:4], atol=1e-6)

    c4 = Supernet(tiny("c4"), kernels="map")
    conv5, conv3 = (c4.extract({**sample, "stages.0.kernel": k}).features[1].body[0][0] for k in (5, 3))
    mapped = projection(conv3.basis, conv5.basis)
    crop = conv5.basis[..., 1:4, 1:4].reshape(conv5.basis.shape[0], -1)
    residual = crop - mapped @ conv3.basis.reshape(conv3.basis.shape[0], -1)
    assert residual.norm() < 0.5 * crop.norm()


def test_elastic_resolution_resizes_the_input_and_stays_invariant():
    space = tiny("c8", resolution=[9, 13])
    supernet = Supernet(space)
    perturb(supernet, seed=5)
    rng = random.Random(5)
    arch = space.to_arch({**{k: rng.choice(v) for k, v in space.searched().items()}, "resolution": 9})
    x = torch.randn(2, 1, 13, 13)
    supernet.eval()
    with torch.no_grad():
        logits = supernet(x, arch)
        assert relative_error(logits, supernet.extract(arch).eval()(resize(x, 9))) <= EXACT
        assert relative_error(logits, supernet(torch.rot90(x, 1, (-2, -1)), arch)) < INVARIANT


def test_subnets_outside_the_supernet_are_errors_naming_the_value():
    supernet = Supernet(tiny("c4"))
    arch = supernet.largest()
    wide = arch.replace(stages=(arch.stages[0].__class__(**{**arch.stages[0].__dict__, "width": 7}), *arch.stages[1:]))
    with pytest.raises(EqnasError, match=r"stages.0.width = 7 is not in the supernet's choices \[1, 2\]"):
        supernet.extract(wide)
    with pytest.raises(EqnasError, match="group"):
        supernet.extract(arch.replace(group="C8"))
    assert supernet.arch(arch.replace(name="anything")) == arch.replace(name="anything")


def test_kernel_modes_store_what_they_say():
    space = tiny("c4")
    mapped, separate = Supernet(space, kernels="map"), Supernet(space, kernels="separate")
    assert any("kernel_map@k3" in key for key in mapped.weights)
    assert not any("coefficients@k3" in key and "stage0:0:body" in key for key in mapped.weights)
    assert any("coefficients@k3" in key for key in separate.weights)
    assert not any("kernel_map" in key for key in separate.weights)
    with pytest.raises(EqnasError, match="unknown kernel mode 'crop'"):
        Supernet(space, kernels="crop")


@pytest.mark.parametrize("path", sorted((ROOT / "spaces").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_space_has_supernets_whose_subnets_extract_exactly(path):
    """Full-size shipped spaces (one random outer choice each): the smallest and a random subnet
    of the real supernet reproduce its forward."""
    space = load_space(path)
    rng = random.Random(path.stem)
    supernet = Supernet(space, rng.choice(outer_choices(space))).eval()
    for arch in (supernet.smallest(), supernet.random(rng)):
        x = torch.randn(1, arch.in_channels, arch.resolution, arch.resolution)
        with torch.no_grad():
            assert relative_error(supernet(x, arch), supernet.extract(arch).eval()(x)) <= EXACT


def test_training_forwards_update_the_shared_running_statistics_of_their_fields():
    supernet = Supernet(tiny("c4"))
    arch = supernet.smallest()
    key = "stem:1:bn:running_mean"
    before = supernet.tensor(key).clone()
    fields = supernet.extract(arch).features[0][1].bn.running_mean.numel()
    with torch.no_grad():
        supernet.train()(torch.rand(4, 1, 13, 13), arch)
    after = supernet.tensor(key)
    assert not torch.equal(after[:fields], before[:fields])
    assert torch.equal(after[fields:], before[fields:])
    assert supernet.tensor("stem:1:bn:num_batches_tracked").item() == 1


def test_training_a_subnet_through_the_supernet_is_training_its_static_network():
    """Oracle: Adam steps on the supernet's store through a subnet move that subnet's weights
    exactly as the same steps on its extracted static network (separate kernels: the same
    parametrisation), so every parameter of the subnet is trained through the store."""
    torch.manual_seed(0)
    supernet = Supernet(tiny("c4"), kernels="separate")
    arch = supernet.random(random.Random(7))
    static = supernet.extract(arch)
    state = supernet.subnet_state(arch)
    assert {name for name, tensor in state.items() if tensor.requires_grad} == dict(static.named_parameters()).keys()
    optimizers = [torch.optim.Adam(supernet.parameters(), lr=1e-2), torch.optim.Adam(static.parameters(), lr=1e-2)]
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(8, 1, 13, 13, generator=generator)
        targets = torch.randint(0, 10, (8,), generator=generator)
        for optimizer, forward in zip(optimizers, (lambda x: supernet(x, arch), static)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(forward(x), targets).backward()
            optimizer.step()
    trained = supernet.subnet_state(arch)
    for name, tensor in static.state_dict().items():
        assert torch.allclose(trained[name].detach().float(), tensor.float(), atol=1e-5), name
