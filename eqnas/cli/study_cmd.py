"""`eqnas study --config study.yaml --out DIR`."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("study")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Study file (YAML), or a shipped study by name (e.g. study_small).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Study folder; run again with the same config to resume.")
def command(config_path: str, out_dir: str) -> None:
    """Search, retrain with several seeds and report a grid of datasets x FLOP budgets x arms x
    privacy settings: results.csv, report.md (95% t intervals, paired differences, what ε covers)
    and plots. A killed study resumes without retraining finished runs."""
    from eqnas.study.config import load_study
    from eqnas.study.runner import run_study

    run_study(load_study(config_path), Path(out_dir), echo=lambda line: click.echo(line))
    click.echo(f"table: eqnas report {out_dir}")
