"""The study file: YAML -> validated, frozen `StudyConfig`. Every bad key or value is one
`EqnasError` naming it (`study.yaml: arms[2].augment: ...`).

    name: study_small
    datasets: [fashion-mnist-rot, fashion-mnist]
    budgets: [25M, 50M]                  # fvcore FLOPs per sample of the network that trains
    seeds: 3                             # or a list [0, 1, 2]
    privacy: [none, 8]                   # none = no DP; numbers = target epsilons (DP-SGD)
    arms:
      - {name: c8, space: c8_resnet}       # a shipped name, or a path (beside this file first)
      - {name: plain+rot, space: spaces/cnn_resnet.yaml, augment: rotate_flip}
      - {name: resnet18, arch: resnet18_medmnist28, budgets: [600M]}
    compare: [[c8, plain+rot]]           # paired differences (first minus second), by seed
    search: {strategy: evolution, trials: 6, epochs: 1, subset: 2000, seed: 0}
    search_data: {public_split: 5000, seed: 0}   # or {dataset: NAME}; required under DP
    train: {recipe: null, epochs: 10, lr: 0.003}  # TrainConfig keys for every retraining
    dp: {batch_size: 512, optimizer: sgd, lr: 0.5}  # TrainConfig keys added under DP
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqnas.catalog import ARCHS, SPACES, STUDIES
from eqnas.errors import EqnasError
from eqnas.profiling import format_flops, parse_budget
from eqnas.train.config import TrainConfig
from eqnas.train.recipes import resolve_config
from eqnas.yamlfile import check_keys, read_yaml

TOP_KEYS = ("name", "datasets", "data_root", "data_seed", "val_fraction", "budgets", "seeds", "privacy", "arms",
            "compare", "search", "search_data", "train", "dp", "device")
ARM_KEYS = ("name", "space", "arch", "augment", "budgets")
SEARCH_KEYS = ("strategy", "trials", "epochs", "subset", "seed", "early_stop")
SEARCH_DATA_KEYS = ("public_split", "seed", "dataset")
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
NOT_IN_TRAIN = ("dp", "epsilon", "seed", "device")  # set per run by the grid
MIN_SEEDS = 2  # an interval needs two; the studies use three or more


@dataclass(frozen=True)
class Arm:
    """A searched space or a fixed architecture file, optionally with its own augmentation and
    its own budgets (a fixed architecture only goes where it fits)."""

    name: str
    space: str | None = None
    arch: str | None = None
    augment: str | None = None  # None: the study's training augmentation
    budgets: tuple[int, ...] | None = None  # None: the study's budgets

    @property
    def searched(self) -> bool:
        return self.space is not None


@dataclass(frozen=True)
class SearchSettings:
    strategy: str = "evolution"
    trials: int = 6
    epochs: int = 1
    subset: int | None = 2000
    seed: int = 0
    early_stop: bool = True


@dataclass(frozen=True)
class SearchData:
    """Where the searches train. `public_split`: a seeded set of that many images of each study
    dataset's training split, kept out of every retraining; `dataset`: another dataset.
    Neither: the searches train on the retraining data (refused under DP)."""

    public_split: int | None = None
    seed: int = 0
    dataset: str | None = None


@dataclass(frozen=True)
class StudyConfig:
    name: str
    datasets: tuple[str, ...]
    budgets: tuple[int, ...]
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    epsilons: tuple[float | None, ...] = (None,)  # None: no DP
    compare: tuple[tuple[str, str], ...] = ()
    search: SearchSettings = SearchSettings()
    search_data: SearchData = SearchData()
    train: TrainConfig = TrainConfig()
    dp_overrides: tuple[tuple[str, Any], ...] = ()  # TrainConfig fields set under DP
    data_root: str | None = None
    data_seed: int = 0  # fixes validation carve, rotations and the public split for every run
    val_fraction: float = 0.1
    device: str = "auto"

    def arm_budgets(self, arm: Arm) -> tuple[int, ...]:
        return arm.budgets if arm.budgets is not None else self.budgets

    def run_config(self, arm: Arm, epsilon: float | None, seed: int) -> TrainConfig:
        """The TrainConfig of one retraining."""
        changes: dict[str, Any] = {"seed": seed, "device": self.device}
        if arm.augment is not None:
            changes["augment"] = arm.augment
        if epsilon is not None:
            changes.update(dict(self.dp_overrides), dp=True, epsilon=epsilon)
        return self.train.replace(**changes)

    def with_dp_overrides(self, **changes: Any) -> "StudyConfig":
        """The same study with these TrainConfig fields set under DP (the command line wins)."""
        return dataclasses.replace(self, dp_overrides=tuple(sorted({**dict(self.dp_overrides), **changes}.items())))

    @property
    def private(self) -> bool:
        return any(e is not None for e in self.epsilons)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dp_overrides"] = dict(self.dp_overrides)
        data["budgets_readable"] = [format_flops(b) for b in self.budgets]
        return data


def load_study(path: str | Path) -> StudyConfig:
    """A study file, or a shipped one by name (``"study_small"``)."""
    path = STUDIES.find(path)
    return parse_study(read_yaml(path, "study file"), where=str(path), base=path.parent, default_name=path.stem)


def parse_study(data: Any, where: str = "study", base: Path = Path("."), default_name: str = "study") -> StudyConfig:
    """Relative paths of spaces and architectures are looked up beside the file first, then
    in the working directory."""
    mapping = _mapping(data, where)
    check_keys(mapping, TOP_KEYS, where)
    for key in ("datasets", "budgets", "arms"):
        if key not in mapping:
            raise EqnasError(f"{where}: missing key {key!r}")
    budgets = _budgets(mapping["budgets"], f"{where}.budgets")
    arms = tuple(_arm(item, f"{where}.arms[{i}]", base) for i, item in enumerate(_list(mapping["arms"], f"{where}.arms")))
    names = [arm.name for arm in arms]
    for name in names:
        if names.count(name) > 1:
            raise EqnasError(f"{where}.arms: the name {name!r} is used twice")
    train = _train(mapping.get("train", {}), f"{where}.train")
    dp = _mapping(mapping.get("dp", {}), f"{where}.dp")
    check_keys(dp, tuple(k for k in TRAIN_FIELDS if k not in NOT_IN_TRAIN), f"{where}.dp")
    config = StudyConfig(
        name=str(mapping.get("name", default_name)),
        datasets=_datasets(mapping["datasets"], f"{where}.datasets", mapping.get("data_root")),
        budgets=budgets, arms=arms,
        seeds=_seeds(mapping.get("seeds", 3), f"{where}.seeds"),
        epsilons=_privacy(mapping.get("privacy", ["none"]), f"{where}.privacy"),
        compare=_compare(mapping.get("compare", []), names, f"{where}.compare"),
        search=_dataclass(SearchSettings, mapping.get("search", {}), SEARCH_KEYS, f"{where}.search"),
        search_data=_dataclass(SearchData, mapping.get("search_data", {}), SEARCH_DATA_KEYS, f"{where}.search_data"),
        train=train, dp_overrides=tuple(sorted(dp.items())),
        data_root=mapping.get("data_root"), data_seed=_int(mapping.get("data_seed", 0), f"{where}.data_seed", 0),
        val_fraction=mapping.get("val_fraction", 0.1), device=str(mapping.get("device", "auto")),
    )
    if config.search_data.dataset is not None:
        _datasets([config.search_data.dataset], f"{where}.search_data.dataset", config.data_root)
    _check_runs(config, where)
    return config


def _mapping(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise EqnasError(f"{where}: expected a mapping, got {data!r}")
    return data


def _list(data: Any, where: str) -> list:
    if not isinstance(data, list) or not data:
        raise EqnasError(f"{where}: expected a non-empty list, got {data!r}")
    return data


def _int(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EqnasError(f"{where}: expected an integer >= {low}, got {value!r}")
    return value


def _budgets(value: Any, where: str) -> tuple[int, ...]:
    budgets = []
    for item in _list(value, where):
        try:
            budgets.append(parse_budget(item))
        except EqnasError as error:
            raise EqnasError(f"{where}: {error}") from None
    return tuple(budgets)


def _datasets(value: Any, where: str, root: str | None) -> tuple[str, ...]:
    from eqnas.data.registry import dataset_info

    names = tuple(str(item) for item in _list(value, where))
    for name in names:
        try:
            dataset_info(name, root)
        except EqnasError as error:
            raise EqnasError(f"{where}: {error}") from None
    return names


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    seeds = tuple(range(_int(value, where, MIN_SEEDS))) if isinstance(value, int) and not isinstance(value, bool) \
        else tuple(_int(item, f"{where}[{i}]", 0) for i, item in enumerate(_list(value, where)))
    if len(set(seeds)) != len(seeds) or len(seeds) < MIN_SEEDS:
        raise EqnasError(f"{where}: need at least {MIN_SEEDS} distinct seeds for an interval, got {value!r}")
    return seeds


def _privacy(value: Any, where: str) -> tuple[float | None, ...]:
    settings: list[float | None] = []
    for item in _list(value, where):
        if item == "none":
            settings.append(None)
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and item > 0:
            settings.append(float(item))
        else:
            raise EqnasError(f"{where}: {item!r} is neither 'none' nor a positive epsilon")
    if len(set(settings)) != len(settings):
        raise EqnasError(f"{where}: repeated setting in {value!r}")
    return tuple(settings)


def _compare(value: Any, names: list[str], where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise EqnasError(f"{where}: expected a list of [arm, arm] pairs, got {value!r}")
    pairs = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]:
            raise EqnasError(f"{where}[{i}]: expected two different arm names, got {pair!r}")
        for name in pair:
            if name not in names:
                raise EqnasError(f"{where}[{i}]: unknown arm {name!r} (arms: {', '.join(names)})")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _dataclass(cls: type, value: Any, keys: tuple[str, ...], where: str) -> Any:
    mapping = _mapping(value, where)
    check_keys(mapping, keys, where)
    defaults = cls()
    for key, item in mapping.items():
        expected = getattr(defaults, key)
        if key in ("trials", "epochs", "public_split", "subset") and item is not None:
            _int(item, f"{where}.{key}", 1)
        elif key == "seed":
            _int(item, f"{where}.{key}", 0)
        elif isinstance(expected, bool) and not isinstance(item, bool):
            raise EqnasError(f"{where}.{key}: expected true or false, got {item!r}")
        elif key in ("strategy", "dataset") and not isinstance(item, str):
            raise EqnasError(f"{where}.{key}: expected a name, got {item!r}")
    return cls(**mapping)


def _train(value: Any, where: str) -> TrainConfig:
    mapping = dict(_mapping(value, where))
    recipe = mapping.pop("recipe", None)
    check_keys(mapping, tuple(k for k in TRAIN_FIELDS if k not in NOT_IN_TRAIN), where)
    try:
        return resolve_config(recipe, **mapping)
    except EqnasError as error:
        raise EqnasError(f"{where}: {error}") from None


SHELVES = {"space": SPACES, "arch": ARCHS}  # an arm's kind of file -> where its shipped names live


def _resolve_path(value: Any, where: str, base: Path, kind: str) -> str:
    """Beside the study file, then in the working directory, then a shipped name."""
    if not isinstance(value, str):
        raise EqnasError(f"{where}: expected a file path or a shipped name, got {value!r}")
    if (base / value).is_file():
        return str(base / value)
    try:
        return str(SHELVES[kind].find(value))
    except EqnasError as error:
        raise EqnasError(f"{where}: {error} (looked beside the study file, in the working directory and among "
                         "the shipped names)") from None


def _arm(value: Any, where: str, base: Path) -> Arm:
    mapping = _mapping(value, where)
    check_keys(mapping, ARM_KEYS, where)
    if "name" not in mapping or not isinstance(mapping["name"], str):
        raise EqnasError(f"{where}: missing key 'name' (a short label such as c8 or plain+rot)")
    if ("space" in mapping) == ("arch" in mapping):
        raise EqnasError(f"{where}: give exactly one of 'space' (a spaces/*.yaml to search) or 'arch' "
                         f"(a fixed architecture file)")
    kind = "space" if "space" in mapping else "arch"
    path = _resolve_path(mapping[kind], f"{where}.{kind}", base, kind)
    augment = mapping.get("augment")
    if augment is not None:
        from eqnas.train.augment import AUGMENTATIONS

        if augment not in AUGMENTATIONS:
            raise EqnasError(f"{where}.augment: {augment!r} is not one of {', '.join(AUGMENTATIONS.names())}")
    budgets = _budgets(mapping["budgets"], f"{where}.budgets") if "budgets" in mapping else None
    return Arm(name=mapping["name"], augment=augment, budgets=budgets, **{kind: path})


def _check_runs(config: StudyConfig, where: str) -> None:
    """Every combination the grid will train must be a valid TrainConfig (fails before training)."""
    if not 0.0 < config.val_fraction < 1.0:
        raise EqnasError(f"{where}.val_fraction: use a number strictly between 0 and 1, got {config.val_fraction!r}")
    public, subset = config.search_data.public_split, config.search.subset
    if public is not None and subset is not None and subset > public - max(1, round(config.val_fraction * public)):
        raise EqnasError(f"{where}.search.subset: {subset} is more than the public part's {public} images leave "
                         f"for proxy training once val_fraction of them validate; lower it or raise search_data.public_split")
    for arm in config.arms:
        for epsilon in config.epsilons:
            try:
                config.run_config(arm, epsilon, config.seeds[0])
            except EqnasError as error:
                setting = "without DP" if epsilon is None else f"at epsilon {epsilon:g}"
                raise EqnasError(f"{where}: arm {arm.name!r} {setting}: {error}") from None
