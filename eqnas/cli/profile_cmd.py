"""`eqnas profile --arch A.json [--json]`."""
from __future__ import annotations

import click

from eqnas.cli.options import arch_option, echo_json, json_option, load_arch
from eqnas.profiling import format_flops, parse_budget, profile


@click.command("profile")
@arch_option()
@json_option
@click.option("--device", default="cpu", show_default=True, help="Device for the latency measurement (cpu, cuda).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Batch size for latency.")
@click.option("--budget", default=None, help="FLOP budget to compare with (2G, 500M, 1.5e9).")
def command(arch_path: str, as_json: bool, device: str, batch: int, budget: str | None) -> None:
    """FLOPs (fvcore: one multiply-add = one FLOP), parameters, activation memory and latency."""
    limit = parse_budget(budget) if budget is not None else None
    result = profile(load_arch(arch_path), device=device, batch=batch)
    within = None if limit is None else result.flops <= limit
    if as_json:
        echo_json({"arch": arch_path, **result.to_dict(), "budget": limit, "within_budget": within})
        return
    click.echo(f"architecture       {arch_path}")
    click.echo(f"FLOPs              {format_flops(result.flops)} ({result.flops:,})  [{result.convention}]")
    click.echo(f"parameters         {result.params:,} trainable coefficients -> {result.dense_params:,} dense weights")
    click.echo(f"activations        {result.activation_bytes / 2**20:.2f} MiB per sample (fp32 outputs of every layer)")
    click.echo(f"latency            {result.latency_ms:.2f} ms (median, batch {batch}, {device}, exported model)")
    if limit is not None:
        verdict = "within" if within else "OVER"
        click.echo(f"budget             {format_flops(limit)}: {verdict} ({100 * result.flops / limit:.1f}%)")
