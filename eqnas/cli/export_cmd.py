"""`eqnas export --arch best.json --format torchscript|onnx --out F`."""
from __future__ import annotations

from pathlib import Path

import click

from eqnas.build import load
from eqnas.deploy import FORMATS, write_deployment


@click.command("export")
@click.option("--arch", "arch_path", required=True, type=click.Path(),
              help="Architecture file or shipped example name (untrained weights), or an `eqnas retrain` output "
                   "folder (trained weights).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="torchscript", show_default=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="File to write.")
def command(arch_path: str, fmt: str, out_path: str) -> None:
    """Write the exported plain model (nn.Conv2d / norms / nn.Linear) for deployment."""
    model = load(arch_path)
    path = write_deployment(model, model.arch, fmt, Path(out_path))
    click.echo(f"wrote {fmt} model to {path} (input: batch x {model.arch.in_channels} x "
               f"{model.arch.resolution} x {model.arch.resolution})")
