"""The N x D sweep behind `eqnas laws`: which model sizes and data sizes to train, and an
append-only record of every trained point, so a rerun resumes.

N is the trainable parameter count of the network as trained (the space's architecture adapted
to the dataset and, under DP, to group norm). D is training samples seen: epochs x subset size.
Each point's training compute is 3 x forward FLOPs per sample x D: backward costs about twice
the forward, and fvcore counts one multiply-add as one FLOP.
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
from eqnas.jsonlog import JsonLinesLog
from eqnas.profiling import arch_params
from eqnas.search.space import Proxy, Sample, SearchSpace
from eqnas.scaling.law_sizes import CANDIDATE_LIMIT, candidate_samples, pick_sizes, subset_sizes
from eqnas.train.config import TrainConfig

TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (about 2x forward)
FLOP_CONVENTION = ("training FLOPs = 3 x forward FLOPs per sample x samples seen (backward ~ 2x forward); "
                   "fvcore: one multiply-add = one FLOP")
RECORDS = "points.jsonl"
SETTINGS = "sweep.json"
_NOT_RECIPE = ("subset", "device", "num_workers")  # may change between runs of one sweep

TrainFn = Callable[[Arch, Splits, TrainConfig], dict[str, Any]]


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep; the training recipe itself is the space's proxy (after CLI overrides)."""

    sizes: int | tuple[float, ...] = 3  # a count of log-spaced sizes, or target parameter counts
    fractions: tuple[float, ...] = (1 / 9, 1 / 3, 1.0)  # of the training images used, each in (0, 1]
    max_train: int | None = None  # training images at fraction 1; None: the proxy's subset, else the split
    dp: bool = False
    epsilon: float = 8.0  # DP-SGD target epsilon (only with dp)
    device: str = "auto"
    candidate_limit: int = CANDIDATE_LIMIT

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
    epochs: int
    samples_seen: int  # D = epochs x subset
    train_flops: float  # 3 x flops_per_sample x samples_seen
    loss: float | None  # validation cross-entropy of the best epoch (chosen by the proxy metric)
    acc: float | None
    epsilon: float | None  # DP-SGD epsilon spent; None without DP
    seconds: float
    error: str = ""
    sample: dict[str, Any] = field(default_factory=dict)


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


def train_metrics(arch: Arch, splits: Splits, config: TrainConfig) -> dict[str, Any]:
    """The shared training loop's metrics for one point (no files written)."""
    from eqnas.train.loop import train

    return train(arch, splits, config, out_dir=None, progress=False, test=False).metrics


def sweep_train_config(proxy: Proxy, config: SweepConfig) -> TrainConfig:
    """The proxy recipe of the search, under DP-SGD at config.epsilon when config.dp."""
    from eqnas.search.proxy import proxy_config

    return proxy_config(proxy, config.device).replace(dp=config.dp, epsilon=config.epsilon)


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


