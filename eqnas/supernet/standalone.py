"""The best subnets of a supernet search retrained stand-alone, so each winner has both numbers:
its score with the supernet's weights and its score trained on its own.

Stand-alone: the search proxy's loop and optimiser (`eqnas.search.proxy`) with the reference
recipe's epochs and training images (SupernetOptions.reference), the best epoch kept, scored on
the proxy's seeded validation subset. One line per network in `<run>/retrained.jsonl` (a network
that wins under several budgets trains once; a rerun trains nothing twice) and, per budget,
`retrained.json` with its top K.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from eqnas.arch import Arch
from eqnas.jsonlog import JsonLinesLog
from eqnas.profiling import format_flops
from eqnas.search.fidelity import parse_rungs
from eqnas.search.proxy import proxy_trainer
from eqnas.search.records import TrialLog, arch_identity
from eqnas.search.space import SearchSpace
from eqnas.search.standings import standings
from eqnas.search.supernet_options import SupernetOptions
from eqnas.search.trial import TrainJob

RETRAINED = "retrained.jsonl"


@dataclass(frozen=True)
class Retrained:
    identity: str  # arch_identity of the network
    fidelity: str  # the reference recipe, EPOCHSxIMAGES
    metric: float  # best validation metric of the stand-alone training
    seconds: float


def top_candidates(folder: Path, k: int) -> list[tuple[dict, float, int]]:
    """(architecture, inherited-weight score, FLOPs) of a budget's best k networks, best first."""
    found, seen = [], set()
    for standing in standings(TrialLog(folder / "trials.jsonl").read()):
        identity = arch_identity(standing.record.arch)
        if standing.score is not None and identity not in seen:
            seen.add(identity)
            found.append((standing.record.arch, standing.score, standing.record.flops))
    return found[:k]


def retrain_top(space: SearchSpace, budgets: dict[int, Path], options: SupernetOptions, out_dir: Path, device: str,
                echo: Callable[[str], None]) -> None:
    """Retrains the best `options.top_k` of each budget's folder (budget -> folder)."""
    reference = parse_rungs(options.reference)[0]
    log = JsonLinesLog(out_dir / RETRAINED, Retrained)
    done = {(r.identity, r.fidelity): r for r in log.read()}
    train = proxy_trainer(space.proxy, device)
    for budget, folder in budgets.items():
        rows = []
        for rank, (arch, inherited, flops) in enumerate(top_candidates(folder, options.top_k), start=1):
            identity = arch_identity(arch)
            if (identity, reference.label) not in done:
                echo(f"[{format_flops(budget)}] top {rank}: training {format_flops(flops)} FLOPs stand-alone "
                     f"({reference.label}) ...")
                start = time.perf_counter()
                value = train(Arch.from_dict(arch), None, TrainJob(reference.epochs, reference.images, space.proxy.seed))
                record = Retrained(identity, reference.label, value, time.perf_counter() - start)
                log.append(record)
                done[(identity, reference.label)] = record
            standalone = done[(identity, reference.label)]
            rows.append({"rank": rank, "flops": flops, "inherited": inherited, "standalone": standalone.metric,
                         "standalone_fidelity": reference.label, "seconds": standalone.seconds, "arch": arch})
            echo(f"[{format_flops(budget)}] top {rank}: {format_flops(flops)} FLOPs, {space.proxy.metric} {inherited:.4f} with the "
                 f"supernet's weights, {standalone.metric:.4f} stand-alone ({reference.label})")
        (folder / "retrained.json").write_text(json.dumps(rows, indent=2) + "\n")
