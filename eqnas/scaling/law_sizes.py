"""Which model sizes and training-set sizes a scaling-law sweep uses: pure choices from a space
and from the command line, separate from running the sweep."""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from eqnas.errors import EqnasError
from eqnas.search.space import Sample, SearchSpace

CANDIDATE_LIMIT = 300  # a larger space is sized from a seeded random sample of this many
FRACTION_RATIO = 3.0  # --data-fractions K: 1/3^(K-1), ..., 1/9, 1/3, 1


def log_fractions(count: int) -> tuple[float, ...]:
    """count fractions a factor 3 apart ending at 1: 3 -> (1/9, 1/3, 1)."""
    return tuple(FRACTION_RATIO ** -(count - 1 - i) for i in range(count))


def parse_fractions(text: str) -> tuple[float, ...]:
    """'3' -> log_fractions(3) = (0.111, 0.333, 1); '0.1,0.3,1' -> as given, each in (0, 1]."""
    text = text.strip()
    if text.isdigit():
        if int(text) < 1:
            raise EqnasError(f"--data-fractions {text}: use a count of at least 1, or fractions like 0.1,0.3,1")
        return log_fractions(int(text))
    values = []
    for part, value in _numbers(text, "--data-fractions", "use a count like 3 or fractions in (0, 1] like 0.1,0.3,1"):
        if not 0 < value <= 1:
            raise EqnasError(f"--data-fractions: {part} is not in (0, 1]; each fraction of the "
                             "training images must be above 0 and at most 1")
        values.append(value)
    if len(set(values)) != len(values):
        raise EqnasError(f"--data-fractions {text!r}: a fraction is repeated; give each once")
    return tuple(values)


def parse_sizes(text: str) -> int | tuple[float, ...]:
    """'3' -> 3 log-spaced sizes; '2e4,1e5,5e5' -> the model nearest each parameter count."""
    text = text.strip()
    if text.isdigit():
        if int(text) < 1:
            raise EqnasError(f"--sizes {text}: use a count of at least 1, or parameter counts like 2e4,1e5")
        return int(text)
    targets = []
    for part, value in _numbers(text, "--sizes", "use a count like 3 or parameter counts like 2e4,1e5,5e5"):
        if not (math.isfinite(value) and value > 0):
            raise EqnasError(f"--sizes: {part} is not a positive parameter count")
        targets.append(value)
    return tuple(targets)


def _numbers(text: str, flag: str, hint: str) -> list[tuple[str, float]]:
    """The comma-separated numbers of a flag, each with its text (for the error messages)."""
    numbers = []
    for part in text.split(","):
        try:
            numbers.append((part.strip(), float(part)))
        except ValueError:
            raise EqnasError(f"{flag} {text!r}: {part.strip()!r} is not a number; {hint}") from None
    return numbers


# --- choosing sizes -----------------------------------------------------------------------


def candidate_samples(space: SearchSpace, limit: int = CANDIDATE_LIMIT, seed: int = 0) -> list[Sample]:
    """Every sample of a space with at most `limit`; else `limit` seeded random samples plus the
    samples with every label at its smallest and at its largest value, so the size range
    reaches both ends of the space."""
    if space.size() <= limit:
        return space.enumerate()
    searched = space.searched()
    ends = [{label: pick(values, key=_order(values)) for label, values in searched.items()} for pick in (min, max)]
    found = {space.key(sample): sample for sample in ends}
    rng = random.Random(seed)
    for _ in range(20 * limit):  # bounded: draws repeat in a space barely above the limit
        if len(found) >= limit + len(ends):
            break
        sample = {label: rng.choice(values) for label, values in searched.items()}
        found.setdefault(space.key(sample), sample)
    return list(found.values())


def _order(values: list) -> Callable[[Any], tuple]:
    """Numbers by value, anything else (group names) by its place in the choice list."""
    return lambda v: (0, v, 0) if isinstance(v, (int, float)) else (1, 0, values.index(v))


def pick_sizes(params: Sequence[int], sizes: int | tuple[float, ...]) -> list[int]:
    """Indices into `params` of the chosen models, smallest first, each with a different N.

    A count k takes targets log-spaced from the smallest to the largest N and, target by target,
    the nearest unused N (log distance). Explicit targets take the nearest N each, and must
    lie within a factor 2 of the space's range and pick different models."""
    first: dict[int, int] = {}
    for index, n in enumerate(params):
        first.setdefault(n, index)
    distinct = sorted(first)
    if not distinct:
        raise EqnasError("no valid architecture in this space to take sizes from")
    low, high = distinct[0], distinct[-1]
    chosen: list[int] = []
    if isinstance(sizes, int):
        if sizes > len(distinct):
            raise EqnasError(f"--sizes {sizes}: the space has only {len(distinct)} distinct parameter counts "
                             f"({', '.join(map(str, distinct[:12]))}{', ...' if len(distinct) > 12 else ''}); "
                             f"ask for at most {len(distinct)}, or give targets like 2e4,1e5")
        pool = list(distinct)
        for target in np.geomspace(low, high, sizes):
            chosen.append(_nearest(target, pool))
            pool.remove(chosen[-1])
    else:
        by_size: dict[int, float] = {}
        for target in sizes:
            if not low / 2 <= target <= high * 2:
                raise EqnasError(f"--sizes target {target:g} is outside this space's range of {low} to {high} "
                                 "parameters (a factor 2 beyond either end is allowed)")
            n = _nearest(target, distinct)
            if n in by_size:
                raise EqnasError(f"--sizes targets {by_size[n]:g} and {target:g} both pick the model with {n} "
                                 "parameters; give targets further apart")
            by_size[n] = target
        chosen = list(by_size)
    return [first[n] for n in sorted(chosen)]


def _nearest(target: float, pool: Sequence[int]) -> int:
    """The size in pool closest to target in log distance (the smaller one on a tie)."""
    return min(pool, key=lambda n: (abs(math.log(n / target)), n))


def subset_sizes(fractions: Sequence[float], total: int) -> tuple[int, ...]:
    """Training images per fraction of `total`, rounded; each must be a distinct positive count."""
    counts = []
    for fraction in fractions:
        count = round(fraction * total)
        if count < 1:
            raise EqnasError(f"data fraction {fraction:g} of {total} training images is less than one image; "
                             "use a larger fraction or --max-train")
        if count in counts:
            raise EqnasError(f"data fractions give {count} training images twice (of {total}); "
                             "use fractions further apart or a larger --max-train")
        counts.append(count)
    return tuple(counts)


# --- running ------------------------------------------------------------------------------
