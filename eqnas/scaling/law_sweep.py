"""The N x D sweep behind `eqnas laws`: which model sizes and data sizes to train, for which
groups (law_groups), how each point trains (law_recipe), and an append-only record of every
trained point, so a rerun resumes.

N is the trainable parameter count of the network as trained (the space's architecture adapted
to the dataset and, under DP, to group norm). Each point trains on `subset` images until its
validation loss stops falling; samples seen are epochs trained x subset, and its training compute
is 3 x forward FLOPs per sample x samples seen: backward costs about twice the forward, and
fvcore counts one multiply-add as one FLOP.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqnas.arch import Arch
from eqnas.data.base import DatasetInfo, Splits
from eqnas.errors import EqnasError
from eqnas.groups import Group
from eqnas.jsonlog import JsonLinesLog
from eqnas.profiling import arch_params
from eqnas.search.space import Proxy, Sample, SearchSpace
from eqnas.scaling.law_groups import check_regroupable, regroup
from eqnas.scaling.law_recipe import Patience, PointRecipe, chance_loss, diverged
from eqnas.scaling.law_sizes import CANDIDATE_LIMIT, candidate_samples, pick_sizes, subset_sizes
from eqnas.train.config import TrainConfig
from eqnas.train.hooks import EpochHook

TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (about 2x forward)
FLOP_CONVENTION = ("training FLOPs = 3 x forward FLOPs per sample x samples seen (backward ~ 2x forward); "
                   "fvcore: one multiply-add = one FLOP")
RECORDS = "points.jsonl"
SETTINGS = "sweep.json"
_NOT_RECIPE = ("subset", "device", "num_workers", "epochs", "lr")  # per point (the rule) or per run

TrainFn = Callable[[Arch, Splits, TrainConfig, EpochHook], dict[str, Any]]


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep; batches, optimizer and seed come from the space's proxy, the learning rate
    and epochs of each point from `recipe`."""

    sizes: int | tuple[float, ...] = 3  # a count of log-spaced sizes, or target parameter counts
    fractions: tuple[float, ...] = (1 / 9, 1 / 3, 1.0)  # of the training images used, each in (0, 1]
    max_train: int | None = None  # training images at fraction 1; None: the proxy's subset, else the split
    dp: bool = False
    epsilon: float = 8.0  # DP-SGD target epsilon (only with dp)
    device: str = "auto"
    candidate_limit: int = CANDIDATE_LIMIT
    recipe: PointRecipe = PointRecipe()
    groups: tuple[Group, ...] = ()  # each space rebuilt for every group at matched FLOPs; (): as it is

    def __post_init__(self) -> None:
        if self.max_train is not None and self.max_train < 1:
            raise EqnasError(f"--max-train {self.max_train!r}: use a positive number of images")
        if not self.fractions:
            raise EqnasError("no data fractions given: use a count like 3 or a list like 0.1,0.3,1")


@dataclass(frozen=True)
class PointRecord:
    """One trained (N, D) point, as one JSON line of points.jsonl."""

    key: str  # the trained network's identity and subset (resume)
    status: str  # ok | failed
    arch: dict[str, Any]
    params: int  # N: trainable parameters
    flops_per_sample: int  # forward, fvcore (one multiply-add = one FLOP)
    subset: int  # training images
    epochs: int  # planned by the recipe (early stopping may end sooner)
    samples_seen: int  # epochs trained x subset
    train_flops: float  # 3 x flops_per_sample x samples_seen
    loss: float | None  # lowest validation cross-entropy over the epochs; None when failed
    acc: float | None
    epsilon: float | None  # DP-SGD epsilon spent; None without DP
    seconds: float
    error: str = ""
    sample: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # the group the network was built for
    lr: float | None = None  # peak learning rate of the last attempt
    epochs_trained: int | None = None
    attempts: int = 1  # 2: the first attempt diverged and was retried at a lower learning rate
    diverged: bool = False  # failed by diverging twice: a rerun would repeat it, so resume skips it

    @property
    def data_size(self) -> int:
        """The law's D: training images. Each point trains until its validation loss stops falling
        (epochs by the recipe's rule), so the images, not the epochs, bound what it learns."""
        return self.subset


