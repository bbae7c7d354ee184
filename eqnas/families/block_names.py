"""Block names in architecture files: a kind, then options, as in timm's block strings
(depth, kernel, stride, width and group are fields of the stage, so the name carries the rest).

    basic, bottleneck         ResNet blocks (no options)
    mbconv_e6_se0.25_sd0.1    inverted residual: expand ratio 6, squeeze-and-excitation ratio 0.25
                              (hidden units per input field), stochastic depth 0.1
    fused_e4                  Fused-MBConv (EfficientNetV2): the same options
    conv                      one conv-norm-act (EfficientNet's 1x1 head convolution)

Options left out take their defaults (expand 1, no SE, no stochastic depth). Pure Python: the
architecture file is validated with it before anything is built.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from eqnas.errors import EqnasError


@dataclass(frozen=True)
class BlockSpec:
    kind: str
    expand: int = 1     # hidden fields = input fields x expand
    se: float = 0.0     # squeeze-and-excitation hidden units = input fields x se (at least 1); 0: none
    drop: float = 0.0   # stochastic depth: probability that a sample skips the residual branch


# option prefix -> (BlockSpec field, type, valid range as text, check)
OPTIONS = {
    "e": ("expand", int, "an integer >= 1", lambda v: v >= 1),
    "se": ("se", float, "a ratio in (0, 1]", lambda v: 0 < v <= 1),
    "sd": ("drop", float, "a probability in [0, 1)", lambda v: 0 <= v < 1),
}
KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "basic": (), "bottleneck": (), "conv": (), "mbconv": ("e", "se", "sd"), "fused": ("e", "se", "sd"),
}
_OPTION = re.compile(r"^(se|sd|e)(\d+(?:\.\d+)?)$")


def parse_block(name: str, kinds: tuple[str, ...], where: str = "block") -> BlockSpec:
    """The block a name describes, or one error naming the bad part and what is valid."""
    kind, *tokens = str(name).split("_")
    if kind not in kinds:
        raise EqnasError(f"{where}: {name!r} is not a block of this family: use one of {', '.join(kinds)}")
    allowed = KIND_OPTIONS[kind]
    values: dict[str, float | int] = {}
    for token in tokens:
        match = _OPTION.match(token)
        if not match or match.group(1) not in allowed:
            valid = ", ".join(f"{p}<{OPTIONS[p][2]}>" for p in allowed) or "none"
            raise EqnasError(f"{where}: {token!r} in {name!r} is not an option of {kind} blocks (options: {valid})")
        field, kind_type, text, check = OPTIONS[match.group(1)]
        try:
            value = kind_type(match.group(2))
        except ValueError:
            raise EqnasError(f"{where}: {token!r} in {name!r}: {match.group(1)} must be {text}") from None
        if field in values:
            raise EqnasError(f"{where}: {name!r} gives {match.group(1)} twice")
        if not check(value):
            raise EqnasError(f"{where}: {token!r} in {name!r}: {match.group(1)} must be {text}")
        values[field] = value
    return BlockSpec(kind, **values)
