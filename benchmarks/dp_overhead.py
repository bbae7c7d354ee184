"""Cost of differential privacy for equivariant ResNets: one training step without DP against
one DP-SGD step in each mode, at the same batch size, measured side by side with interleaved
repeats so machine noise hits all alike:
- hooks: Opacus GradSampleModule with eqnas's grad samplers (every layer's per-sample
  gradients), per-sample clipping and Gaussian noise through Opacus's DPOptimizer;
- ghost: Opacus's fast gradient clipping with eqnas's norm rules (per-sample gradient norms
  layer by layer, then a second backward pass weighted by the clipping factors) and its
  DPOptimizerFastGradientClipping.
Models: a C8 ResNet (stem 8 fields, stages 8/16/32, group norm) and
examples/hoelzl2023_resnet9_d4.json (Hölzl et al.'s D4 ResNet-9), each at its own batch size.

Goal (issue 14): a DP step at most 1.5x the time and 1.3x the peak memory of a non-DP step.

Memory is the peak of bytes held by tensors during one step, above what was held when the step
began (parameters, optimizer state and the input batch excluded): on CUDA from
torch.cuda.max_memory_allocated, on CPU from the allocation totals the PyTorch profiler records.
It counts activations saved for backward, gradients, per-sample gradients and transient
workspace alike.

Per layer, it also times eqnas's grad sampler against the naive route (Opacus's nn.Conv2d rule on
the expanded filter, then one contraction of the whole batch's filter gradients with the basis).

    python benchmarks/dp_overhead.py [--device cpu|cuda] [--batch 256] [--hoelzl-batch 256] [--size 29] [--repeats 5]
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
from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from torch import nn
from torch.profiler import ProfilerActivity, profile

from eqnas import Arch, Stage, Stem, build
from eqnas.nn import EquivariantConv2d
from eqnas.train.grad_samplers import ghost_module, grad_sample_module
from eqnas.train.grad_samplers.equivariant_conv import compute_equivariant_conv_grad_sample, contraction_order

Step = Callable[[torch.Tensor, torch.Tensor], None]
ROOT = Path(__file__).resolve().parents[1]
MODES = ("non-DP", "DP hooks", "DP ghost")


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


def ghost_step(model: torch.nn.Module, optimizer: DPOptimizerFastGradientClipping) -> Step:
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        losses = F.cross_entropy(model(x), y, reduction="none")
        DPTensorFastGradientClipping(model, optimizer, losses, "mean").backward()  # two backward passes
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def make_steps(arch: Arch, batch: int, args: argparse.Namespace) -> dict[str, Step]:
    torch.manual_seed(0)
    model = build(arch).to(args.device).train()
    hooks = grad_sample_module(copy.deepcopy(model), loss_reduction="mean")
    ghost = ghost_module(copy.deepcopy(model), views=1, max_grad_norm=1.0)
    dp = dict(noise_multiplier=args.noise, max_grad_norm=1.0, expected_batch_size=batch, loss_reduction="mean")
    return {
        "non-DP": training_step(model, torch.optim.SGD(model.parameters(), lr=0.01)),
        "DP hooks": training_step(hooks, DPOptimizer(torch.optim.SGD(hooks.parameters(), lr=0.01), **dp)),
        "DP ghost": ghost_step(ghost, DPOptimizerFastGradientClipping(
            torch.optim.SGD(ghost.parameters(), lr=0.01), **dp)),
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


def compare(label: str, arch: Arch, batch: int, args: argparse.Namespace) -> None:
    """One table row per mode: median step time and peak memory, and their ratios to non-DP."""
    steps = make_steps(arch, batch, args)
    x = torch.randn(batch, arch.in_channels, arch.resolution, arch.resolution, device=args.device)
    y = torch.randint(arch.num_classes, (batch,), device=args.device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for repeat in range(args.warmup + args.repeats):
        for name in MODES if repeat % 2 else MODES[::-1]:  # interleaved, alternating order
            elapsed = timed(steps[name], x, y)
            if repeat >= args.warmup:
                times[name].append(elapsed)
    median = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    peak = {name: peak_bytes(step, x, y) / 2**20 for name, step in steps.items()}
    for name in MODES:
        time_ratio, memory_ratio = median[name] / median["non-DP"], peak[name] / peak["non-DP"]
        print(f"| {label} | {batch} | {name} | {median[name]:.0f} | {peak[name]:.0f} | {time_ratio:.2f}x | "
              f"{memory_ratio:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--group", default="C8")
    parser.add_argument("--batch", type=int, default=256, help="batch of the C8 ResNet")
    parser.add_argument("--hoelzl-batch", type=int, default=256, help="batch of the Hölzl ResNet-9; 0 skips it")
    parser.add_argument("--size", type=int, default=29)
    parser.add_argument("--depth", type=int, default=1, help="blocks per stage")
    parser.add_argument("--noise", type=float, default=1.0, help="noise multiplier (fixed)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument("--layer-repeats", type=int, default=0, help="per-layer grad-sampler table; 0 skips it")
    args = parser.parse_args()
    # The stem's input needs no gradient, so PyTorch warns that its backward hook sees only
    # output gradients, which is all a grad sampler uses.
    warnings.filterwarnings("ignore", "Full backward hook is firing")
    if args.threads:
        torch.set_num_threads(args.threads)
    arch = benchmark_arch(args)
    print(f"{args.device}, threads {torch.get_num_threads()}, {args.repeats} repeats (median), noise {args.noise}")
    print("| model | batch | step | median ms | peak MiB | time / non-DP | memory / non-DP |")
    print("|---|---|---|---|---|---|---|")
    compare(f"{arch.group} ResNet {arch.resolution}px", arch, args.batch, args)
    if args.hoelzl_batch:
        hoelzl = Arch.load(ROOT / "examples/hoelzl2023_resnet9_d4.json")
        compare(f"Hölzl ResNet-9 {hoelzl.group} {hoelzl.resolution}px", hoelzl, args.hoelzl_batch, args)
    if args.layer_repeats:
        x = torch.randn(args.batch, arch.in_channels, arch.resolution, arch.resolution, device=args.device)
        per_layer(arch, x, args.layer_repeats)


if __name__ == "__main__":
    main()
