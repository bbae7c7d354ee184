"""`eqnas export`: the TorchScript and ONNX files compute what the model computes."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from eqnas import build
from eqnas.deploy import write_deployment
from eqnas.errors import EqnasError
from tests.conftest import random_arch


@pytest.fixture
def model_and_input():
    arch = random_arch(random.Random(5), "resnet", "D4", stage_groups=(None, "D2"))
    model = build(arch).eval()
    x = torch.randn(3, arch.in_channels, arch.resolution, arch.resolution)
    return model, arch, x


def test_torchscript_matches(tmp_path, model_and_input):
    model, arch, x = model_and_input
    path = write_deployment(model, arch, "torchscript", tmp_path / "m.pt")
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)


def test_onnx_matches_with_a_dynamic_batch(tmp_path, model_and_input):
    from onnx import load
    from onnx.reference import ReferenceEvaluator

    model, arch, x = model_and_input
    path = write_deployment(model, arch, "onnx", tmp_path / "m.onnx")
    (logits,) = ReferenceEvaluator(load(str(path))).run(None, {"image": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), atol=1e-4)


def test_unknown_format(tmp_path, model_and_input):
    model, arch, _ = model_and_input
    with pytest.raises(EqnasError, match="unknown export format 'tflite'"):
        write_deployment(model, arch, "tflite", tmp_path / "m")
