"""`eqnas laws --space S [--space S2 ...] --sizes 3 --data-fractions 3 --out DIR`."""
from __future__ import annotations

from pathlib import Path

import click

from eqnas.cli.options import FiniteFloat


@click.command("laws")
@click.option("--space", "space_paths", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Space file (spaces/*.yaml); repeat to compare families on the same data and recipe.")
@click.option("--sizes", "sizes_text", default="3", show_default=True,
              help="A count of log-spaced model sizes, or target parameter counts like 2e4,1e5,5e5.")
@click.option("--data-fractions", "fractions_text", default="3", show_default=True,
              help="A count K (fractions 1/3^(K-1) .. 1/9, 1/3, 1), or fractions in (0, 1] like 0.1,0.3,1.")
@click.option("--data", default=None, help="Dataset (overrides the spaces' proxy).")
@click.option("--data-root", default=None, type=click.Path(file_okay=False), help="Folder with the dataset files.")
@click.option("--epochs", default=None, type=click.IntRange(min=1), help="Epochs per point (default: the proxy's).")
@click.option("--max-train", default=None, type=click.IntRange(min=1),
              help="Training images at fraction 1 (default: the proxy's subset, else the whole split).")
@click.option("--dp", is_flag=True, help="Train every point with DP-SGD.")
@click.option("--epsilon", default=None, type=FiniteFloat(min=0, min_open=True),
              help="DP-SGD target epsilon (with --dp; default 8).")
@click.option("--budget", "budgets", multiple=True,
              help="Extra training-FLOP budget for the compute-optimal table, e.g. 1e13 or 5T (repeatable).")
# --holdout-largest: added on branch laws-fit (the extrapolation check); the rest of this file is laws-sweep's.
@click.option("--holdout-largest", default=0, show_default=True, type=click.IntRange(min=0),
              help="Fit each law without its K finished runs of largest training compute and report their "
                   "prediction error (RMSE of log loss).")
@click.option("--seed", default=None, type=click.IntRange(min=0), help="Seed (default: the proxy's).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder; reruns resume.")
def command(space_paths: tuple[str, ...], sizes_text: str, fractions_text: str, data: str | None,
            data_root: str | None, epochs: int | None, max_train: int | None, dp: bool, epsilon: float | None,
            budgets: tuple[str, ...], holdout_largest: int, seed: int | None, device: str, out_dir: str) -> None:
    """Chinchilla-style scaling laws L(N, D) = E + A/N^alpha + B/D^beta per family: trains a
    sizes x data-fractions grid with the space's proxy recipe, fits the law, and writes fit.json,
    plots and report.md. N = trainable parameters, D = samples seen (epochs x subset), L = best
    validation cross-entropy; training FLOPs = 3 x fvcore forward FLOPs x D."""
    from eqnas.errors import EqnasError
    from eqnas.profiling import parse_budget
    from eqnas.scaling.law_report import run_laws
    from eqnas.scaling.law_sizes import parse_fractions, parse_sizes
    from eqnas.scaling.law_sweep import SweepConfig
    from eqnas.search.space import load_space, replace_proxy

    if epsilon is not None and not dp:
        raise EqnasError(f"--epsilon {epsilon:g} applies only to DP-SGD: add --dp, or drop --epsilon")
    config = SweepConfig(sizes=parse_sizes(sizes_text), fractions=parse_fractions(fractions_text),
                         max_train=max_train, dp=dp, epsilon=8.0 if epsilon is None else epsilon, device=device)
    extra = tuple(float(parse_budget(b)) for b in budgets)
    spaces = [replace_proxy(load_space(p), data=data, data_root=data_root, epochs=epochs, seed=seed)
              for p in space_paths]
    run_laws(spaces, config, Path(out_dir), extra, echo=click.echo, holdout_largest=holdout_largest)
