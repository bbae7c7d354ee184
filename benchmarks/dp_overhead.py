"""Cost of differential privacy for an equivariant ResNet: one training step without DP against
one DP-SGD step (Opacus GradSampleModule with eqnas's grad samplers, per-sample clipping and
Gaussian noise through Opacus's DPOptimizer) at the same batch size, measured side by side with
interleaved repeats so machine noise hits both alike.

Goal: a DP step at most 2.0x the time of a non-DP step.

Memory is the peak of bytes held by tensors during one step, above what was held when the step
began (parameters, optimizer state and the input batch excluded): on CUDA from
torch.cuda.max_memory_allocated, on CPU from the allocation totals the PyTorch profiler records.
It counts activations saved for backward, gradients, per-sample gradients and transient
workspace alike.

Per layer, it also times eqnas's grad sampler against the naive route (Opacus's nn.Conv2d rule on
the expanded filter, then one contraction of the whole batch's filter gradients with the basis).

    python benchmarks/dp_overhead.py [--device cpu|cuda] [--batch 64] [--size 29] [--repeats 7]
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from opacus.grad_sample.conv import compute_conv_grad_sample
from opacus.optimizers import DPOptimizer
from torch import nn
from torch.profiler import ProfilerActivity, profile

from eqnas import Arch, Stage, Stem, build
from eqnas.nn import EquivariantConv2d
from eqnas.train.grad_samplers import grad_sample_module
from eqnas.train.grad_samplers.equivariant_conv import compute_equivariant_conv_grad_sample, contraction_order

Step = Callable[[torch.Tensor, torch.Tensor], None]


def benchmark_arch(args: argparse.Namespace) -> Arch:
    """A C8 ResNet: stem of 8 fields, stages of 8/16/32 fields, DP-friendly group norm."""
    stages = tuple(Stage(depth=args.depth, width=w, stride=s) for w, s in ((8, 1), (16, 2), (32, 2)))
    arch = Arch(family="resnet", group=args.group, stem=Stem(width=8), stages=stages, resolution=args.size,
                norm="group", activation="relu")
    return arch.replace(resolution=arch.exact_resolution())


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Step:
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def make_steps(arch: Arch, args: argparse.Namespace) -> dict[str, Step]:
    torch.manual_seed(0)
    model = build(arch).to(args.device).train()
    private = grad_sample_module(copy.deepcopy(model), loss_reduction="mean")
    optimizer = DPOptimizer(
        torch.optim.SGD(private.parameters(), lr=0.01), noise_multiplier=args.noise, max_grad_norm=1.0,
        expected_batch_size=args.batch, loss_reduction="mean",
    )
    return {
        "non-DP": training_step(model, torch.optim.SGD(model.parameters(), lr=0.01)),
        "DP": training_step(private, optimizer),
    }


def timed(step: Step, x: torch.Tensor, y: torch.Tensor) -> float:
    start = time.perf_counter()
    step(x, y)
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_bytes(step: Step, x: torch.Tensor, y: torch.Tensor) -> int:
    """Peak bytes allocated by tensors during one step, above the level when it began."""
    if x.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(x, y)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(x, y)
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    totals = [e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"]
    return max(totals, default=0)


def naive_grad_sample(layer: EquivariantConv2d, x: torch.Tensor, backprops: torch.Tensor) -> torch.Tensor:
    """Opacus's nn.Conv2d rule on the expanded filter, then the basis contraction, whole batch."""
    filters = compute_conv_grad_sample(layer.to_plain(), [x], backprops)
    filters = next(iter(filters.values()))  # [B, O*Go, I*Gi, k, k]
    out_f, in_f, _ = layer.coefficients.shape
    _, out_g, in_g, k, _ = layer.basis.shape
    filters = filters.reshape(x.shape[0], out_f, out_g, in_f, in_g, k, k)
    return torch.einsum("bogiepq,kgepq->boik", filters, layer.basis)


