"""Shared test helpers: seeded random architectures over every registered family."""
from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest
import torch

from torch import nn

from eqnas.arch import HEADS, INVARIANT_HEADS, Arch, Stage, Stem
from eqnas.families import FAMILIES
from eqnas.groups import FieldType, parse_group

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def field_type(group: str, fields: int, regular: bool = True) -> FieldType:
    return FieldType(parse_group(group), fields, regular)


def randomized(module: nn.Module, seed: int) -> nn.Module:
    """float64, with random values in every parameter (biases and norm affines start constant)."""
    torch.manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for param in module.parameters():
            param.normal_()
    return module


def random_arch(rng: random.Random, family: str, group: str, kernels=(1, 3, 5), max_width: int = 3,
                stage_groups: tuple[str | None, ...] | None = None, **overrides) -> Arch:
    """A small random architecture of `family` whose input size is exact for its strides."""
    stages_count = len(stage_groups) if stage_groups else rng.randint(1, 2)
    groups = stage_groups or (None,) * stages_count
    stages = tuple(
        Stage(
            depth=rng.randint(1, 2),
            width=rng.randint(1, max_width),
            kernel=rng.choice(kernels),
            stride=rng.choice((1, 2)),
            block=rng.choice(FAMILIES[family].blocks),
            group=g,
        )
        for g in groups
    )
    stem = Stem(width=rng.randint(1, max_width), kernel=rng.choice([k for k in kernels if k > 1] or [3]))
    arch = Arch(family=family, group=group, stem=stem, stages=stages, resolution=13,
                in_channels=rng.choice((1, 3)), num_classes=rng.randint(2, 5), **overrides)
    arch = arch.replace(resolution=arch.exact_resolution(rng.randint(9, 17)))
    if "head" in overrides:
        return arch
    return arch.replace(head=rng.choice(HEADS if arch.final_group.is_trivial else INVARIANT_HEADS))


@pytest.fixture
def rng() -> random.Random:
    return random.Random(0)


@pytest.fixture(scope="session", autouse=True)
def fresh_basis_cache(tmp_path_factory):
    """Every test session computes its kernel bases through escnn (no stale disk cache)."""
    import os

    os.environ["EQNAS_CACHE"] = str(tmp_path_factory.mktemp("eqnas-cache"))
    yield
