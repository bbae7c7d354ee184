"""`eqnas.create_model` and the timm-like model interface: every listed name builds, overrides
are validated like a file's fields, pretrained weights load (with a fresh classifier for other
classes), and `forward == forward_head(forward_features)` and invariance survive
`reset_classifier`, for random architectures of every registered family."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import eqnas
from eqnas.arch import Arch, Stage
from eqnas.catalog import ARCHS
from eqnas.check import equivariance_errors
from eqnas.errors import EqnasError
from eqnas.families import family_names
from eqnas.train.checkpoint import save_checkpoint
from tests.conftest import random_arch

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4
SMALL_RESNET = {"group": "C4", "stem": {"width": 2}, "stages": [{"depth": 1, "width": 2, "stride": 2}],
                "resolution": 13}


@pytest.mark.parametrize("name", ARCHS.names())
def test_every_shipped_example_is_a_model(name):
    model = eqnas.create_model(name)
    assert model.arch == Arch.load(ROOT / "examples" / f"{name}.json")


def test_a_family_name_takes_its_architecture_from_keywords():
    model = eqnas.create_model("resnet", **SMALL_RESNET, num_classes=4, in_chans=3)
    assert (model.arch.family, model.arch.group, model.arch.stages[0]) == ("resnet", "C4", Stage(depth=1, width=2,
                                                                                                 stride=2))
    assert model(torch.randn(2, 3, 13, 13)).shape == (2, 4)
    with pytest.raises(EqnasError, match=r"create_model\('resnet'\): missing key 'stem'"):
        eqnas.create_model("resnet", group="C4", stages=[{"depth": 1, "width": 2}], resolution=13)


def test_overrides_are_checked_like_file_fields():
    assert eqnas.create_model("c8_small", group="C4", stem=eqnas.Stem(width=3)).arch.group == "C4"
    assert eqnas.create_model(Arch.load("c8_small"), resolution=33).arch.resolution == 33
    with pytest.raises(EqnasError, match="unknown key 'widht'"):
        eqnas.create_model("c8_small", widht=3)
    with pytest.raises(EqnasError, match="arch.num_classes: must be a positive integer, got 0"):
        eqnas.create_model("c8_small", num_classes=0)


def test_an_unknown_model_lists_the_names():
    with pytest.raises(EqnasError) as error:
        eqnas.create_model("c8_smal")
    assert "'c8_smal'" in str(error.value) and ", ".join(eqnas.list_models()) in str(error.value)
    assert set(family_names()) <= set(eqnas.list_models())


def test_pretrained_weights_load_and_other_classes_get_a_fresh_classifier(tmp_path):
    torch.manual_seed(0)
    trained = eqnas.build(Arch.load("c8_small"))
    save_checkpoint(tmp_path / "checkpoint.pt", trained.state_dict(), trained.arch)
    x = torch.randn(3, 1, 29, 29)
    same = eqnas.create_model("c8_small", pretrained=tmp_path)
    assert not same.training
    assert torch.allclose(same(x), trained.eval()(x))
    other = eqnas.create_model("c8_small", pretrained=tmp_path / "checkpoint.pt", num_classes=3)
    assert other(x).shape == (3, 3) and other.arch.num_classes == 3
    assert torch.allclose(other.forward_features(x), trained.forward_features(x))
    with pytest.raises(EqnasError, match="its weights do not fit .cnn_small., which differs .* in group, stem"):
        eqnas.create_model("cnn_small", pretrained=tmp_path)


@pytest.mark.parametrize("family", family_names())
def test_features_head_and_reset_classifier_keep_invariance(family):
    rng = random.Random(len(family))
    for trial in range(2):
        arch = random_arch(rng, family, rng.choice(("C4", "D4", "C8")), hidden=rng.choice((0, 5)))
        torch.manual_seed(trial)
        model = eqnas.build(arch).eval()
        x = torch.randn(2, arch.in_channels, arch.resolution, arch.resolution)
        assert torch.equal(model(x), model.forward_head(model.forward_features(x)))
        classes = arch.num_classes + 3
        model.reset_classifier(classes)
        assert model(x).shape == (2, classes) and model.arch.num_classes == classes
        assert torch.equal(model(x), model.forward_head(model.forward_features(x)))
        for mode in (model.train(), model.eval(), eqnas.export(model)):
            errors = equivariance_errors(mode, model.arch, seed=trial)["exact"]
            assert errors and max(errors.values()) < TOLERANCE, errors


def test_reset_classifier_refuses_a_bad_count():
    with pytest.raises(EqnasError, match="num_classes 0: expected an integer >= 1"):
        eqnas.create_model("c8_small").reset_classifier(0)


def test_listing_names_imports_no_torch():
    code = ("import sys, eqnas; models, spaces = eqnas.list_models(), eqnas.list_spaces(); "
            "print('torch' in sys.modules, 'c8_small' in models, 'c8_resnet' in spaces)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]