def per_layer(arch: Arch, x: torch.Tensor, repeats: int) -> None:
    """Times, per convolution, of one forward+backward without DP, eqnas's sampler and the naive one."""
    torch.manual_seed(0)
    model = build(arch).to(x.device).train()
    convs = {name: m for name, m in model.named_modules() if isinstance(m, EquivariantConv2d)}
    captured: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        captured[module] = (inputs[0].detach(), torch.randn_like(output))  # random backprops

    hooks = [m.register_forward_hook(keep) for m in convs.values()]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    print("| layer | shape | fwd+bwd ms | eqnas sampler ms (order) | naive sampler ms |")
    print("|---|---|---|---|---|")
    for name, conv in convs.items():
        inputs, backprops = captured[conv]

        def forward_backward() -> None:
            conv(inputs).backward(backprops)

        candidates = {
            "layer": forward_backward,
            "eqnas": lambda: compute_equivariant_conv_grad_sample(conv, [inputs], backprops),
            "naive": lambda: naive_grad_sample(conv, inputs, backprops),
        }
        times = {key: [] for key in candidates}
        for _ in range(repeats):
            for key, run in candidates.items():
                start = time.perf_counter()
                run()
                if x.is_cuda:
                    torch.cuda.synchronize()
                times[key].append(time.perf_counter() - start)
        ms = {key: statistics.median(v) * 1e3 for key, v in times.items()}
        shape = f"{conv.in_type}->{conv.out_type} k{conv.kernel} s{conv.stride} {inputs.shape[-1]}px"
        order = contraction_order(conv, backprops.shape[2] * backprops.shape[3])
        print(f"| {name} | {shape} | {ms['layer']:.1f} | {ms['eqnas']:.1f} ({order}) | {ms['naive']:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--group", default="C8")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=29)
    parser.add_argument("--depth", type=int, default=1, help="blocks per stage")
    parser.add_argument("--noise", type=float, default=1.0, help="noise multiplier (fixed)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument("--layer-repeats", type=int, default=3, help="per-layer table; 0 skips it")
    args = parser.parse_args()
    # The stem's input needs no gradient, so PyTorch warns that its backward hook sees only
    # output gradients, which is all a grad sampler uses.
    warnings.filterwarnings("ignore", "Full backward hook is firing")
    if args.threads:
        torch.set_num_threads(args.threads)
    arch = benchmark_arch(args)
    steps = make_steps(arch, args)
    x = torch.randn(args.batch, arch.in_channels, arch.resolution, arch.resolution, device=args.device)
    y = torch.randint(arch.num_classes, (args.batch,), device=args.device)
    print(f"{arch.group} resnet, stem 8, stages 8/16/32 fields x depth {args.depth}, norm group, "
          f"{arch.resolution}x{arch.resolution}, batch {args.batch}, {args.device}, threads {torch.get_num_threads()}")
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for repeat in range(args.warmup + args.repeats):
        for name in names if repeat % 2 else names[::-1]:  # interleaved, alternating order
            elapsed = timed(steps[name], x, y)
            if repeat >= args.warmup:
                times[name].append(elapsed)
    median = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    peak = {name: peak_bytes(step, x, y) / 2**20 for name, step in steps.items()}
    print("| step | median ms | peak MiB |")
    print("|---|---|---|")
    for name in names:
        print(f"| {name} | {median[name]:.1f} | {peak[name]:.1f} |")
    ratio = median["DP"] / median["non-DP"]
    print(f"time ratio DP / non-DP: {ratio:.2f}x (goal <= 2.00x: {'met' if ratio <= 2.0 else 'NOT met'}); "
          f"peak-memory ratio: {peak['DP'] / peak['non-DP']:.2f}x", flush=True)
    if args.layer_repeats:
        per_layer(arch, x, args.layer_repeats)


if __name__ == "__main__":
    main()
