"""`eqnas scale --arch base.json --flops B --phi 1..K [--groups C4,C8,C16] --out DIR`."""
from __future__ import annotations

from pathlib import Path

import click

from eqnas.cli.options import FiniteFloat, arch_option, load_arch


@click.command("scale")
@arch_option()
@click.option("--flops", default=None, help="Bound on each phi=1 grid point's FLOPs (default 2.2 x base).")
@click.option("--phi", "phi_text", default="1..3", show_default=True, help="Scaling steps: 1..K or a list.")
@click.option("--groups", default=None, help="Group axis at matched FLOPs, e.g. C4,C8,C16.")
@click.option("--grid-step", default=0.1, show_default=True, type=FiniteFloat(min=0.01, max=1.0))
@click.option("--data", default="fashion-mnist-rot", show_default=True, help="Proxy dataset.")
@click.option("--data-root", default=None, type=click.Path(file_okay=False))
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(min=1), help="Proxy epochs.")
@click.option("--subset", default=2000, show_default=True, type=click.IntRange(min=1), help="Proxy training images.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--device", default="auto", show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def command(arch_path: str, flops: str | None, phi_text: str, groups: str | None, grid_step: float, data: str,
            data_root: str | None, epochs: int, subset: int, seed: int, device: str, out_dir: str) -> None:
    """EfficientNet compound scaling: grid over depth, width, resolution (and group) at phi = 1,
    then one architecture file per phi (phi<k>.json) at 2^phi x the base's FLOPs (within 10%)."""
    from eqnas.data.registry import dataset_info
    from eqnas.groups import parse_group
    from eqnas.profiling import parse_budget
    from eqnas.scaling.compound_search import ScaleConfig, parse_phis, run_compound
    from eqnas.search.proxy import proxy_trainer
    from eqnas.search.space import Proxy

    group_names = tuple(parse_group(g).name for g in groups.split(",")) if groups else ()
    config = ScaleConfig(phis=parse_phis(phi_text), flops_max=parse_budget(flops) if flops else None,
                         groups=group_names, grid_step=grid_step)
    proxy = Proxy(data=data, data_root=data_root, epochs=epochs, subset=subset, seed=seed)
    info = dataset_info(data, data_root)  # FLOP targets measure the network that trains on this data
    base = load_arch(arch_path).replace(in_channels=info.channels, num_classes=info.num_classes)
    run_compound(base, config, proxy_trainer(proxy, device), Path(out_dir), echo=click.echo)
