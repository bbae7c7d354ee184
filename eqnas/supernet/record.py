"""A supernet run folder: `supernet.pt` holds the space (with its outer choices), the kernel
mode, the store and the training progress, so a training resumes and any subnet can be
rebuilt with its weights (`load_subnet`). Tensors and JSON-like values only: it loads with
`torch.load(..., weights_only=True)`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from eqnas.errors import EqnasError
from eqnas.families.network import EquivariantNet
from eqnas.search.space import Proxy, SearchSpace
from eqnas.supernet.supernet import Subnet, Supernet
from eqnas.train.checkpoint import save_atomically

FILE = "supernet.pt"
SUPERNETS = "supernet"  # a search run folder's folder of supernets, one per outer choice
FORMAT = 1


def supernet_file(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    return path if path.suffix == ".pt" else path / FILE


def save_supernet(run_dir: str | Path, supernet: Supernet, **progress: Any) -> Path:
    """Writes atomically (temporary file, then rename); `progress` must be JSON-like or state dicts."""
    path = supernet_file(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_atomically(path, {"format": FORMAT, "space": space_to_dict(supernet.space), "outer": supernet.outer,
                                  "kernels": supernet.kernel_mode.name, "state_dict": supernet.state_dict(), **progress})


def read_supernet(run_dir: str | Path) -> dict[str, Any]:
    path = supernet_file(run_dir)
    if not path.is_file():
        raise EqnasError(f"no trained supernet at {str(path)!r}: pass a folder holding {FILE}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or corrupt file: say so in one line
        raise EqnasError(f"{path}: not an eqnas supernet ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EqnasError(f"{path}: not an eqnas supernet (format {FORMAT} expected)")
    return payload


def supernet_from(payload: dict[str, Any]) -> Supernet:
    supernet = Supernet(space_from_dict(payload["space"]), payload["outer"], payload["kernels"])
    supernet.load_state_dict(payload["state_dict"])
    return supernet


def load_supernet(run_dir: str | Path) -> Supernet:
    """The trained supernet of a run folder (CPU, eval mode)."""
    return supernet_from(read_supernet(run_dir)).eval()


def supernet_files(run_dir: str | Path) -> list[Path]:
    """The trained supernets a folder offers: its own `supernet.pt`, else those of a search run
    folder (`<run>/supernet/<outer choice>/supernet.pt`, one per group or restriction schedule),
    looked for in the folder and, for one budget's folder of a multi-budget search, its parent."""
    path = Path(run_dir)
    if path.suffix == ".pt" or (path / FILE).is_file():
        return [supernet_file(path)]
    for folder in (path, path.parent):
        found = sorted((folder / SUPERNETS).glob(f"*/{FILE}"))
        if found:
            return found
    return [supernet_file(path)]  # none: read_supernet says so


def load_subnet(run_dir: str | Path, subnet: Subnet) -> EquivariantNet:
    """The static network of `subnet` (an architecture file such as best.json, an Arch or a
    sample) holding the weights of the supernet trained in `run_dir` (a supernet folder or a
    search run folder; see `supernet_files`), in eval mode. Its batch norms hold the supernet's
    shared statistics: recalibrate them (eqnas.supernet.norms) on data before trusting its
    eval-mode outputs."""
    *others, last = supernet_files(run_dir)
    for path in others:  # the supernet of the subnet's group (or schedule) is the one that holds it
        try:
            return load_supernet(path).extract(subnet).eval()
        except EqnasError:
            continue
    return load_supernet(last).extract(subnet).eval()


def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    return {"name": space.name, "choices": {label: list(values) for label, values in space.choices.items()},
            "stage_count": space.stage_count, "description": space.description}


def space_from_dict(data: dict[str, Any]) -> SearchSpace:
    choices = {label: tuple(values) for label, values in data["choices"].items()}
    return SearchSpace(name=data["name"], choices=choices, proxy=Proxy(), stage_count=data["stage_count"],
                       description=data["description"])