class PointLog(JsonLinesLog[PointRecord]):
    """`points.jsonl` of one family: appended and flushed per point, so an interrupt keeps them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, PointRecord)

    def latest(self) -> dict[str, PointRecord]:
        """The last record of every point (a retried point's new result replaces the old)."""
        return {record.key: record for record in self.read()}


# --- parsing the flags --------------------------------------------------------------------


class SplitCache:
    """Proxy splits per (dataset, root, seed, resolution), loaded once for every family of a run."""

    def __init__(self) -> None:
        self._splits: dict[tuple, Splits] = {}

    def get(self, proxy: Proxy, resolution: int) -> Splits:
        key = (proxy.data, proxy.data_root, proxy.seed, resolution)
        if key not in self._splits:
            from eqnas.data.registry import load_dataset
            from eqnas.search.proxy import proxy_splits

            full = load_dataset(proxy.data, proxy.data_root, resolution=resolution, seed=proxy.seed)
            self._splits[key] = proxy_splits(full, proxy.seed)
        return self._splits[key]


def train_metrics(arch: Arch, splits: Splits, config: TrainConfig, on_epoch: EpochHook) -> dict[str, Any]:
    """The shared training loop's metrics for one point (no files written)."""
    from eqnas.train.loop import train

    return train(arch, splits, config, out_dir=None, progress=False, test=False, on_epoch=on_epoch).metrics


def sweep_train_config(proxy: Proxy, config: SweepConfig) -> TrainConfig:
    """The proxy recipe of the search with a cosine schedule (no warm-up, so early stopping does not
    end a run before its learning rate peaks), keeping the epoch of lowest validation loss, under
    DP-SGD at config.epsilon when config.dp; each point then sets its subset, epochs and lr."""
    from eqnas.search.proxy import proxy_config

    return proxy_config(proxy, config.device).replace(dp=config.dp, epsilon=config.epsilon, select="loss",
                                                      schedule="cosine")


@dataclass(frozen=True)
class Candidate:
    """A valid sample of the space, sized as it would be trained."""

    sample: Sample
    arch: Arch  # adapted to the data and recipe: what is trained
    params: int


def size_table(space: SearchSpace, samples: Sequence[Sample], adapt: Callable[[Arch], Arch]) -> list[Candidate]:
    """The valid samples with their trainable parameter counts (one build per distinct network)."""
    counted: dict[str, int] = {}
    table = []
    for sample in samples:
        try:
            arch = adapt(space.to_arch(sample))
            identity = arch.to_json()
            if identity not in counted:
                counted[identity] = arch_params(arch)
        except EqnasError:
            continue  # an invalid combination (e.g. a group schedule that is not a restriction)
        table.append(Candidate(sample, arch, counted[identity]))
    return table


@dataclass(frozen=True)
class SweepPlan:
    """One family's networks and subsets, fixed before anything trains."""

    name: str  # the space's name, plus "-<group>" under --groups: its folder and its law
    group: str
    proxy: Proxy
    candidates: tuple[Candidate, ...]  # smallest first
    flops: tuple[int, ...]  # forward FLOPs per sample of each candidate
    lrs: tuple[float, ...]  # peak learning rate of each candidate: by the FLOPs in the space's own group,
    # so every group trains a size at the same rate
    subsets: tuple[int, ...]
    total: int  # training images at fraction 1


def plan_sweeps(spaces: Sequence[SearchSpace], config: SweepConfig, cache: SplitCache) -> list[SweepPlan]:
    """Every family's plan. Sizes are picked by N in each space's own group; under config.groups
    the same networks are rebuilt for each group at equal channels (so equal FLOPs) and trained
    at the same learning rate. Bad groups are refused before any data is loaded."""
    from eqnas.profiling import arch_flops

    plans = []
    for space in spaces:
        if config.groups:
            check_regroupable(space.name, space.choices)
        picked = picked_sizes(space, config)
        families = {space.name: picked}
        if config.groups:
            families = {f"{space.name}-{group}": [_regrouped(c, group) for c in picked] for group in config.groups}
        subsets, total = _subsets(space.proxy, picked[0].arch.resolution, config, cache)
        reference = tuple(arch_flops(c.arch) for c in picked)
        lrs = tuple(config.recipe.lr(space.proxy.lr, f) for f in reference)
        for name, candidates in families.items():
            flops = reference if candidates is picked else tuple(arch_flops(c.arch) for c in candidates)
            plans.append(SweepPlan(name, candidates[0].arch.group, space.proxy, tuple(candidates), flops, lrs,
                                   subsets, total))
    names = [plan.name for plan in plans]
    if len(set(names)) != len(names):
        raise EqnasError(f"spaces must have distinct names (each gets its own folder), got {names}")
    return plans


def picked_sizes(space: SearchSpace, config: SweepConfig) -> list[Candidate]:
    """The networks of the chosen sizes (config.sizes), adapted to the data, smallest first."""
    from eqnas.data.registry import dataset_info
    from eqnas.train.adapt import adapt_arch

    proxy = space.proxy
    train_config = sweep_train_config(proxy, config)
    infos: dict[int, DatasetInfo] = {}  # by resolution: an npz file is opened once, not per candidate

    def adapt(arch: Arch) -> Arch:
        if arch.resolution not in infos:
            infos[arch.resolution] = dataset_info(proxy.data, proxy.data_root, resolution=arch.resolution)
        return adapt_arch(arch, infos[arch.resolution], train_config)[0]

    table = size_table(space, candidate_samples(space, config.candidate_limit, proxy.seed), adapt)
    return [table[i] for i in pick_sizes([c.params for c in table], config.sizes)]


def _regrouped(candidate: Candidate, group: Group) -> Candidate:
    arch = regroup(candidate.arch, group)
    return Candidate(candidate.sample, arch, arch_params(arch))


def _subsets(proxy: Proxy, resolution: int, config: SweepConfig, cache: SplitCache) -> tuple[tuple[int, ...], int]:
    """(training images per data fraction, images at fraction 1)."""
    available = len(cache.get(proxy, resolution).train)
    total = config.max_train or proxy.subset or available
    if total > available:
        raise EqnasError(f"{total} training images asked for (--max-train, else the proxy subset), but "
                         f"{proxy.data!r} has {available} outside the validation split")
    return subset_sizes(config.fractions, total), total


def run_sweeps(spaces: Sequence[SearchSpace], config: SweepConfig, out_dir: Path,
               echo: Callable[[str], None] = print, train_fn: TrainFn = train_metrics) -> dict[str, list[PointRecord]]:
    """Plans every family first (so bad input fails before any training), then sweeps each into
    out_dir/<family name>; returns every family's finished records."""
    cache = SplitCache()
    plans = plan_sweeps(spaces, config, cache)
    return {plan.name: run_sweep(plan, config, out_dir / plan.name, echo, train_fn, cache) for plan in plans}


def run_sweep(plan: SweepPlan, config: SweepConfig, out_dir: Path, echo: Callable[[str], None] = print,
              train_fn: TrainFn = train_metrics, cache: SplitCache | None = None) -> list[PointRecord]:
    """Trains every (size, subset) point not yet in out_dir/points.jsonl (a point that failed by an
    exception is tried again, one that diverged twice is not) and returns all records of this
    recipe (earlier runs' sizes and subsets included)."""
    cache = cache or SplitCache()
    proxy, rule = plan.proxy, config.recipe
    train_config = sweep_train_config(proxy, config)
    recipe = {"data": proxy.data, "group": plan.group, "lr_ref": proxy.lr, "rule": rule.to_dict(),
              **{k: v for k, v in train_config.to_dict().items() if k not in _NOT_RECIPE}}
    _check_recipe(out_dir / SETTINGS, recipe)
    splits = cache.get(proxy, plan.candidates[0].arch.resolution)
    chance = chance_loss(splits.info.num_classes, splits.info.task)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SETTINGS).write_text(json.dumps({
        "family": plan.name, "recipe": recipe, "sizes": config.sizes, "fractions": list(config.fractions),
        "max_train": plan.total, "params": [c.params for c in plan.candidates], "flops_per_sample": list(plan.flops),
        "lr": list(plan.lrs), "subsets": list(plan.subsets),
        "epochs": [rule.epochs(s) for s in plan.subsets], "chance_loss": chance,
        "flop_convention": FLOP_CONVENTION}, indent=2) + "\n")
    echo(f"{plan.name}: N = {', '.join(str(c.params) for c in plan.candidates)} parameters "
         f"({', '.join(f'{f / 1e6:.3g}M' for f in plan.flops)} FLOPs) x subsets "
         f"{', '.join(map(str, plan.subsets))} of {plan.total} images on {proxy.data} -> {out_dir}")
    log = PointLog(out_dir / RECORDS)
    done = log.latest()
    skipped = 0
    for candidate, flops, lr in zip(plan.candidates, plan.flops, plan.lrs):
        for subset in plan.subsets:
            key = f"{hashlib.sha1(candidate.arch.to_json().encode()).hexdigest()[:12]}|subset={subset}"
            if key in done and (done[key].status == "ok" or done[key].diverged):
                skipped += 1
                continue
            record = _train_point(key, plan.group, candidate, flops, subset, train_config.replace(lr=lr), rule,
                                  chance, splits, train_fn)
            log.append(record)
            echo(_progress_line(plan.name, record))
    if skipped:
        echo(f"{plan.name}: {skipped} finished point(s) in {log.path} were not trained again")
    return list(log.latest().values())


