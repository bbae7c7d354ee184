"""`eqnas profile --arch A.json [--json]`."""
from __future__ import annotations

import click

from eqnas.cli.options import arch_option, echo_json, json_option, load_arch
from eqnas.profiling import format_flops, profile


@click.command("profile")
@arch_option()
@json_option
@click.option("--device", default="cpu", show_default=True, help="Device for the latency measurement (cpu, cuda).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Batch size for latency.")
def command(arch_path: str, as_json: bool, device: str, batch: int) -> None:
    """FLOPs (fvcore: one multiply-add = one FLOP), parameters, activation memory and latency."""
    result = profile(load_arch(arch_path), device=device, batch=batch)
    if as_json:
        echo_json({"arch": arch_path, **result.to_dict()})
        return
    click.echo(f"architecture       {arch_path}")
    click.echo(f"FLOPs              {format_flops(result.flops)} ({result.flops:,})  [{result.convention}]")
    click.echo(f"parameters         {result.params:,} trainable coefficients -> {result.dense_params:,} dense weights")
    click.echo(f"activations        {result.activation_bytes / 2**20:.2f} MiB per sample (fp32 outputs of every layer)")
    click.echo(f"latency            {result.latency_ms:.2f} ms (median, batch {batch}, {device}, exported model)")
