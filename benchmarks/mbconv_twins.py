"""The equivariant twins of a plain architecture at its FLOPs: for each group, the base rebuilt
in that group with widths in fields chosen by eqnas's compound-scaling correction
(`eqnas.scaling.compound.scale_to_target` at phi = 0 on the group axis: fields = channels / |G|,
then widths corrected until the measured fvcore FLOPs are within 5% of the base's), at the
base's resolution. Writes <out-dir>/<stem>_<group>.json and prints a table.

    python benchmarks/mbconv_twins.py examples/efficientnet_b0_29.json --groups C4,C8,D4
"""
from __future__ import annotations

import argparse
from pathlib import Path

from eqnas.arch import Arch
from eqnas.profiling import arch_flops, arch_params, format_flops
from eqnas.scaling.compound import Coefficients, scale_to_target


def twin(base: Arch, group: str, base_flops: int) -> tuple[Arch, int]:
    arch, flops = scale_to_target(base, Coefficients(1.0, 1.0, 1.0, group), 0, base_flops)
    if arch.resolution != base.resolution:
        raise SystemExit(f"{group}: the FLOP match moved the resolution to {arch.resolution}")
    return arch, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("--groups", default="C4,C8,D4")
    parser.add_argument("--out-dir", type=Path, default=None, help="default: the base's folder")
    args = parser.parse_args()
    base = Arch.load(args.base)
    base_flops = arch_flops(base)
    print(f"| group | stem, stage widths (fields) | FLOPs | x base | trainable params |")
    print("|---|---|---|---|---|")
    print(f"| {base.group} | {_widths(base)} | {format_flops(base_flops)} | 1.000 | {arch_params(base):,} |", flush=True)
    for group in args.groups.split(","):
        arch, flops = twin(base, group, base_flops)
        arch = arch.replace(name=f"{base.name}, {group} twin at equal FLOPs (benchmarks/mbconv_twins.py)")
        arch.save((args.out_dir or args.base.parent) / f"{args.base.stem}_{group.lower()}.json")
        print(f"| {group} | {_widths(arch)} | {format_flops(flops)} | {flops / base_flops:.3f} | {arch_params(arch):,} |",
              flush=True)


def _widths(arch: Arch) -> str:
    return ", ".join(str(w) for w in (arch.stem.width, *(s.width for s in arch.stages)))


if __name__ == "__main__":
    main()