def _check_recipe(path: Path, recipe: dict[str, Any]) -> None:
    """Points of one out dir share one recipe, so every record there fits one law."""
    if not path.exists():
        return
    before = json.loads(path.read_text()).get("recipe", {})
    changed = sorted(k for k in set(before) | set(recipe) if before.get(k) != recipe.get(k))
    if changed:
        diffs = ", ".join(f"{k} {before.get(k)!r} -> {recipe.get(k)!r}" for k in changed)
        raise EqnasError(f"{path.parent} holds a sweep with another training recipe ({diffs}); "
                         "use another --out, or the same flags to resume")


def _train_point(key: str, group: str, candidate: Candidate, flops: int, subset: int, base: TrainConfig,
                 rule: PointRecipe, chance: float, splits: Splits, train_fn: TrainFn) -> PointRecord:
    """Trains one point at base.lr for the rule's epochs. A run that diverges (no finite loss below
    `chance`) is retried once at a lower learning rate; any failure (exception, second divergence)
    becomes a failed record, which no fit reads."""
    epochs, first = rule.epochs(subset), base.lr
    started = time.perf_counter()
    loss = acc = epsilon = trained = None
    status, error, attempts, lr, twice = "failed", "", 0, first, False
    for attempts, lr in enumerate((first, float(f"{first * rule.retry_factor:.3g}")), start=1):
        try:
            metrics = train_fn(candidate.arch, splits, base.replace(subset=subset, epochs=epochs, lr=lr),
                               Patience(rule.patience))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # any failure is recorded and the sweep goes on
            error = f"{type(exc).__name__}: {exc}"
            break
        best = metrics.get("best_val") or {}
        trained = int(metrics.get("epochs", epochs))
        if not diverged(best.get("loss"), chance):
            status, error = "ok", ""
            loss, acc = float(best["loss"]), float(best["acc"])
            epsilon = (metrics.get("privacy") or {}).get("epsilon")
            break
        error = f"diverged at lr {lr:g}: best validation loss {best.get('loss')} (chance {chance:.4f})"
        twice = attempts == 2
    seen = (trained or 0) * subset
    return PointRecord(
        key=key, status=status, arch=candidate.arch.to_dict(), params=candidate.params, flops_per_sample=flops,
        subset=subset, epochs=epochs, samples_seen=seen, train_flops=float(TRAIN_FLOPS_PER_FORWARD * flops * seen),
        loss=loss, acc=acc, epsilon=None if epsilon is None else float(epsilon),
        seconds=round(time.perf_counter() - started, 3), error=error, sample=candidate.sample, group=group, lr=lr,
        epochs_trained=trained, attempts=attempts, diverged=twice,
    )


def _progress_line(family: str, record: PointRecord) -> str:
    where = (f"{family}: N={record.params} subset {record.subset}, {record.epochs_trained or 0}/{record.epochs} epochs "
             f"at lr {record.lr:g}{' (retried)' if record.attempts > 1 else ''}")
    if record.status != "ok":
        return f"{where} FAILED ({record.error[:100]}) {record.seconds:.1f}s"
    privacy = "" if record.epsilon is None else f" eps {record.epsilon:.2f}"
    return f"{where} loss {record.loss:.4f} acc {record.acc:.3f}{privacy} {record.seconds:.1f}s"
