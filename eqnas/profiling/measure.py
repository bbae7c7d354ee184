"""Parameters, activation memory and latency of a model (FLOPs live in `flops.py`)."""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from eqnas.nn import export


def trainable_parameters(model: nn.Module) -> int:
    """Trainable coefficients: what the optimiser and DP-SGD see."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable coefficients, dense weights they expand to in the exported model)."""
    return trainable_parameters(model), sum(p.numel() for p in export(model).parameters())


def activation_bytes(model: nn.Module, resolution: int, in_channels: int, batch: int = 1) -> int:
    """Bytes (fp32) of every leaf module's output for `batch` samples: roughly what training keeps for backward."""
    total = 0

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(batch, in_channels, resolution, resolution, device=_device(model)))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return total


def latency_ms(model: nn.Module, resolution: int, in_channels: int, batch: int = 1,
               device: str = "cpu", warmup: int = 3, repeats: int = 10) -> float:
    """Median forward time (ms) of the exported model after warm-up; CUDA is synchronised."""
    plain = export(model).to(device)
    sample = torch.randn(batch, in_channels, resolution, resolution, device=device)
    times = []
    with torch.no_grad():
        for index in range(warmup + repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            plain(sample)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if index >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
