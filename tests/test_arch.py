"""Architecture files: round trip, and one clear error naming the field for every bad input."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import eqnas
from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.families import register_family
from tests.conftest import random_arch

ROOT = Path(__file__).resolve().parents[1]


def test_round_trip_through_json(tmp_path, rng):
    for family in eqnas.families.family_names():
        arch = random_arch(rng, family, "D4", stage_groups=(None, "D2"))
        path = arch.save(tmp_path / f"{family}.json")
        assert Arch.load(path) == arch
        model = eqnas.load(path)
        assert model.arch == arch


def test_same_file_builds_every_group(tmp_path, rng):
    arch = random_arch(rng, "resnet", "C8")
    channels = {}
    for group in ("trivial", "C4", "C8", "D4"):
        model = eqnas.build(arch.replace(group=group))
        channels[group] = model.features[0][0].out_type.channels
    assert channels == {g: arch.stem.width * n for g, n in (("trivial", 1), ("C4", 4), ("C8", 8), ("D4", 8))}


BAD = [
    ({"group": "Q7"}, "unknown group 'Q7'"),
    ({"group": "C17"}, "unknown group 'C17'"),
    ({"stem": {"width": -3}}, r"arch.stem.width: must be a positive integer, got -3"),
    ({"stages": [{"depth": 1, "width": 0}]}, r"stages\[0\].width: must be a positive integer, got 0"),
    ({"stages": [{"depth": 1, "width": 2, "kernel": 4}]}, r"stages\[0\].kernel: kernel size must be odd"),
    ({"stages": [{"depth": 1, "width": 2, "colour": "red"}]}, r"stages\[0\]: unknown key 'colour'"),
    ({"widht": 3}, "unknown key 'widht'"),
    ({"family": "transformer"}, "'transformer' is not one of"),
    ({"norm": "layer"}, "'layer' is not one of batch, group, none"),
    ({"head": "avg"}, "arch.head: 'avg' is not one of max, max_mean, flatten"),
    ({"resolution": "big"}, "resolution: expected an integer, got 'big'"),
    ({"version": 9}, "version: 9 is not supported"),
    ({"stem": {"width": 2, "kernel": 8}}, r"stem.kernel: kernel size must be odd and positive, got 8 \(even sizes only"),
    ({"stem": {"width": 2, "kernel": 3, "padding": 2}}, r"stem.padding: must be between 0 and kernel // 2 = 1, got 2"),
    ({"family": "plain", "stages": [{"depth": 1, "width": 2, "padding": -1}]}, r"stages\[0\].padding: must be between 0"),
    ({"stages": [{"depth": 1, "width": 2, "padding": 0}]}, r"stages\[0\].padding: the resnet family pads kernel // 2"),
    ({"stages": [{"depth": 1, "width": 2, "padding": "same"}]}, r"stages\[0\].padding: expected an integer, got 'same'"),
    ({"head": "flatten"}, "arch.head: 'flatten' keeps positions, so the logits would not be invariant to C4"),
    ({"hidden": -1}, "arch.hidden: must be 0 \\(no hidden layer\\) or more, got -1"),
    ({"hidden": 1.5}, "hidden: expected an integer, got 1.5"),
]


def test_a_file_without_head_keeps_the_usual_head(tmp_path):
    data = random_arch(random.Random(0), "resnet", "C4", head="max_mean").to_dict()
    del data["head"]  # files written before the key existed
    assert Arch.from_dict(data).head == "max"


@pytest.mark.parametrize("change,message", BAD)
def test_bad_files_name_the_field(tmp_path, change, message):
    data = random_arch(random.Random(0), "resnet", "C4").to_dict()
    data.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EqnasError, match=message):
        Arch.load(path)


def test_even_kernels_padding_flatten_and_hidden_are_valid_where_the_group_is_trivial():
    arch = Arch.load(ROOT / "examples/tramer2021_cnn.json")
    assert (arch.stem.kernel, arch.stem.padding, arch.head, arch.hidden) == (8, 2, "flatten", 32)
    with pytest.raises(EqnasError, match="stem.kernel: kernel size must be odd"):
        arch.replace(group="C4", head="max")
    restricted = random_arch(random.Random(1), "convpool", "C4", stage_groups=("trivial",), head="flatten")
    assert restricted.final_group.is_trivial


def test_exact_resolution_walks_padding_and_pools_by_hand():
    """A stride-s layer is exact when (size + 2 padding - kernel) % s == 0; convpool takes one pixel
    off after the stem and each stage. The anchor: 28 -> 13 -> 12 -> 5 -> 4 is exact; from 29 the
    first exact size is 32 (29 + 4 - 8 odd; 30 -> 14 -> 13, 13 - 4 odd; 31 odd; 32 -> 15 -> 14 -> 6)."""
    arch = Arch.load(ROOT / "examples/tramer2021_cnn.json")
    assert arch.exact_resolution() == 28
    assert arch.exact_resolution(29) == 32
    plain = arch.replace(family="plain")  # no pools: 29 + 4 - 8 odd; 30 -> 14, 14 - 4 even
    assert plain.exact_resolution(29) == 30
    default = random_arch(random.Random(2), "resnet", "C4")  # padding kernel // 2: (size - 1) % total stride
    assert (default.exact_resolution(40) - 1) % default.total_stride == 0


def test_malformed_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"family": "resnet",')
    with pytest.raises(EqnasError, match="not valid JSON"):
        Arch.load(path)
    with pytest.raises(EqnasError, match="no architecture .*absent.json.*: not a file, nor a shipped name"):
        Arch.load(tmp_path / "absent.json")


def test_family_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="registered twice"):
        register_family("resnet", lambda arch: None)


def test_registered_geometry_matches_the_builders():
    """The family table states convpool's pool shrink without importing its builder."""
    from eqnas.families import FAMILIES
    from eqnas.families.convpool import POOL_SHRINK

    assert FAMILIES["convpool"].shrink == POOL_SHRINK == 1
