"""Training-step time of the eqnas group convolution against escnn's R2Conv and a plain
nn.Conv2d of the same channel shape, measured side by side (interleaved repeats); then the
depthwise group convolution (MBConv's spatial layer) against its fair twin.

Goal (issue 2): eqnas within 1.10x of nn.Conv2d and no slower than escnn.
Goal (issue 13): the depthwise group convolution within 1.10x of nn.Conv2d(groups=fields) of
the same shape, the fair twin: it is the layer `export()` writes, the same function with the
same multiply-adds (|G| k^2 per output channel and position), so the ratio is the cost of
expanding the filter from coefficients and of the coefficient gradient. The plain depthwise
nn.Conv2d(groups=channels) is shown too: |G| times fewer multiply-adds, what a plain
EfficientNet of equal channels runs, not the same function.

    python benchmarks/layer_speed.py [--batch 32] [--size 32] [--repeats 15] [--device cpu] [--only depthwise]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from eqnas.groups import FieldType, parse_group
from eqnas.nn import EquivariantConv2d
from eqnas.nn.depthwise import DepthwiseGroupConv2d


def escnn_layer(group_name: str, fields: int, kernel: int):
    from escnn import gspaces, nn as enn

    group = parse_group(group_name)
    gspace = gspaces.rot2dOnR2(group.rotations) if group.kind == "C" else gspaces.flipRot2dOnR2(group.rotations)
    field_type = enn.FieldType(gspace, [gspace.regular_repr] * fields)
    conv = enn.R2Conv(field_type, field_type, kernel, padding=kernel // 2, bias=False)
    return conv, lambda x: conv(enn.GeometricTensor(x, field_type)).tensor


def step_time(forward, params, x) -> float:
    """One training step: forward, backward, SGD update."""
    start = time.perf_counter()
    out = forward(x)
    out.square().mean().backward()
    with torch.no_grad():
        for p in params:
            p -= 1e-3 * p.grad
            p.grad = None
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(group_name: str, fields: int, args) -> dict[str, float]:
    group = parse_group(group_name)
    field_type = FieldType(group, fields)
    ours = EquivariantConv2d(field_type, field_type, args.kernel).to(args.device)
    plain = nn.Conv2d(field_type.channels, field_type.channels, args.kernel, padding=args.kernel // 2, bias=False).to(args.device)
    escnn_conv, escnn_forward = escnn_layer(group_name, fields, args.kernel)
    escnn_conv.to(args.device)
    return interleaved({
        "eqnas": (ours, list(ours.parameters())),
        "conv2d": (plain, list(plain.parameters())),
        "escnn": (escnn_forward, list(escnn_conv.parameters())),
    }, field_type.channels, args)


def measure_depthwise(group_name: str, fields: int, args) -> dict[str, float]:
    field_type = FieldType(parse_group(group_name), fields)
    ours = DepthwiseGroupConv2d(field_type, args.kernel).to(args.device)
    channels, padding = field_type.channels, args.kernel // 2
    twin = nn.Conv2d(channels, channels, args.kernel, padding=padding, groups=fields, bias=False).to(args.device)
    depthwise = nn.Conv2d(channels, channels, args.kernel, padding=padding, groups=channels, bias=False).to(args.device)
    return interleaved({name: (layer, list(layer.parameters())) for name, layer in
                        (("eqnas", ours), ("twin", twin), ("depthwise", depthwise))}, channels, args)


def interleaved(candidates: dict, channels: int, args) -> dict[str, float]:
    """Median step time (ms) of each candidate, repeats interleaved: noise hits all alike."""
    x = torch.randn(args.batch, channels, args.size, args.size, device=args.device)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for repeat in range(args.warmup + args.repeats):
        for name, (forward, params) in candidates.items():
            elapsed = step_time(forward, params, x)
            if repeat >= args.warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", default="4,8", help="widths in fields")
    parser.add_argument("--depthwise-scale", type=int, default=6,
                        help="depthwise widths are --widths x this (an MBConv's expanded fields, expand ratio 6)")
    parser.add_argument("--only", choices=("all", "conv", "depthwise"), default="all")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"training step (forward+backward+update), batch {args.batch}, {args.size}x{args.size}, "
          f"kernel {args.kernel}, {args.device}, median of {args.repeats}, threads {torch.get_num_threads()}")
    if args.only in ("all", "conv"):
        print("| group | fields | channels | nn.Conv2d ms | eqnas ms | escnn ms | eqnas / Conv2d | eqnas / escnn |")
        print("|---|---|---|---|---|---|---|---|")
        for group_name, fields in table(args):
            t = measure(group_name, fields, args)
            channels = fields * parse_group(group_name).order
            print(f"| {group_name} | {fields} | {channels} | {t['conv2d']:.2f} | {t['eqnas']:.2f} | {t['escnn']:.2f} "
                  f"| {t['eqnas'] / t['conv2d']:.2f}x | {t['eqnas'] / t['escnn']:.2f}x |", flush=True)
    if args.only in ("all", "depthwise"):
        print("\ndepthwise: eqnas DepthwiseGroupConv2d, its twin nn.Conv2d(groups=fields), plain nn.Conv2d(groups=channels)")
        print("| group | fields | channels | twin ms | eqnas ms | plain depthwise ms | eqnas / twin | eqnas / plain depthwise |")
        print("|---|---|---|---|---|---|---|---|")
        for group_name, fields in table(args, scale=args.depthwise_scale):
            t = measure_depthwise(group_name, fields, args)
            channels = fields * parse_group(group_name).order
            print(f"| {group_name} | {fields} | {channels} | {t['twin']:.2f} | {t['eqnas']:.2f} | {t['depthwise']:.2f} "
                  f"| {t['eqnas'] / t['twin']:.2f}x | {t['eqnas'] / t['depthwise']:.2f}x |", flush=True)


def table(args, scale: int = 1) -> list[tuple[str, int]]:
    return [(group_name, int(w) * scale) for group_name in ("C4", "C8", "D4") for w in args.widths.split(",")]


if __name__ == "__main__":
    main()
