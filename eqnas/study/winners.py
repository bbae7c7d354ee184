"""One architecture per cell: a searched arm's winner (eqnas's own search, proxy trainer, on the
study's search data), or a fixed architecture file, checked against the budget first."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from eqnas.arch import Arch
from eqnas.data.registry import dataset_info
from eqnas.errors import EqnasError
from eqnas.profiling import arch_flops, arch_params, format_flops
from eqnas.search.fidelity import Fidelity, Rung
from eqnas.search.proxy import proxy_trainer
from eqnas.search.runner import SearchConfig, run_search
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.space import SearchSpace, fit_to_data, load_space, replace_proxy
from eqnas.study.config import StudyConfig
from eqnas.study.data import StudyData
from eqnas.study.grid import Cell
from eqnas.train.adapt import TrainingMode, adapt_arch

SearchFn = Callable[..., object]  # the signature of eqnas.search.runner.run_search


def trained_arch(config: StudyConfig, arch: Arch, cell: Cell, epsilon: float | None) -> Arch:
    """The network a retraining of the cell builds from `arch` (adapted to the data and to DP)."""
    info = dataset_info(cell.dataset, config.data_root, resolution=arch.resolution)
    return adapt_arch(arch, info, config.run_config(cell.arm, epsilon, config.seeds[0]))[0]


def training_modes(config: StudyConfig, cell: Cell) -> tuple[TrainingMode, ...]:
    """Every way the cell's winner retrains (no DP, DP): its search counts each one's FLOPs."""
    return tuple(sorted({TrainingMode.of(config.run_config(cell.arm, epsilon, config.seeds[0]))
                         for epsilon in config.epsilons}, key=repr))


def cost(arch: Arch) -> tuple[int, int]:
    """(FLOPs, trainable parameters) of a network, measured once per distinct network."""
    return _cost(json.dumps(arch.to_dict(), sort_keys=True))


@lru_cache(maxsize=None)
def _cost(arch_json: str) -> tuple[int, int]:
    arch = Arch.from_dict(json.loads(arch_json))
    return arch_flops(arch), arch_params(arch)


def cell_space(config: StudyConfig, cell: Cell, data: StudyData) -> SearchSpace:
    """A searched cell's space, its proxy set by the study and fitted to the search data."""
    settings = config.search
    return fit_to_data(replace_proxy(load_space(cell.arm.space), data=data.search_dataset(cell.dataset),
                                     data_root=config.data_root, epochs=settings.epochs, subset=settings.subset,
                                     seed=settings.seed))


def check_arms(config: StudyConfig, cells: list[Cell], data: StudyData) -> None:
    """Before anything trains: every searched space has a candidate within each of its budgets,
    and every fixed architecture fits every budget it is placed at, measured on the network
    that trains (in every privacy setting). Cells that build the same networks (one space file,
    the same choices once fitted to the data, the same training modes) share their FLOP counts:
    a sample's FLOPs depend neither on the budget nor on the proxy's data beyond its shape."""
    counts: dict[tuple, dict] = {}
    for cell in cells:
        if cell.arm.searched:
            space, modes = cell_space(config, cell, data), training_modes(config, cell)
            shared = counts.setdefault((cell.arm.space, repr(space.choices), modes), {})
            try:
                FlopFilter(space, cell.budget, modes=modes, _cache=shared).check_feasible()
            except EqnasError as error:
                raise EqnasError(f"arm {cell.arm.name!r} on {cell.dataset} at {format_flops(cell.budget)}: "
                                 f"{error}") from None
            continue
        arch = Arch.load(cell.arm.arch)
        for epsilon in config.epsilons:
            flops = cost(trained_arch(config, arch, cell, epsilon))[0]
            if flops > cell.budget:
                raise EqnasError(f"arm {cell.arm.name!r}: {cell.arm.arch} has {format_flops(flops)} FLOPs on "
                                 f"{cell.dataset}, over the budget {format_flops(cell.budget)}; give the arm budgets "
                                 f"it fits (budgets: [{format_flops(flops * 1.05)}] or more)")


def search_dir(out: Path, cell: Cell) -> Path:
    """Arms that share a space share its searches (the proxy trains without augmentation)."""
    return out / "searches" / cell.dataset / Path(cell.arm.space).stem / format_flops(cell.budget)


def cell_arch(config: StudyConfig, cell: Cell, data: StudyData, out: Path, search_fn: SearchFn = run_search,
              echo: Callable[[str], None] = print) -> Path:
    """The architecture file the cell retrains: the search's best.json (searched once; a killed
    search resumes) or the fixed file."""
    if not cell.arm.searched:
        return Path(cell.arm.arch)
    folder = search_dir(out, cell)
    best = folder / "best.json"
    if best.exists() and (folder / "summary.json").exists():
        return best
    settings = config.search
    space = cell_space(config, cell, data)
    one_rung = Fidelity((Rung(space.proxy.epochs, space.proxy.subset),))  # the study's proxy: it fits the public split
    search = SearchConfig(flops_max=cell.budget, strategy=settings.strategy, trials=settings.trials,
                          seed=settings.seed, resume=(folder / "trials.jsonl").exists(), early_stop=settings.early_stop,
                          fidelity=one_rung, modes=training_modes(config, cell))
    echo(f"searching {space.name} for {cell.dataset} under {format_flops(cell.budget)} FLOPs "
         f"({settings.strategy}, {settings.trials} trials) -> {folder}")
    trainer = proxy_trainer(space.proxy, config.device,
                            load=lambda resolution: data.search_splits(cell.dataset, resolution))
    search_fn(space, search, trainer, folder, echo=echo)
    if not best.exists():
        raise EqnasError(f"the search in {folder} trained nothing within {format_flops(cell.budget)} FLOPs: "
                         f"raise the budget or widen the space {cell.arm.space}")
    return best
