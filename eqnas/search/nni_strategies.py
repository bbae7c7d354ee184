"""NNI's side of the strategy table: one factory per name that ``eqnas.search.strategies`` runs
through NNI (a test checks that the two agree), and NNI's TPE without its pause."""
from __future__ import annotations

import time
from collections.abc import Callable

from eqnas.errors import EqnasError
from eqnas.registry import Registry
from eqnas.search.nni_api import TPE, GridSearch, PolicyBasedRL, Random, RegularizedEvolution, Strategy, nni
from eqnas.search.strategies import nni_strategy_names

StrategyFactory = Callable[[int, int, int], Strategy]  # (seed, max_trials, number of labels)
NNI_STRATEGIES: Registry[StrategyFactory] = Registry("NNI search strategy")
_strategy = NNI_STRATEGIES.register


@_strategy("evolution")
def _evolution(seed: int, max_trials: int, num_labels: int) -> Strategy:
    # NNI's defaults (population 100, tournament 25, p=0.05) suit thousands of trials. Scaled to
    # the budget instead, so that a third of it is random start and two thirds evolution, with a
    # tournament of half the population and about one label mutated per child: on toy spaces
    # of 64-256 points this found the optimum two to five times as often as random search.
    population = min(100, max(4, max_trials // 3))
    return RegularizedEvolution(population_size=population, sample_size=max(2, population // 2),
                                mutation_prob=max(0.05, 1 / num_labels), seed=seed)


@_strategy("random")
def _random(seed: int, max_trials: int, num_labels: int) -> Strategy:
    return Random(seed=seed)


@_strategy("tpe")
def _tpe(seed: int, max_trials: int, num_labels: int) -> Strategy:
    return _SequentialTPE(optimize_mode="maximize", seed=seed)  # NNI's TPE minimises by default


@_strategy("grid")
def _grid(seed: int, max_trials: int, num_labels: int) -> Strategy:
    return GridSearch(shuffle=True, seed=seed)  # shuffled, so a budget smaller than the grid is fair


@_strategy("rl")
def _rl(seed: int, max_trials: int, num_labels: int) -> Strategy:
    try:
        return PolicyBasedRL(samples_per_update=min(20, max(2, max_trials // 5)))
    except ImportError as err:
        raise EqnasError(
            "strategy 'rl' needs packages eqnas does not install: tianshou 0.4.x and gym 0.26 "
            f"(with h5py, numba and tensorboard) ({err}); choose one of "
            f"{', '.join(s for s in nni_strategy_names() if s != 'rl')}, or install them") from err


class _SequentialTPE(TPE):
    """NNI's TPE, without the one-second pause NNI's loop takes after every proposal.

    NNI sleeps even when a worker is idle, which costs a second per proposal, rejected ones
    included; here it waits only while no worker is free.
    """

    def _run(self) -> None:
        space = {label: mutable.as_legacy_dict() for label, mutable in self.model_space.simplify().items()}
        with self._thread_lock:
            self.tuner.update_search_space(space)
        while self.engine.budget_available():
            if not self.engine.idle_worker_available():
                time.sleep(1.0)
                continue
            with self._thread_lock:
                try:
                    params = self.tuner.generate_parameters(self._model_count)
                except nni.NoMoreTrialError:
                    return
                model = self.model_space.freeze(params)
                self._model_to_id[model] = self._model_count
                self._model_count += 1
            self.engine.submit_models(model)
