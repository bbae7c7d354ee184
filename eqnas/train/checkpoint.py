"""Checkpoints: the evaluated weights (state_dict) with the architecture that builds them.
`eqnas.build.load_trained` turns one back into the trained network.

The file holds only tensors and JSON-like values, so it loads with `torch.load(...,
weights_only=True)`; nothing in it executes code.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from eqnas.arch import Arch
from eqnas.errors import EqnasError

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


def save_checkpoint(path: Path, state_dict: dict[str, torch.Tensor], arch: Arch, **info: Any) -> Path:
    """Writes atomically (temporary file, then rename), so an interrupt never leaves half a file.
    `info` (epoch, which weights, ...) must be JSON-like."""
    return save_atomically(path, {"format": FORMAT, "arch": arch.to_dict(), "state_dict": state_dict, **info})


def save_atomically(path: Path, payload: dict[str, Any]) -> Path:
    """torch.save through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint payload of a file or of a `eqnas retrain` output folder."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise EqnasError(f"no checkpoint at {str(path)!r}: pass an `eqnas retrain` output folder or its {CHECKPOINT}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or corrupt file: say so in one line
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise EqnasError(f"{path}: not an eqnas checkpoint ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EqnasError(f"{path}: not an eqnas checkpoint (format {FORMAT} expected)")
    return payload

