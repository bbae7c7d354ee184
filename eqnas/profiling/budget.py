"""FLOP budget strings: '2G', '500M', '1.5e9', '750k'."""
from __future__ import annotations

import math
import re

from eqnas.errors import EqnasError

_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]?)\s*$")


def parse_budget(text: str | float | int) -> int:
    """FLOPs as an integer (fvcore convention: one multiply-add = one FLOP)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, suffix = float(text), ""
    else:
        match = _BUDGET.match(str(text))
        if not match or match.group(2).upper() not in _SUFFIX:
            raise EqnasError(f"bad FLOP budget {text!r}: use a number with an optional K, M, G or T suffix (e.g. 2G, 500M, 1.5e9)")
        value, suffix = float(match.group(1)), match.group(2).upper()
    flops = value * _SUFFIX[suffix]
    if not math.isfinite(flops) or flops <= 0:
        raise EqnasError(f"bad FLOP budget {text!r}: must be a positive finite number")
    return int(round(flops))


def format_flops(flops: float) -> str:
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(flops) >= scale:
            return f"{flops / scale:.3g}{suffix}"
    return f"{flops:.0f}"
