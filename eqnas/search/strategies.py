"""Search strategies by name: what each does and which runner runs it. Importing this module
imports neither NNI nor torch, so the CLI checks a name before any other work.

A runner is a function named by ``"module:function"`` (``eqnas.lazy.Lazy``), imported only
when a search starts and called as ``function(space, config, out_dir, device, echo)``. Adding a
strategy is one module holding its runner plus one ``register_strategy`` line below. NNI's strategies share one runner; the NNI
door (``eqnas.search.nni_strategies``) keys its factories by the same names.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from eqnas.lazy import Lazy
from eqnas.registry import Registry

NNI_RUNNER = Lazy("eqnas.search.runner:run_nni_search")  # NNI's multi-trial strategies


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str  # one line, shown by `eqnas search --help`
    runner: Lazy

    @property
    def through_nni(self) -> bool:
        return self.runner == NNI_RUNNER

    def run(self, space: Any, config: Any, out_dir: Path, device: str, echo: Callable[[str], None]) -> Any:
        return self.runner(space, config, out_dir, device, echo)


STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(name: str, summary: str, runner: Lazy) -> Strategy:
    return STRATEGIES.add(name, Strategy(name, summary, runner))


def nni_strategy_names() -> tuple[str, ...]:
    return tuple(name for name, strategy in STRATEGIES.items() if strategy.through_nni)


register_strategy("evolution", "regularized evolution, population scaled to the trials (NNI)", NNI_RUNNER)
register_strategy("random", "uniform samples (NNI)", NNI_RUNNER)
register_strategy("tpe", "tree-structured Parzen estimator after 20 random trials (NNI)", NNI_RUNNER)
register_strategy("grid", "the whole grid in shuffled order (NNI)", NNI_RUNNER)
register_strategy("rl", "policy-gradient controller; needs tianshou and gym (NNI)", NNI_RUNNER)
register_strategy("supernet", "train one weight-sharing supernet (--supernet-epochs), then score subnets with its "
                  "weights: every one when the space has at most --trials, else evolution (NNI); several --flops",
                  Lazy("eqnas.supernet.search:run_supernet_search"))
register_strategy("compound", "EfficientNet compound scaling of the space's smallest network",
                  Lazy("eqnas.scaling.compound_search:compound_from_space"))
