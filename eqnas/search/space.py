"""Search spaces: `spaces/*.yaml` files describing an equivariant supernet.

Every architecture key takes either a fixed value or a list of choices. A sample is a flat
dict {label: value} (labels such as `group`, `stem.width`, `stages.1.depth`); `to_arch` turns
a sample into an architecture file, so the supernet hands out configs and `eqnas.build` makes
static networks from them.

    name: c8_resnet
    family: resnet
    group: C8                    # or a choice: [trivial, C4, C8, D4]
    num_stages: [2, 3]           # optional: use the first k stages
    resolution: [29, 33]
    stem: {width: [4, 8], kernel: 5}
    stages:
      - {depth: [1, 2], width: [4, 8], kernel: [3, 5], stride: 1}
      - {depth: [1, 2], width: [8, 16], stride: 2, group: [C8, C4]}   # per-stage group (restriction)
    proxy: {data: fashion-mnist-rot, epochs: 1, subset: 2000, metric: accuracy}
    # or, instead of epochs and subset, the rungs of a multi-fidelity search:
    # proxy: {data: fashion-mnist-rot, rungs: "1x2000,2x6000,3x18000", eta: 3}
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqnas.arch import Arch, Stage, Stem
from eqnas.catalog import SPACES
from eqnas.errors import EqnasError
from eqnas.yamlfile import check_keys, read_yaml

Sample = dict[str, Any]

ARCH_KEYS = ("family", "group", "resolution", "in_channels", "num_classes", "norm", "activation", "head",
             "weight_standardization", "post_residual_norm", "block")
STEM_KEYS = ("width", "kernel", "stride")
STAGE_KEYS = ("depth", "width", "kernel", "stride", "block", "group")
PROXY_KEYS = ("data", "data_root", "epochs", "subset", "metric", "batch_size", "lr", "optimizer", "seed", "rungs", "eta")
METRICS = ("accuracy", "auc")
TOP_KEYS = ("name", "description", "num_stages", "stem", "stages", "proxy", *ARCH_KEYS)


@dataclass(frozen=True)
class Proxy:
    """How each candidate is trained during the search (options of `eqnas search` override)."""

    data: str = "fashion-mnist-rot"
    data_root: str | None = None
    epochs: int = 1
    subset: int | None = 6000  # rung 0: 1x2000 ranked near chance, 1x6000 to tau 0.73-0.82 (benchmarks/)
    metric: str = "accuracy"
    batch_size: int = 64
    lr: float = 3e-3          # AdamW with a one-cycle schedule: fast progress in a short proxy
    optimizer: str = "adamw"
    seed: int = 0
    # multi-fidelity (eqnas.search.fidelity): "1x6000,2x9000,3x18000" (EPOCHSxIMAGES per rung);
    # None: rung 0 is epochs x subset and two more rungs follow (`default_rungs`)
    rungs: str | None = None
    eta: int = 3  # each rung promotes its best 1/eta


@dataclass(frozen=True)
class SearchSpace:
    name: str
    choices: dict[str, tuple]      # label -> candidate values (length 1 = fixed)
    proxy: Proxy
    stage_count: int
    description: str = ""

    def searched(self) -> dict[str, list]:
        """Only the labels with more than one value: what the strategy chooses."""
        return {label: list(values) for label, values in self.choices.items() if len(values) > 1}

    def fixed(self) -> Sample:
        return {label: values[0] for label, values in self.choices.items() if len(values) == 1}

    def size(self) -> int:
        total = 1
        for values in self.choices.values():
            total *= len(values)
        return total

    def complete(self, sample: Sample) -> Sample:
        """The searched values plus the fixed ones."""
        return {**self.fixed(), **sample}

    def enumerate(self) -> list[Sample]:
        labels = list(self.searched())
        return [dict(zip(labels, values)) for values in itertools.product(*(self.choices[l] for l in labels))]

    def to_arch(self, sample: Sample) -> Arch:
        """The architecture a sample describes (raises EqnasError if the combination is invalid,
        e.g. a stage group that is not a subgroup of the previous one)."""
        full = self.complete(sample)
        count = full.get("num_stages", self.stage_count)
        stages = []
        for index in range(count):
            values = {key: full[f"stages.{index}.{key}"] for key in STAGE_KEYS if f"stages.{index}.{key}" in full}
            values.setdefault("block", full.get("block", "basic"))
            stages.append(Stage(**values))
        stem = Stem(**{key: full[f"stem.{key}"] for key in STEM_KEYS if f"stem.{key}" in full})
        top = {key: full[key] for key in ARCH_KEYS if key in full and key != "block"}
        return Arch(stem=stem, stages=tuple(stages), name=f"{self.name} sample", **top)

    def distinct(self, samples: list[Sample]) -> list[Sample]:
        """The first sample of each network among `samples`, in order: samples that differ only in
        labels the network does not use (a dropped stage's, under `num_stages`) build the same
        network. Invalid combinations are left out."""
        first: dict[Arch, Sample] = {}
        for sample in samples:
            try:
                first.setdefault(self.to_arch(sample), sample)
            except EqnasError:
                continue
        return list(first.values())

    def key(self, sample: Sample) -> str:
        """A stable identity for a sample (records and resume)."""
        return "|".join(f"{label}={sample[label]}" for label in sorted(sample))


def load_space(path: str | Path) -> SearchSpace:
    """A space file, or a shipped space by name (``"c8_resnet"``)."""
    path = SPACES.find(path)
    return parse_space(read_yaml(path, "space file"), where=str(path), default_name=path.stem)


def parse_space(data: Any, where: str = "space", default_name: str = "space") -> SearchSpace:
    if not isinstance(data, dict):
        raise EqnasError(f"{where}: expected a mapping at the top level")
    check_keys(data, TOP_KEYS, where)
    for key in ("family", "group", "stem", "stages"):
        if key not in data:
            raise EqnasError(f"{where}: missing key {key!r}")
    choices: dict[str, tuple] = {}
    for key in ARCH_KEYS:
        if key in data:
            choices[key] = _values(data[key], f"{where}.{key}")
    choices.setdefault("resolution", (29,))
    stem = data["stem"]
    if not isinstance(stem, dict):
        raise EqnasError(f"{where}.stem: expected a mapping")
    check_keys(stem, STEM_KEYS, f"{where}.stem")
    for key, value in stem.items():
        choices[f"stem.{key}"] = _values(value, f"{where}.stem.{key}")
    stages = data["stages"]
    if not isinstance(stages, list) or not stages:
        raise EqnasError(f"{where}.stages: expected a non-empty list of stages")
    for index, stage in enumerate(stages):
        if not isinstance(stage, dict):
            raise EqnasError(f"{where}.stages[{index}]: expected a mapping")
        check_keys(stage, STAGE_KEYS, f"{where}.stages[{index}]")
        for key in ("depth", "width"):
            if key not in stage:
                raise EqnasError(f"{where}.stages[{index}]: missing key {key!r}")
        for key, value in stage.items():
            choices[f"stages.{index}.{key}"] = _values(value, f"{where}.stages[{index}].{key}")
    if "num_stages" in data:
        counts = _values(data["num_stages"], f"{where}.num_stages")
        if any(not isinstance(c, int) or not 1 <= c <= len(stages) for c in counts):
            raise EqnasError(f"{where}.num_stages: each value must be between 1 and {len(stages)}, got {list(counts)}")
        choices["num_stages"] = counts
    space = SearchSpace(
        name=str(data.get("name", default_name)), choices=choices, proxy=_proxy(data.get("proxy", {}), where),
        stage_count=len(stages), description=str(data.get("description", "")),
    )
    _check_values(space, where)
    return space


def _proxy(data: Any, where: str) -> Proxy:
    if not isinstance(data, dict):
        raise EqnasError(f"{where}.proxy: expected a mapping")
    check_keys(data, PROXY_KEYS, f"{where}.proxy")
    if "rungs" in data:
        if "epochs" in data or "subset" in data:
            raise EqnasError(f"{where}.proxy: give either rungs or epochs and subset (they set rung 0), not both")
        rungs = data["rungs"]
        data = {**data, "rungs": ",".join(map(str, rungs)) if isinstance(rungs, list) else str(rungs)}
    proxy = _rung_zero(Proxy(**data))
    if proxy.metric not in METRICS:
        raise EqnasError(f"{where}.proxy.metric: {proxy.metric!r} is not one of {', '.join(METRICS)}")
    if not isinstance(proxy.epochs, int) or proxy.epochs < 1:
        raise EqnasError(f"{where}.proxy.epochs: must be a positive integer, got {proxy.epochs!r}")
    if isinstance(proxy.lr, bool) or not isinstance(proxy.lr, (int, float)) or not 0 < proxy.lr < math.inf:
        raise EqnasError(f"{where}.proxy.lr: must be a positive finite number, got {proxy.lr!r}")
    return proxy


def _values(value: Any, where: str) -> tuple:
    if isinstance(value, list):
        if not value:
            raise EqnasError(f"{where}: empty choice; give at least one value")
        if len(set(map(repr, value))) != len(value):
            raise EqnasError(f"{where}: repeated values in choice {value}")
        return tuple(value)
    if isinstance(value, dict):
        raise EqnasError(f"{where}: expected a value or a list of choices, got a mapping")
    return (value,)


def _check_values(space: SearchSpace, where: str) -> None:
    """Each value on its own must be valid: build the first-choice arch with it substituted."""
    base = {label: values[0] for label, values in space.choices.items()}
    for label, values in space.choices.items():
        for value in values:
            try:
                space.to_arch({**base, label: value})
            except EqnasError as error:
                if "subgroup" in str(error):
                    continue  # group schedules are checked per sample (constraint, not a typo)
                raise EqnasError(f"{where}: {label} = {value!r}: {error}") from None
            except TypeError as error:
                raise EqnasError(f"{where}: {label} = {value!r}: {error}") from None


def fit_to_data(space: SearchSpace) -> SearchSpace:
    """The space with the image channels and class count of its proxy dataset.

    Training adapts every architecture to its data (`eqnas.train.adapt`), so a FLOP budget, the
    records, `best.json` and a compound base must describe the adapted network: on 3-channel,
    9-class data the unadapted one has fewer FLOPs in its stem and head than the one that trains.
    """
    from eqnas.data.registry import dataset_info

    info = dataset_info(space.proxy.data, space.proxy.data_root)
    return dataclasses.replace(space, choices={**space.choices, "in_channels": (info.channels,),
                                               "num_classes": (info.num_classes,)})


def replace_proxy(space: SearchSpace, **overrides: Any) -> SearchSpace:
    """Options of `eqnas search` override the space file's proxy settings."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(space, proxy=_rung_zero(dataclasses.replace(space.proxy, **changes)))


def _rung_zero(proxy: Proxy) -> Proxy:
    """With rungs, the proxy's epochs and subset are rung 0's (what a lone proxy training does)."""
    from eqnas.search.fidelity import parse_rungs

    if not proxy.rungs:
        return proxy
    first = parse_rungs(proxy.rungs)[0]
    return dataclasses.replace(proxy, epochs=first.epochs, subset=first.images)
