"""The subnets of a space as a supernet sees them: which labels are elastic, the largest and
smallest sample, random samples, and the way back from an architecture file to its sample.

Elastic labels (widths, depths, kernels, `num_stages`, `resolution`) vary inside one supernet;
every other searched label (the group or a stage's group, block, head, norm, ...) is an outer
choice: one supernet per value, fixed with `fix_outer`.
"""
from __future__ import annotations

import dataclasses
import itertools
import random

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.search.space import Sample, SearchSpace

ELASTIC_SUFFIXES = (".width", ".depth", ".kernel")
ELASTIC_LABELS = ("num_stages", "resolution")


def is_elastic(label: str) -> bool:
    return label in ELASTIC_LABELS or label.endswith(ELASTIC_SUFFIXES)


def outer_labels(space: SearchSpace) -> list[str]:
    """Searched labels a supernet cannot share weights across (one supernet per value)."""
    return [label for label in space.searched() if not is_elastic(label)]


def outer_choices(space: SearchSpace) -> list[Sample]:
    """Every valid combination of the outer labels (e.g. each restriction schedule)."""
    labels = outer_labels(space)
    combos = [dict(zip(labels, values)) for values in itertools.product(*(space.choices[l] for l in labels))]
    return [combo for combo in combos if _valid(space, combo)]


def _valid(space: SearchSpace, outer: Sample) -> bool:
    try:
        space.to_arch({**extreme(space, largest=True, outer_ok=True), **outer})
    except EqnasError:
        return False
    return True


def fix_outer(space: SearchSpace, outer: Sample | None = None) -> SearchSpace:
    """The space with its outer labels fixed to `outer` (all must be given, each a valid choice)."""
    outer = dict(outer or {})
    for label, value in outer.items():
        if label not in space.choices:
            raise EqnasError(f"supernet: {label!r} is not a label of space {space.name!r}")
        if is_elastic(label):
            raise EqnasError(f"supernet: {label!r} is elastic inside a supernet; only outer labels are fixed")
        if value not in space.choices[label]:
            raise EqnasError(f"supernet: {label} = {value!r} is not one of {list(space.choices[label])}")
    missing = [label for label in outer_labels(space) if label not in outer]
    if missing:
        label = missing[0]
        raise EqnasError(f"supernet: space {space.name!r} searches {label!r} ({list(space.choices[label])}); "
                         f"a supernet is built per value: fix it, e.g. {{{label!r}: {space.choices[label][0]!r}}}")
    choices = {**space.choices, **{label: (value,) for label, value in outer.items()}}
    fixed = dataclasses.replace(space, choices=choices)
    if not _valid(fixed, {}):
        raise EqnasError(f"supernet: {outer} is not a valid combination in space {space.name!r}")
    return fixed


def extreme(space: SearchSpace, largest: bool, outer_ok: bool = False) -> Sample:
    """The sample with every elastic label at its largest (or smallest) value."""
    if not outer_ok and outer_labels(space):
        raise EqnasError(f"supernet: outer label {outer_labels(space)[0]!r} is not fixed (see fix_outer)")
    pick = max if largest else min
    return {label: pick(values) for label, values in space.searched().items() if is_elastic(label)}


def random_sample(space: SearchSpace, rng: random.Random) -> Sample:
    return {label: rng.choice(values) for label, values in space.searched().items()}


def covering_samples(space: SearchSpace) -> list[Sample]:
    """The largest sample and every one-label change of it: together they hold every layer and
    every largest tensor shape a subnet of the space can have (a residual projection that the
    largest subnet lacks appears once the widths around it differ)."""
    largest = extreme(space, largest=True)
    variants = [{**largest, label: value} for label, values in space.searched().items()
                for value in values if value != largest[label]]
    return [*variants, largest]


def sample_of(space: SearchSpace, arch: Arch) -> Sample:
    """The sample whose architecture is `arch`; an EqnasError names the first value outside the space."""
    data = arch.to_dict()
    sample: Sample = {}
    for label, values in space.searched().items():
        value = _read(data, label, len(arch.stages))
        sample[label] = values[0] if value is _ABSENT else value
        if sample[label] not in values:
            raise EqnasError(f"subnet: {label} = {sample[label]!r} is not in the supernet's choices {list(values)}")
    built = space.to_arch(sample)
    if built.replace(name=arch.name) != arch:
        differing = [key for key, value in built.to_dict().items() if data.get(key) != value and key != "name"]
        key = differing[0] if differing else "stages"
        raise EqnasError(f"subnet: {key} = {data.get(key)!r} does not match the supernet's space "
                         f"{space.name!r} ({built.to_dict().get(key)!r})")
    return sample


_ABSENT = object()


def _read(data: dict, label: str, stage_count: int):
    if label == "num_stages":
        return stage_count
    parts = label.split(".")
    if parts[0] == "stages":
        index = int(parts[1])
        return data["stages"][index].get(parts[2], _ABSENT) if index < stage_count else _ABSENT
    if parts[0] == "stem":
        return data["stem"].get(parts[1], _ABSENT)
    return data.get(label, _ABSENT)


def adapt_space(space: SearchSpace, info) -> SearchSpace:
    """The space with the dataset's image channels and class count (as `adapt_arch` does for one
    architecture; the resolution stays the space's: inputs are resized to it)."""
    choices = {**space.choices, "in_channels": (info.channels,), "num_classes": (info.num_classes,)}
    return dataclasses.replace(space, choices=choices)
