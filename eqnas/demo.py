"""`make demo`: the main job on the default (offline) data, end to end.

1. profile and check every shipped example architecture;
2. search spaces/c8_resnet.yaml under 100 MFLOPs (6 trials at rung 0, 1 epoch on 2000 images of
   rotated Fashion-MNIST, then the default rungs 2x6000 and 3x18000 for the promoted ones);
3. print the trial table and retrain the winner for one epoch on the full training split.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from eqnas.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str]) -> None:
    print(f"\n$ eqnas {shlex.join(args)}", flush=True)
    cli.main(args=args, prog_name="eqnas", standalone_mode=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--trials", default="6")
    args = parser.parse_args()
    out = Path(args.out)
    for example in sorted((ROOT / "examples").glob("*.json")):
        run(["profile", "--arch", str(example)])
        run(["check", "--arch", str(example)])
    search_dir = out / "search"
    resume = ["--resume"] if (search_dir / "trials.jsonl").exists() else []
    run(["search", "--space", str(ROOT / "spaces/c8_resnet.yaml"), "--flops", "100M", "--trials", args.trials,
         "--data", "fashion-mnist-rot", "--epochs", "1", "--subset", "2000", "--out", str(search_dir), *resume])
    run(["report", str(search_dir)])
    run(["retrain", "--arch", str(search_dir / "best.json"), "--data", "fashion-mnist-rot", "--epochs", "1",
         "--out", str(out / "retrain")])
    print(f"\nimport the winner: eqnas.load({str(search_dir / 'best.json')!r})  "
          f"(trained weights: eqnas.load({str(out / 'retrain')!r}))")


if __name__ == "__main__":
    main()
