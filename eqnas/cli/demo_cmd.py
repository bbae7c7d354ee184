"""`eqnas demo [--quick] [--out DIR]`."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--out", "out_dir", default="runs/demo", show_default=True, type=click.Path(file_okay=False),
              help="Run folder; a rerun resumes the search.")
@click.option("--trials", default=None, type=click.IntRange(min=1), help="Search trials.  [default: 6, --quick: 2]")
@click.option("--quick", is_flag=True, help="Small settings on synthetic shapes (no data files): two examples, two tiny trials, "
                   "a short retraining.")
def command(out_dir: str, trials: int | None, quick: bool) -> None:
    """Profile and check the shipped examples, search the shipped c8_resnet space on rotated
    Fashion-MNIST (--quick: on synthetic shapes), print the trial table and retrain the winner."""
    from eqnas.cli import cli
    from eqnas.demo import echo_and_run, full_settings, quick_settings, run_demo

    settings = quick_settings(trials or 2) if quick else full_settings(trials or 6)
    run_demo(Path(out_dir), settings, echo_and_run(cli.main))
