"""`eqnas check --arch A.json [--json]`."""
from __future__ import annotations

import click

from eqnas.build import build
from eqnas.check import equivariance_errors
from eqnas.cli.options import arch_option, echo_json, json_option, load_arch
from eqnas.nn import export

TOLERANCE = 1e-4


@click.command("check")
@arch_option()
@json_option
@click.option("--size", type=click.IntRange(min=1), default=None, help="Input size (rounded up to an exact one).")
@click.option("--seed", default=0, show_default=True, help="Seed for the weights and the random inputs.")
def command(arch_path: str, as_json: bool, size: int | None, seed: int) -> None:
    """Equivariance error of the logits under every exact grid transformation of the final group
    (train mode, eval mode and the exported model); off-grid rotations reported for N = 8, 16."""
    import torch

    arch = load_arch(arch_path)
    torch.manual_seed(seed)
    model = build(arch)
    results = {}
    # one mode at a time: train() and eval() switch the same module, so a tuple of both would
    # check eval mode twice
    results["train"] = equivariance_errors(model.train(), arch, size, seed=seed)
    results["eval"] = equivariance_errors(model.eval(), arch, size, seed=seed)
    results["export"] = equivariance_errors(export(model), arch, size, seed=seed)
    exact = {name: max(results[m]["exact"][name] for m in results) for name in results["eval"]["exact"]}
    ok = all(error <= TOLERANCE for error in exact.values())
    summary = {
        "arch": arch_path, "group": str(arch.final_group), "size": results["eval"]["size"],
        "max_error": exact, "approximate_error": results["eval"]["approximate"],
        "tolerance": TOLERANCE, "equivariant": ok, "modes": results,
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(f"{arch_path}: final group {arch.final_group}, input {summary['size']}x{summary['size']}")
    if not exact:
        click.echo("  the trivial group has no transformations to check")
    for name, error in exact.items():
        click.echo(f"  {name:<14} max relative error {error:.2e}  (train/eval/export)")
    for name, error in summary["approximate_error"].items():
        click.echo(f"  {name:<14} {error:.2e}  (disc-masked, interpolated: reported, not asserted)")
    click.echo("equivariant" if ok else f"NOT equivariant within {TOLERANCE:g}")
