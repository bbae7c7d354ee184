"""`eqnas search --space S --flops B ...`."""
from __future__ import annotations

import math
from pathlib import Path

import click

from eqnas.errors import EqnasError
from eqnas.search.fidelity import DEFAULT_FINALIST_SEEDS, PROMOTIONS
from eqnas.search.strategies import STRATEGIES
from eqnas.search.supernet_options import DEFAULT_REFERENCE, KERNEL_MODE_NAMES
from eqnas.textfile import read_text


def parse_duration(text: str | None) -> float | None:
    """'90s', '30m', '2h', '1.5h' or plain seconds."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    body, unit = (text[:-1], text[-1].lower()) if text[-1:].lower() in units else (text, "s")
    try:
        seconds = float(body) * units[unit]
    except ValueError:
        raise EqnasError(f"bad --time-budget {text!r}: use e.g. 90s, 30m, 2h") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise EqnasError(f"bad --time-budget {text!r}: must be a positive finite duration")
    return seconds


def load_training_service(path: str | None) -> dict | None:
    """NNI's training-service section from a YAML file, checked by NNI's config classes here, so a
    bad platform, key or file fails before the run folder is written or any work starts."""
    import yaml

    if path is None:
        return None
    text = read_text(path, "--training-service file")
    try:
        section = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise EqnasError(f"cannot read --training-service {path}: {err}") from None
    if not isinstance(section, dict) or "platform" not in section:
        raise EqnasError(f"--training-service {path}: expected a mapping with a 'platform' key (NNI's "
                         "trainingService section), e.g. platform: remote")
    from eqnas.search.nni_manager import training_service_config  # imports NNI: only for a mapping

    training_service_config(section)
    return section


def parse_budgets(text: str, strategy: str) -> tuple[int, ...]:
    """'100M' or '25M,50M,100M' (several only for the supernet strategy, which serves them all)."""
    from eqnas.profiling import parse_budget

    budgets = tuple(parse_budget(part.strip()) for part in text.split(","))
    if len(budgets) > 1 and strategy != "supernet":
        raise EqnasError(f"--flops {text}: several budgets need --strategy supernet (one trained supernet "
                         f"serves them all); give one budget to --strategy {strategy}")
    if len(set(budgets)) != len(budgets):
        raise EqnasError(f"--flops {text}: a budget is given twice")
    return budgets


SUPERNET_FLAGS = {"epochs": "--supernet-epochs", "images": "--supernet-images", "kernels": "--kernels",
                  "top_k": "--top-k", "reference": "--reference", "cap": "--supernet-cap"}  # SupernetOptions field -> its flag


def supernet_options(strategy: str, **given):
    """The supernet strategy's options (SupernetOptions); given to another strategy, an error
    naming the flag."""
    from eqnas.search.supernet_options import SupernetOptions

    given = {key: value for key, value in given.items() if value is not None}
    if strategy == "supernet":
        return SupernetOptions(**given)
    if given:
        raise EqnasError(f"{SUPERNET_FLAGS[next(iter(given))]} belongs to --strategy supernet, not {strategy}")
    return None


@click.command("search")
@click.option("--space", "space_path", required=True, type=click.Path(dir_okay=False),
              help="Space file (YAML), or a shipped space by name (e.g. c8_resnet).")
@click.option("--flops", required=True, help="FLOP budget per sample (fvcore: 1 multiply-add = 1 FLOP), e.g. 100M, 2G; "
              "with --strategy supernet several, e.g. 25M,50M,100M (one winner each).")
@click.option("--flops-min", default=None, help="Optional lower FLOP bound.")
@click.option("--strategy", default="evolution", show_default=True, type=click.Choice(list(STRATEGIES)),
              help="; ".join(f"{s.name}: {s.summary}" for s in STRATEGIES.values()) + ".")
@click.option("--trials", default=10, show_default=True, type=click.IntRange(min=1), help="Trials: networks trained (scored, with --strategy supernet); samples that build the same network are one trial.")
@click.option("--time-budget", default=None, help="Stop starting trials after this long (e.g. 2h).")
@click.option("--data", default=None, help="Dataset for the proxy (overrides the space file).")
@click.option("--data-root", default=None, type=click.Path(file_okay=False), help="Folder with the dataset files.")
@click.option("--epochs", default=None, type=click.IntRange(min=1), help="Proxy epochs: rung 0's (overrides the space file).")
@click.option("--subset", default=None, type=click.IntRange(min=1), help="Proxy training images: rung 0's (overrides the space file).")
@click.option("--rungs", default=None,
              help="Fidelity rungs EPOCHSxIMAGES, e.g. 1x2000,2x6000,3x18000; one rung: no promotion. "
                   "[default: the space file's, else --epochs x --subset then two rungs, each one more epoch "
                   "on eta times the images]")
@click.option("--eta", default=None, type=int, help="Each rung promotes its best 1/eta.  [default: 3]")
@click.option("--promotion", default="continue", show_default=True, type=click.Choice(PROMOTIONS),
              help="A promoted candidate continues from its weights at the rung below (where that rung has "
                   "fewer epochs and no more images), or retrains at the higher rung.")
@click.option("--finalist-seeds", default=DEFAULT_FINALIST_SEEDS, show_default=True, type=click.IntRange(min=1),
              help="Seeds each finalist (a candidate at the top rung) is scored with when two or more reach it; "
                   "the best mean wins.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help="Run folder (default runs/<space>).")
@click.option("--resume", is_flag=True, help="Continue the search in --out; finished trials are not trained again.")
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(min=1),
              help="Trials at once, as processes of NNI's local training service (its manager on 127.0.0.1); "
                   "with --device auto or cuda, trial k trains on GPU k mod (GPUs), or the next free one.")
@click.option("--training-service", "training_service_path", default=None, type=click.Path(dir_okay=False),
              help="YAML file with NNI's training-service section (platform: remote, kubeflow, ...) to run "
                   "trials on other machines; their manager port is then open on every interface.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--early-stop/--no-early-stop", default=True, show_default=True,
              help="Stop a trial after an epoch whose best metric so far is below the median of completed "
                   "trials at that epoch (needs proxy epochs >= 2).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--for-dp", is_flag=True,
              help="The winner will also retrain under DP (batch norm becomes group norm): each candidate's FLOPs "
                   "are its larger count of the two, so the budget holds for the private network too.")
@click.option("--supernet-epochs", default=None, type=click.IntRange(min=1),
              help="Supernet: training epochs (sandwich rule), when the run folder holds no trained one. [default: 3]")
@click.option("--supernet-images", default=None, type=click.IntRange(min=1),
              help="Supernet: training images (a seeded subset). [default: all]")
@click.option("--kernels", default=None, type=click.Choice(KERNEL_MODE_NAMES),
              help="Supernet: elastic kernels from the largest kernel's coefficients by a learned map, or "
                   "separate coefficients per size. [default: map]")
@click.option("--supernet-cap", default=None,
              help="Supernet: train only the subnets within this many FLOPs (e.g. 100M; at least the largest "
                   "--flops), or 'none' for every subnet of the space. [default: the largest --flops]")
@click.option("--top-k", default=None, type=click.IntRange(min=0),
              help="Supernet: retrain each budget's best K stand-alone with --reference. [default: 0]")
@click.option("--reference", default=None,
              help=f"Supernet: the stand-alone recipe of --top-k, EPOCHSxIMAGES. [default: {DEFAULT_REFERENCE}]")
def command(space_path: str, flops: str, flops_min: str | None, strategy: str, trials: int, time_budget: str | None,
            data: str | None, data_root: str | None, epochs: int | None, subset: int | None, rungs: str | None,
            eta: int | None, promotion: str, finalist_seeds: int, out_dir: str | None, resume: bool, concurrency: int,
            training_service_path: str | None, seed: int, early_stop: bool, device: str, supernet_epochs: int | None,
            supernet_images: int | None, kernels: str | None, top_k: int | None, reference: str | None,
            for_dp: bool, supernet_cap: str | None) -> None:
    """Find the most accurate architecture of a space whose FLOPs stay within the budget."""
    from eqnas.profiling import parse_budget
    from eqnas.search.devices import trial_devices
    from eqnas.search.fidelity import Fidelity
    from eqnas.search.runner import SearchConfig
    from eqnas.search.space import fit_to_data, load_space, replace_proxy
    from eqnas.train.adapt import TrainingMode

    budgets = parse_budgets(flops, strategy)
    supernet = supernet_options(strategy, epochs=supernet_epochs, images=supernet_images, kernels=kernels,
                                top_k=top_k, reference=reference, cap=supernet_cap)
    if supernet is not None:
        supernet.flops_cap(budgets)  # a cap below the largest budget: refused before any work
    space = load_space(space_path)
    if (epochs or subset) and (rungs or space.proxy.rungs):
        raise EqnasError(f"--epochs and --subset set rung 0 when no rungs are given, but rungs "
                         f"{rungs or space.proxy.rungs!r} are: give the rungs only (e.g. --rungs 1x2000,2x6000)")
    space = fit_to_data(replace_proxy(space, data=data, data_root=data_root, epochs=epochs, subset=subset, seed=seed,
                                      rungs=rungs, eta=eta))
    config = SearchConfig(
        flops_max=max(budgets), flops_min=parse_budget(flops_min) if flops_min else 0, strategy=strategy, trials=trials,
        time_budget_s=parse_duration(time_budget), concurrency=concurrency, seed=seed, resume=resume,
        early_stop=early_stop, training_service=load_training_service(training_service_path),
        fidelity=Fidelity.of(space.proxy, promotion, finalist_seeds),
        devices=trial_devices(device, concurrency) if training_service_path is None else (),
        budgets=budgets if len(budgets) > 1 else (), supernet=supernet,
        modes=(TrainingMode(dp=True),) if for_dp else (),
    )
    STRATEGIES[strategy].run(space, config, Path(out_dir or f"runs/{space.name}"), device, click.echo)
