"""Flags shared by several subcommands, defined once."""
from __future__ import annotations

import json

import click

from eqnas.arch import Arch


def arch_option(required: bool = True):
    return click.option("--arch", "arch_path", required=required, type=click.Path(dir_okay=False),
                        help="Architecture file (JSON) to use.")


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")


def load_arch(path: str) -> Arch:
    return Arch.load(path)


def echo_json(data: dict) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))
