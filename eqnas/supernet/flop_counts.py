"""A supernet run's FLOP counts, kept in its folder (`flops.json`) so that a resumed or repeated
search does not count them again: a cap counts every subnet of the space (7 min for c8_resnet's
5,184 on one CPU thread), and each budget's filter reads the same counts.

Counts depend on the training modes the search counts in (a `--for-dp` search counts group norm
as well), so the file names them and counts for other modes are not read back."""
from __future__ import annotations

import json
import os
from pathlib import Path

from eqnas.train.adapt import TrainingMode

FLOPS_FILE = "flops.json"


def _modes(modes: tuple[TrainingMode, ...]) -> list[str]:
    return sorted(repr(mode) for mode in modes)


def read_flop_counts(out_dir: Path, modes: tuple[TrainingMode, ...]) -> dict[str, int | None]:
    """Sample key -> FLOPs (None: not a valid architecture), as a FlopFilter cache; empty when the
    folder holds none for these modes."""
    path = Path(out_dir) / FLOPS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return dict(data["flops"]) if data.get("modes") == _modes(modes) else {}


def write_flop_counts(out_dir: Path, modes: tuple[TrainingMode, ...], counts: dict[str, int | None]) -> None:
    path = Path(out_dir) / FLOPS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"modes": _modes(modes), "flops": counts}, sort_keys=True))
    os.replace(tmp, path)  # a reader never sees half a file