def run_sweep(space: SearchSpace, config: SweepConfig, out_dir: Path, echo: Callable[[str], None] = print,
              train_fn: TrainFn = train_metrics, cache: SplitCache | None = None) -> list[PointRecord]:
    """Trains every (size, subset) point not yet in out_dir/points.jsonl and returns all
    finished records of this recipe (earlier runs' sizes and subsets included)."""
    from eqnas.data.registry import dataset_info
    from eqnas.profiling import arch_flops
    from eqnas.train.adapt import adapt_arch

    cache = cache or SplitCache()
    proxy = space.proxy
    train_config = sweep_train_config(proxy, config)
    recipe = {"data": proxy.data, **{k: v for k, v in train_config.to_dict().items() if k not in _NOT_RECIPE}}
    _check_recipe(out_dir / SETTINGS, recipe)

    infos: dict[int, DatasetInfo] = {}  # by resolution: an npz file is opened once, not per candidate

    def adapt(arch: Arch) -> Arch:
        if arch.resolution not in infos:
            infos[arch.resolution] = dataset_info(proxy.data, proxy.data_root, resolution=arch.resolution)
        return adapt_arch(arch, infos[arch.resolution], train_config)[0]

    table = size_table(space, candidate_samples(space, config.candidate_limit, proxy.seed), adapt)
    picked = [table[i] for i in pick_sizes([c.params for c in table], config.sizes)]
    available = len(cache.get(proxy, picked[0].arch.resolution).train)
    total = config.max_train or proxy.subset or available
    if total > available:
        raise EqnasError(f"{total} training images asked for (--max-train, else the proxy subset), but "
                         f"{proxy.data!r} has {available} outside the validation split")
    subsets = subset_sizes(config.fractions, total)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SETTINGS).write_text(json.dumps({
        "space": space.name, "recipe": recipe, "sizes": config.sizes, "fractions": list(config.fractions),
        "max_train": total, "params": [c.params for c in picked], "subsets": list(subsets),
        "flop_convention": FLOP_CONVENTION}, indent=2) + "\n")
    echo(f"{space.name}: N = {', '.join(str(c.params) for c in picked)} parameters x subsets "
         f"{', '.join(map(str, subsets))} of {total} images, {proxy.epochs} epoch(s) on {proxy.data} -> {out_dir}")
    log = PointLog(out_dir / RECORDS)
    done = log.latest()
    skipped = 0
    for candidate in picked:
        flops = None  # counted when a point of this candidate is trained, not for resumed ones
        for subset in subsets:
            key = f"{hashlib.sha1(candidate.arch.to_json().encode()).hexdigest()[:12]}|subset={subset}"
            if key in done and done[key].status == "ok":
                skipped += 1
                continue
            flops = arch_flops(candidate.arch) if flops is None else flops
            record = _train_point(key, candidate, flops, subset, train_config.replace(subset=subset),
                                  cache.get(proxy, candidate.arch.resolution), train_fn)
            log.append(record)
            echo(_progress_line(space.name, record))
    if skipped:
        echo(f"{space.name}: {skipped} finished point(s) in {log.path} were not trained again")
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


def _train_point(key: str, candidate: Candidate, flops: int, subset: int, config: TrainConfig, splits: Splits,
                 train_fn: TrainFn) -> PointRecord:
    """Trains one point; any failure (exception, no finished epoch, NaN loss) becomes a failed record."""
    seen = config.epochs * subset
    started = time.perf_counter()
    loss = acc = epsilon = None
    status, error = "ok", ""
    try:
        metrics = train_fn(candidate.arch, splits, config)
        best = metrics.get("best_val")
        if not best or not math.isfinite(best["loss"]):
            raise RuntimeError(f"no finite validation loss (best epoch: {best})")
        loss, acc = float(best["loss"]), float(best["acc"])
        epsilon = (metrics.get("privacy") or {}).get("epsilon")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # any failure is recorded and the sweep goes on
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    return PointRecord(
        key=key, status=status, arch=candidate.arch.to_dict(), params=candidate.params, flops_per_sample=flops,
        subset=subset, epochs=config.epochs, samples_seen=seen,
        train_flops=float(TRAIN_FLOPS_PER_FORWARD * flops * seen), loss=loss, acc=acc,
        epsilon=None if epsilon is None else float(epsilon), seconds=round(time.perf_counter() - started, 3),
        error=error, sample=candidate.sample,
    )


def _progress_line(family: str, record: PointRecord) -> str:
    where = f"{family}: N={record.params} D={record.samples_seen} (subset {record.subset})"
    if record.status != "ok":
        return f"{where} FAILED ({record.error[:100]}) {record.seconds:.1f}s"
    privacy = "" if record.epsilon is None else f" eps {record.epsilon:.2f}"
    return f"{where} loss {record.loss:.4f} acc {record.acc:.3f}{privacy} {record.seconds:.1f}s"
