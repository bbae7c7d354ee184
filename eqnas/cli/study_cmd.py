"""`eqnas study --config study.yaml --out DIR`."""
from __future__ import annotations

from pathlib import Path

import click

from eqnas.train.config import DP_MODES


@click.command("study")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Study file (YAML), or a shipped study by name (e.g. study_small).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Study folder; run again with the same config to resume.")
@click.option("--dp-mode", type=click.Choice(DP_MODES), default=None,
              help="Per-sample clipping of the DP runs: hooks (per-sample gradients) or ghost (per-sample "
                   "norms, then a second backward). [default: the file's dp.dp_mode, else hooks]")
def command(config_path: str, out_dir: str, dp_mode: str | None) -> None:
    """Search, retrain with several seeds and report a grid of datasets x FLOP budgets x arms x
    privacy settings: results.csv, report.md (95% t intervals, paired differences, what ε covers)
    and plots. A killed study resumes without retraining finished runs."""
    from eqnas.study.config import load_study
    from eqnas.study.runner import run_study

    study = load_study(config_path)
    if dp_mode is not None:
        study = study.with_dp_overrides(dp_mode=dp_mode)
    run_study(study, Path(out_dir), echo=lambda line: click.echo(line))
    click.echo(f"table: eqnas report {out_dir}")
