"""The architecture file: a versioned, validated, frozen description that every subsystem
exchanges (space -> search -> profiling -> training -> scaling -> export).

Widths are counted in fields of the stage's own group, so one file builds a C8, C4 or trivial
network by changing `group`. Each stage may declare a subgroup of the previous stage's group
(restriction: D8 -> D4 -> D1, C8 -> C4 -> trivial, D4 -> D2, ...).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqnas.catalog import ARCHS
from eqnas.errors import EqnasError
from eqnas.families import FAMILIES, family_names
from eqnas.families.block_names import parse_block
from eqnas.groups import Group, parse_group
from eqnas.nn.activation import ACTIVATIONS as _ACTIVATION_LAYERS
from eqnas.nn.norm import NORMS as _NORM_LAYERS
from eqnas.nn.pooling import InvariantPool
from eqnas.textfile import read_text

VERSION = 1
# the names the layer library builds, so that a file that validates also builds
NORMS = tuple(_NORM_LAYERS)
ACTIVATIONS = tuple(_ACTIVATION_LAYERS)
INVARIANT_HEADS = tuple(InvariantPool.INVARIANTS)  # invariants per last-stage field: 1 or 4
HEADS = (*INVARIANT_HEADS, "flatten")  # "flatten" keeps positions: for a trivial final group only


@dataclass(frozen=True)
class Stem:
    """The lifting convolution: image channels (trivial fields) -> `width` regular fields."""

    width: int
    kernel: int = 5
    stride: int = 1
    padding: int | None = None  # zero padding in pixels; None: kernel // 2


@dataclass(frozen=True)
class Stage:
    """`depth` blocks of `width` fields; the first block applies `stride`."""

    depth: int
    width: int
    kernel: int = 3
    stride: int = 1
    block: str = "basic"
    group: str | None = None  # None: the previous stage's group
    padding: int | None = None  # of every convolution in the stage; None: kernel // 2


@dataclass(frozen=True)
class Arch:
    family: str
    group: str
    stem: Stem
    stages: tuple[Stage, ...]
    resolution: int
    in_channels: int = 1
    num_classes: int = 10
    norm: str = "batch"
    activation: str = "relu"
    weight_standardization: bool = False
    post_residual_norm: bool = False
    head: str = "max"  # "max": max over the group, mean over space; "max_mean": both of both;
    # "flatten": max over the group, every position kept (a trivial final group only)
    hidden: int = 0  # units of a hidden layer (with `activation`) before the classifier; 0: none
    version: int = VERSION
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        _validate(self)

    # --- derived facts -------------------------------------------------------------------
    @property
    def base_group(self) -> Group:
        return parse_group(self.group)

    def stage_groups(self) -> list[Group]:
        """The group of each stage after restrictions."""
        groups, current = [], self.base_group
        for stage in self.stages:
            current = parse_group(stage.group) if stage.group is not None else current
            groups.append(current)
        return groups

    @property
    def final_group(self) -> Group:
        """The group the logits are invariant to."""
        return self.stage_groups()[-1] if self.stages else self.base_group

    @property
    def total_stride(self) -> int:
        stride = self.stem.stride
        for stage in self.stages:
            stride *= stage.stride
        return stride

    def exact_resolution(self, near: int | None = None) -> int:
        """The size closest to `near` (default: `resolution`) at or above it where grid
        transformations are exact: every strided layer samples a grid symmetric about the
        image centre, (size + 2 padding - kernel) divisible by its stride. With the default
        padding (kernel // 2, odd kernels) that is (size - 1) divisible by the total stride."""
        size = self.resolution if near is None else near
        while not self._symmetric(size):
            size += 1
        return size

    def _symmetric(self, size: int) -> bool:

        shrink = FAMILIES.get_or_fail(self.family).shrink
        blocks = [(1, self.stem.kernel, self.stem.stride, self.stem.padding)]
        blocks += [(stage.depth, stage.kernel, stage.stride, stage.padding) for stage in self.stages]
        for depth, kernel, stride, padding in blocks:
            padding = kernel // 2 if padding is None else padding
            for index in range(max(depth, 1)):  # a stage of depth 0 may still stride (resnet9's pool)
                step = stride if index == 0 else 1
                if (size + 2 * padding - kernel) % step:
                    return False
                size = (size + 2 * padding - kernel) // step + 1
            size -= shrink
        return True

    # --- conversion ----------------------------------------------------------------------
    def replace(self, **changes: Any) -> "Arch":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stages"] = [dataclasses.asdict(s) for s in self.stages]
        if not data["extra"]:
            del data["extra"]
        return {"version": data.pop("version"), **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data: Any, where: str = "arch") -> "Arch":
        if not isinstance(data, dict):
            raise EqnasError(f"{where}: expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        version = data.get("version", VERSION)
        if version != VERSION:
            raise EqnasError(f"{where}.version: {version!r} is not supported (this eqnas reads version {VERSION})")
        _reject_unknown(data, cls, where)
        _require(data, ("family", "group", "stem", "stages", "resolution"), where)
        stem = _build(Stem, data["stem"], f"{where}.stem")
        if not isinstance(data["stages"], list) or not data["stages"]:
            raise EqnasError(f"{where}.stages: expected a non-empty list of stages")
        stages = tuple(_build(Stage, s, f"{where}.stages[{i}]") for i, s in enumerate(data["stages"]))
        rest = {k: v for k, v in data.items() if k not in ("stem", "stages")}
        _check_types(cls, rest, where)
        return cls(stem=stem, stages=stages, **rest)

    @classmethod
    def load(cls, path: str | Path) -> "Arch":
        """An architecture file, or a shipped example by name (``"c8_small"``)."""
        path = ARCHS.find(path)
        text = read_text(path, "architecture file")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise EqnasError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
        return cls.from_dict(data, where=str(path))


# --- validation --------------------------------------------------------------------------
_TYPES = {int: "an integer", str: "a string", bool: "true or false", dict: "an object"}


def _field_types(cls: type) -> dict[str, type]:
    hints = {"int": int, "str": str, "bool": bool, "str | None": str, "int | None": int, "dict[str, Any]": dict}
    return {f.name: hints.get(str(f.type), object) for f in dataclasses.fields(cls)}


def _reject_unknown(data: dict, cls: type, where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise EqnasError(f"{where}: unknown key {key!r} (valid keys: {', '.join(sorted(known))})")


def _require(data: dict, keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in data:
            raise EqnasError(f"{where}: missing key {key!r}")


def _check_types(cls: type, data: dict, where: str) -> None:
    types = _field_types(cls)
    optional = {f.name for f in dataclasses.fields(cls) if f.default is None}
    for key, value in data.items():
        expected = types.get(key, object)
        if expected is object or (value is None and key in optional):
            continue
        wrong_bool = expected is int and isinstance(value, bool)
        if not isinstance(value, expected) or wrong_bool:
            raise EqnasError(f"{where}.{key}: expected {_TYPES[expected]}, got {value!r}")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise EqnasError(f"{where}: expected an object, got {data!r}")
    _reject_unknown(data, cls, where)
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    _require(data, tuple(required), where)
    _check_types(cls, data, where)
    return cls(**data)


def _positive(value: int, where: str) -> None:
    if value < 1:
        raise EqnasError(f"{where}: must be a positive integer, got {value}")


def _kernel(value: int, group: Group, where: str) -> None:
    if value < 1 or (value % 2 == 0 and not group.is_trivial):
        raise EqnasError(f"{where}: kernel size must be odd and positive, got {value} "
                         f"(even sizes only where the group is trivial: rotations need a centre pixel)")


def _padding(value: int | None, kernel: int, where: str) -> None:
    if value is not None and not 0 <= value <= kernel // 2:
        raise EqnasError(f"{where}: must be between 0 and kernel // 2 = {kernel // 2}, got {value}")


def _one_of(value: str, valid: tuple[str, ...], where: str) -> None:
    if value not in valid:
        raise EqnasError(f"{where}: {value!r} is not one of {', '.join(valid)}")


def _validate(arch: Arch) -> None:
    _one_of(arch.family, tuple(family_names()), "arch.family")
    current = parse_group(arch.group)
    for key in ("resolution", "in_channels", "num_classes"):
        _positive(getattr(arch, key), f"arch.{key}")
    _one_of(arch.norm, NORMS, "arch.norm")
    _one_of(arch.activation, ACTIVATIONS, "arch.activation")
    _one_of(arch.head, HEADS, "arch.head")
    if arch.hidden < 0:
        raise EqnasError(f"arch.hidden: must be 0 (no hidden layer) or more, got {arch.hidden}")
    _positive(arch.stem.width, "arch.stem.width")
    _positive(arch.stem.stride, "arch.stem.stride")
    _kernel(arch.stem.kernel, current, "arch.stem.kernel")
    _padding(arch.stem.padding, arch.stem.kernel, "arch.stem.padding")
    for i, stage in enumerate(arch.stages):
        where = f"arch.stages[{i}]"
        _positive(stage.width, f"{where}.width")
        _positive(stage.stride, f"{where}.stride")
        if stage.depth < 0:
            raise EqnasError(f"{where}.depth: must be 0 or more, got {stage.depth}")
        parse_block(stage.block, FAMILIES[arch.family].blocks, f"{where}.block")
        if stage.group is not None:
            group = parse_group(stage.group)
            if not group.is_subgroup_of(current):
                raise EqnasError(
                    f"{where}.group: {group} is not a subgroup of the previous stage's group {current}"
                )
            current = group
        _kernel(stage.kernel, current, f"{where}.kernel")
        _padding(stage.padding, stage.kernel, f"{where}.padding")
        if stage.padding is not None and not FAMILIES[arch.family].stage_padding:
            raise EqnasError(f"{where}.padding: the {arch.family} family pads kernel // 2 (its blocks keep the map "
                             f"size); stage padding is for {', '.join(n for n, f in FAMILIES.items() if f.stage_padding)}")
    if arch.head == "flatten" and not current.is_trivial:
        raise EqnasError(f"arch.head: 'flatten' keeps positions, so the logits would not be invariant to "
                         f"{current}; use one of {', '.join(INVARIANT_HEADS)} (or restrict the last stage to trivial)")
