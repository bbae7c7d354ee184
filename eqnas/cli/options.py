"""Flags shared by several subcommands, defined once."""
from __future__ import annotations

import json
import math

import click

from eqnas.arch import Arch


def arch_option(required: bool = True):
    return click.option("--arch", "arch_path", required=required, type=click.Path(dir_okay=False),
                        help="Architecture file (JSON), or a shipped example by name (e.g. c8_small).")


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")


def load_arch(path: str) -> Arch:
    return Arch.load(path)


class FiniteFloat(click.FloatRange):
    """click's FloatRange (no bounds by default) that also refuses nan and inf."""

    name = "number"

    def convert(self, value, param, ctx):  # noqa: ANN001  (click's signature)
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def echo_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))
