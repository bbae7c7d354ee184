"""`eqnas laws --space S [--space S2 ...] [--groups trivial,C4,C8] --sizes 3 --data-fractions 3 --out DIR`."""
from __future__ import annotations

from pathlib import Path

import click

from eqnas.cli.options import FiniteFloat
from eqnas.scaling.law_recipe import PointRecipe


@click.command("laws")
@click.option("--space", "space_paths", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Space file (YAML) or shipped space name; repeat to compare families on the same data and recipe.")
@click.option("--groups", "groups_text", default=None,
              help="Rebuild each space for these groups at matched FLOPs (same channels), e.g. trivial,C4,C8; "
                   "each group is its own law.")
@click.option("--sizes", "sizes_text", default="3", show_default=True,
              help="A count of log-spaced model sizes, or target parameter counts like 2e4,1e5,5e5.")
@click.option("--data-fractions", "fractions_text", default="3", show_default=True,
              help="A count K (fractions 1/3^(K-1) .. 1/9, 1/3, 1), or fractions in (0, 1] like 0.1,0.3,1.")
@click.option("--data", default=None, help="Dataset (overrides the spaces' proxy).")
@click.option("--data-root", default=None, type=click.Path(file_okay=False), help="Folder with the dataset files.")
@click.option("--epochs", default=None, type=click.IntRange(min=1),
              help="Epochs of every point (default: the data rule, see --min-samples).")
@click.option("--min-samples", default=None, type=click.IntRange(min=1),
              help=f"Epochs per point = ceil(this / subset), within {PointRecipe.min_epochs} and --max-epochs "
                   f"(default {PointRecipe.min_samples}).")
@click.option("--max-epochs", default=None, type=click.IntRange(min=PointRecipe.min_epochs),
              help=f"Most epochs of a point under the data rule (default {PointRecipe.max_epochs}).")
@click.option("--patience", default=PointRecipe.patience, show_default=True, type=click.IntRange(min=0),
              help="Stop a point after this many epochs without a lower validation loss (0: never).")
@click.option("--lr", default=None, type=click.FloatRange(min=0, min_open=True),
              help=f"Peak learning rate at {PointRecipe.ref_flops / 1e6:g}M FLOPs (default: the proxy's); a "
                   f"model of F FLOPs gets lr x ({PointRecipe.ref_flops / 1e6:g}M / F)^{PointRecipe.lr_power:g}.")
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
def command(space_paths: tuple[str, ...], groups_text: str | None, sizes_text: str, fractions_text: str,
            data: str | None, data_root: str | None, epochs: int | None, min_samples: int | None,
            max_epochs: int | None, patience: int, lr: float | None, max_train: int | None, dp: bool,
            epsilon: float | None, budgets: tuple[str, ...], holdout_largest: int, seed: int | None, device: str,
            out_dir: str) -> None:
    """Chinchilla-style scaling laws L(N, D) = E + A/N^alpha + B/D^beta per family: trains a
    sizes x data-fractions grid (learning rate by model size, epochs by data size, early stopping
    on validation loss), fits the law, and writes fit.json, plots and report.md. N = trainable
    parameters, L = lowest validation cross-entropy; training FLOPs = 3 x fvcore forward FLOPs x
    samples seen."""
    from eqnas.errors import EqnasError
    from eqnas.profiling import parse_budget
    from eqnas.scaling.law_report import run_laws
    from eqnas.scaling.law_groups import parse_groups
    from eqnas.scaling.law_sizes import parse_fractions, parse_sizes
    from eqnas.scaling.law_sweep import SweepConfig
    from eqnas.search.space import load_space, replace_proxy

    if epsilon is not None and not dp:
        raise EqnasError(f"--epsilon {epsilon:g} applies only to DP-SGD: add --dp, or drop --epsilon")
    if epochs is not None and (min_samples, max_epochs) != (None, None):
        raise EqnasError(f"--epochs {epochs} trains every point that long; --min-samples and --max-epochs set "
                         "the data rule instead: give one or the other")
    rule = {"min_samples": min_samples, "max_epochs": max_epochs}
    recipe = (PointRecipe.fixed_epochs(epochs, patience=patience) if epochs is not None
              else PointRecipe(patience=patience, **{k: v for k, v in rule.items() if v is not None}))
    config = SweepConfig(sizes=parse_sizes(sizes_text), fractions=parse_fractions(fractions_text),
                         max_train=max_train, dp=dp, epsilon=8.0 if epsilon is None else epsilon, device=device,
                         recipe=recipe, groups=parse_groups(groups_text) if groups_text is not None else ())
    extra = tuple(float(parse_budget(b)) for b in budgets)
    spaces = [replace_proxy(load_space(p), data=data, data_root=data_root, seed=seed, lr=lr)
              for p in space_paths]
    run_laws(spaces, config, Path(out_dir), extra, echo=click.echo, holdout_largest=holdout_largest)
