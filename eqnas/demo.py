"""`eqnas demo` (and `make demo`): the main job on the default (offline) data, end to end.

1. profile and check every shipped example architecture;
2. search the shipped space c8_resnet under 100 MFLOPs (6 trials at rung 0, 1 epoch on 6000
   images of rotated Fashion-MNIST, then the default rungs 2x9000 and 3x18000 for the promoted ones);
3. print the trial table and retrain the winner for one epoch on the full training split.

`--quick` runs the same steps at small settings on the built-in synthetic shapes (no data files):
two examples, two trials of one epoch on 200 images under 50 MFLOPs, and the winner retrained
for one epoch on 500 images. Everything is addressed by shipped name, so the demo runs from
any working directory.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from eqnas.catalog import ARCHS


@dataclass(frozen=True)
class DemoSettings:
    examples: tuple[str, ...]  # shipped example names to profile and check
    data: str
    flops: str
    search: tuple[str, ...]  # fidelity flags of the search
    retrain: tuple[str, ...]  # extra flags of the winner's retraining


def full_settings(trials: int) -> DemoSettings:
    return DemoSettings(ARCHS.names(), "fashion-mnist-rot", "100M", ("--trials", str(trials), "--epochs", "1", "--subset", "6000"), ())


def quick_settings(trials: int) -> DemoSettings:
    return DemoSettings(("c8_small", "cnn_small"), "synthetic", "50M", ("--trials", str(trials), "--rungs", "1x200"),
                        ("--subset", "500"))


def run_demo(out: Path, settings: DemoSettings, run: Callable[[list[str]], None]) -> None:
    """The demo's commands in order, each handed to `run` (the CLI's `eqnas ARGS`)."""
    for example in settings.examples:
        run(["profile", "--arch", example])
        run(["check", "--arch", example])
    search_dir = out / "search"
    resume = ["--resume"] if (search_dir / "trials.jsonl").exists() else []
    run(["search", "--space", "c8_resnet", "--flops", settings.flops, *settings.search,
         "--data", settings.data, "--out", str(search_dir), *resume])
    run(["report", str(search_dir)])
    run(["retrain", "--arch", str(search_dir / "best.json"), "--data", settings.data, "--epochs", "1",
         *settings.retrain, "--out", str(out / "retrain")])
    print(f"\nimport the winner: eqnas.load({str(search_dir / 'best.json')!r})  "
          f"(trained weights: eqnas.load({str(out / 'retrain')!r}))")


def echo_and_run(main: Callable[..., None]) -> Callable[[list[str]], None]:
    def run(args: list[str]) -> None:
        print(f"\n$ eqnas {shlex.join(args)}", flush=True)
        main(args=args, prog_name="eqnas", standalone_mode=False)

    return run
