"""Deployment files: the exported plain model as TorchScript or ONNX."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.nn import export

FORMATS = ("torchscript", "onnx")


def write_deployment(model: nn.Module, arch: Arch, fmt: str, out: Path) -> Path:
    """Writes the exported (plain PyTorch) model; inputs are [batch, channels, size, size]."""
    if fmt not in FORMATS:
        raise EqnasError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    plain = export(model).cpu().eval()
    example = torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchscript":
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(plain, example), str(out))
    else:
        torch.onnx.export(
            plain, (example,), str(out), input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
        )
    return out
