"""Fit scaling laws to points already recorded by `eqnas laws` (points.jsonl folders), without
training: one law per group, then fit.json, plots and report.md exactly as `eqnas laws` writes
them. For sweeps recorded by an earlier version whose flags a rerun no longer resumes.

    python benchmarks/fit_law_points.py runs/laws_rot/laws_resnet-trivial runs/laws_rot/laws_resnet-C8 \
        --name laws_resnet --holdout-largest 2 --out runs/laws_rot
"""
from __future__ import annotations

import argparse
from pathlib import Path

from eqnas.scaling.law_analysis import fit_groups
from eqnas.scaling.law_fit import FitConfig
from eqnas.scaling.law_report import write_fits
from eqnas.scaling.law_sweep import PointLog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="sweep folders holding points.jsonl")
    parser.add_argument("--name", required=True, help="the family's name (its folder under --out)")
    parser.add_argument("--holdout-largest", type=int, default=0, help="runs of largest compute left out per group")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    records = [r for folder in args.folders for r in PointLog(folder / "points.jsonl").read()]
    write_fits(fit_groups(args.name, records, FitConfig(), args.holdout_largest), args.out)


if __name__ == "__main__":
    main()
