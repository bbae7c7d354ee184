"""`eqnas report DIR`."""
from __future__ import annotations

from pathlib import Path

import click

from eqnas.search.report import load_records, report_table


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the best N trials.")
def command(run_dir: str, top: int | None) -> None:
    """Print the trial table of a search run folder, or the tables of a study folder."""
    from eqnas.study.records import RUNS

    if (Path(run_dir) / RUNS).exists():
        from eqnas.study.report import load_report

        click.echo(load_report(Path(run_dir)))
        return
    click.echo(report_table(load_records(Path(run_dir)), top))
