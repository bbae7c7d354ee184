"""The `eqnas` command: a thin click layer. Each subcommand lives in its own module and turns
flags into a config and calls one function. User errors print one line and exit 2."""
from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from eqnas import __version__
from eqnas.errors import EqnasError

# subcommand name -> module defining a click command called `command`
SUBCOMMANDS = {
    "profile": "eqnas.cli.profile_cmd",
    "check": "eqnas.cli.check_cmd",
    "retrain": "eqnas.cli.retrain_cmd",
    "search": "eqnas.cli.search_cmd",
    "report": "eqnas.cli.report_cmd",
    "export": "eqnas.cli.export_cmd",
    "scale": "eqnas.cli.scale_cmd",
    "laws": "eqnas.cli.laws_cmd",
    "study": "eqnas.cli.study_cmd",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs, so `eqnas --help` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in SUBCOMMANDS if importlib.util.find_spec(SUBCOMMANDS[name]) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS or importlib.util.find_spec(SUBCOMMANDS[name]) is None:
            return None
        return importlib.import_module(SUBCOMMANDS[name]).command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eqnas")
def cli() -> None:
    """Search and scale equivariant CNNs (trivial = plain CNN, C_N, D_N), with optional DP-SGD."""


def fail(message: str) -> None:
    """One line on stderr, exit status 2."""
    click.echo(f"eqnas: error: {message}", err=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="eqnas", standalone_mode=False)
    except EqnasError as error:
        fail(str(error))
    except click.exceptions.Abort:
        click.echo("eqnas: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        fail(error.format_message().replace("\n", " "))
    except KeyboardInterrupt:
        click.echo("eqnas: interrupted; finished results are kept", err=True)
        sys.exit(130)

