"""The `eqnas` command: a thin click layer. Each subcommand lives in its own module and turns
flags into a config and calls one function. User errors print one line and exit 2."""
from __future__ import annotations

import importlib
import sys

import click

from eqnas import __version__
from eqnas.errors import EqnasError

# subcommand name -> (module defining a click command called `command`, one line for `eqnas --help`)
SUBCOMMANDS = {
    "profile": ("eqnas.cli.profile_cmd", "FLOPs, parameters, activation memory and latency."),
    "check": ("eqnas.cli.check_cmd", "Equivariance error under the group's grid transformations."),
    "retrain": ("eqnas.cli.retrain_cmd", "Train an architecture on a dataset, optionally with DP-SGD."),
    "search": ("eqnas.cli.search_cmd", "The best architecture of a space within a FLOP budget."),
    "report": ("eqnas.cli.report_cmd", "Print the trial table of a search run folder."),
    "export": ("eqnas.cli.export_cmd", "Write the exported plain model as TorchScript or ONNX."),
    "scale": ("eqnas.cli.scale_cmd", "EfficientNet compound scaling of an architecture."),
    "laws": ("eqnas.cli.laws_cmd", "Fit Chinchilla-style scaling laws L(N, D) per family."),
    "study": ("eqnas.cli.study_cmd", "Arms x budgets x seeds (x epsilons): search, retrain, compare with intervals."),
    "demo": ("eqnas.cli.demo_cmd", "The main job end to end on the shipped examples (--quick: about a minute)."),
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it runs; `eqnas --help` lists the one-line
    summaries above, so it imports none of them (and no torch)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        return importlib.import_module(SUBCOMMANDS[name][0]).command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in SUBCOMMANDS.items()])


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

