"""Training-step time of the eqnas group convolution against escnn's R2Conv and a plain
nn.Conv2d of the same channel shape, measured side by side (interleaved repeats).

Goal (issue 2): eqnas within 1.10x of nn.Conv2d and no slower than escnn.

    python benchmarks/layer_speed.py [--batch 32] [--size 32] [--repeats 15] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from eqnas.groups import FieldType, parse_group
from eqnas.nn import EquivariantConv2d


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
    x = torch.randn(args.batch, field_type.channels, args.size, args.size, device=args.device)
    candidates = {
        "eqnas": (ours, list(ours.parameters())),
        "conv2d": (plain, list(plain.parameters())),
        "escnn": (escnn_forward, list(escnn_conv.parameters())),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for repeat in range(args.warmup + args.repeats):
        for name, (forward, params) in candidates.items():  # interleaved: noise hits all alike
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
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"training step (forward+backward+update), batch {args.batch}, {args.size}x{args.size}, "
          f"kernel {args.kernel}, {args.device}, median of {args.repeats}, threads {torch.get_num_threads()}")
    print("| group | fields | channels | nn.Conv2d ms | eqnas ms | escnn ms | eqnas / Conv2d | eqnas / escnn |")
    print("|---|---|---|---|---|---|---|---|")
    for group_name in ("C4", "C8", "D4"):
        for fields in (int(w) for w in args.widths.split(",")):
            t = measure(group_name, fields, args)
            channels = fields * parse_group(group_name).order
            print(f"| {group_name} | {fields} | {channels} | {t['conv2d']:.2f} | {t['eqnas']:.2f} | {t['escnn']:.2f} "
                  f"| {t['eqnas'] / t['conv2d']:.2f}x | {t['eqnas'] / t['escnn']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
