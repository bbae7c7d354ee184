"""The one door to NNI: a multi-trial search over a discrete space, behind an engine-neutral API.

NNI was archived upstream in 2024, so NNI stays behind this door: ``nni_api`` (the only eqnas
module that imports ``nni``), ``nni_strategies`` (a factory per strategy name),
``nni_middleware`` and ``nni_manager``. The rest of eqnas calls :func:`run_search` with plain
dicts and callbacks, and gets a :class:`SearchOutcome` of plain counts back. Importing this
module imports NNI, torch and pytorch-lightning: a few seconds, so import it where a search
starts.

How a search runs (NNI 3.0)
  * The space is a tiny ``ModelSpace`` with one ``nni.choice`` per label and nothing else;
    eqnas, not NNI, turns a sampled ``{label: value}`` dict into a network.
  * ``NasExperiment`` with ``SequentialEngineConfig``: trials run one after the other in this
    process, in the caller's thread (``concurrency > 1``: see "Parallel trials" below). The
    strategy is wrapped as ``Chain(strategy, Filter(accept), Deduplication("replay"))``.

What NNI does, checked against its source and by ``tests/test_nni_adapter.py``
  * Rejection: ``Filter`` marks a rejected sample invalid before it reaches the engine, so it is
    never evaluated and does not count towards ``max_trials`` (the engine counts submitted
    models only). No metric is sent for it: evolution and TPE simply sample again.
  * Duplicates: random, grid, evolution and TPE never propose a sample twice themselves; rl can,
    and ``Deduplication("replay")`` answers a repeat with the first run's metric instead of
    evaluating it again. With the caller's ``identity``, a repeat is any sample with the identity
    of one whose trial has ended (eqnas: one that builds the same network), so samples that
    differ only in labels the network does not use take one trial, not one each. TPE's own
    guard replaces a repeat with the next point of a grid, and after its 20 random warm-up
    trials TPE mostly proposes repeats on spaces of a few hundred points, so there much of its
    exploration follows grid order.
  * Failures: an exception in ``evaluate``, or a metric that is not a finite number, marks the
    trial failed (``continue_on_failure``, or a failed trial process) and the search goes on.
    The strategy gets no metric for it; a failed trial still counts towards ``max_trials``.
  * Stopping: after ``max_trials`` evaluations, when the strategy runs out of new samples (a
    small space, or grid done), at ``time_budget_s`` (checked between trials: running trials
    are not interrupted), or after ``max(_MIN_SKIPS, _SKIPS_PER_TRIAL * max_trials)`` samples
    turned away (rejected or repeated), so an ``accept`` that rejects everything cannot loop
    forever.
  * Seeds: random, grid, evolution and TPE take the seed. rl (and the caller's ``evaluate``)
    draw from torch's and numpy's global generators; those are seeded from ``seed`` for the
    search and restored afterwards, so a run is repeatable when ``evaluate`` is.

Parallel trials and other machines (``concurrency > 1``, ``training_service``): NNI's training
service and its Node.js manager, in ``eqnas.search.nni_manager``.

Files: NNI's experiment folder (``<id>/log``, ``<id>/checkpoint``; with parallel trials also
``<id>/db`` and each trial's stdout and stderr under ``<id>/environments``) goes to
``work_dir``, or to a temporary folder deleted after the search. NNI's run list for its CLI
(``~/nni-experiments/.experiment``) is not written (with parallel trials it goes to
``work_dir``). NNI's logs are held at ERROR during a search; each failed trial is logged once,
by this module, with its traceback.
"""
from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqnas.errors import EqnasError
from eqnas.search.nni_api import (Chain, FunctionalEvaluator, ModelSpace, NasExperiment, NasExperimentConfig,
                                  SequentialEngineConfig, ensure_frozen, nni)
from eqnas.search.nni_manager import run_in_trial_processes, training_service_config
from eqnas.search.nni_middleware import CountingDeduplication, GuardedFilter, Identity, Tally, TrialEnd
from eqnas.search.nni_strategies import NNI_STRATEGIES

__all__ = ["STOP_REASONS", "SearchOutcome", "run_search"]

_log = logging.getLogger(__name__)

_SKIPS_PER_TRIAL = 50  # samples turned away (rejected or repeated) per allowed trial before giving up
_MIN_SKIPS = 1000  # a tight budget rejects most of a large space; a FLOP count costs ~0.1 s
_NNI_LOG_LEVELS = {
    "nni": logging.ERROR,
    # The sequential engine logs every failed trial at ERROR; this module logs it once instead.
    "nni.nas.execution.sequential": logging.CRITICAL,
}
STOP_REASONS = ("max_trials", "strategy_done", "time_budget", "too_many_skipped")


@dataclass(frozen=True)
class SearchOutcome:
    """What a search did, in counts.

    evaluated: samples handed to ``evaluate`` (failed ones included); at most ``max_trials``.
    failed: of those, the ones that raised or returned a metric that is not a finite number.
    rejected: proposals ``accept`` turned down; none was evaluated. (Only rl proposes a sample
        more than once, and then each proposal counts.)
    duplicates: repeats of an evaluated sample, answered from its first run, not evaluated again.
    stop_reason: one of STOP_REASONS; ``strategy_done`` means the strategy found nothing new to
        try (the space, or the part of it that ``accept`` lets through, is used up).
    """

    evaluated: int
    failed: int
    rejected: int
    duplicates: int
    stop_reason: str


# ---------------------------------------------------------------- NNI's side of the search

class _ChoiceSpace(ModelSpace):
    """NNI's model space: one categorical per label, and nothing else."""

    def __init__(self, choices: dict[str, list]):
        super().__init__()
        # Under NNI's frozen context these are the sampled values; in the dry run, the first ones.
        self.values = {label: ensure_frozen(self.add_mutable(nni.choice(label, list(values))))
                       for label, values in choices.items()}


class _LocalExperiment(NasExperiment):
    """A NasExperiment that leaves NNI's CLI run list in the home folder alone."""

    def _start_without_nni_manager(self) -> None:
        pass

    def _stop_without_nni_manager(self) -> None:
        pass


def _trial(model: _ChoiceSpace, evaluate: Callable[[dict], float]) -> None:
    """One trial inside NNI's evaluator (in this process, or in a trial process): evaluate the
    sample and report its metric."""
    arch = dict(model.values)
    try:
        metric = float(evaluate(arch))
        if not math.isfinite(metric):
            raise ValueError(f"metric {metric} is not a finite number")
    except Exception:
        _log.warning("trial %s failed", arch, exc_info=True)
        raise  # NNI marks the trial failed and goes on
    nni.report_final_result(metric)


# ---------------------------------------------------------------- the API

def run_search(
    choices: dict[str, list],
    evaluate: Callable[[dict], float],
    accept: Callable[[dict], bool],
    strategy: str = "evolution",
    max_trials: int = 10,
    seed: int = 0,
    time_budget_s: float | None = None,
    concurrency: int = 1,
    work_dir: str | None = None,
    on_trial_end: TrialEnd | None = None,
    training_service: dict | None = None,
    identity: Identity | None = None,
) -> SearchOutcome:
    """Search the discrete space ``choices`` with NNI: in this process, one trial at a time, or
    ``concurrency`` trials at once in processes of NNI's local training service.

    ``evaluate`` gets a plain ``{label: value}`` dict and returns a metric (higher is better); an
    exception marks that trial failed and the search goes on. With ``concurrency > 1`` it runs in
    the trial processes, so it must be picklable. ``accept`` sees every sample first, in this
    process; one it rejects is never evaluated. Constraints between labels belong in ``accept``.
    ``on_trial_end`` is called here with the sample of every trial that ended, failed or not.
    ``training_service``: NNI's training-service section for other machines (module docstring);
    trials then always run in trial processes.
    ``identity(sample)``: samples with equal identities (e.g. the network they build) are one
    trial; a later one is answered with the first one's metric. Default: the sample itself.
    See the module docstring for what counts towards ``max_trials`` and when a search stops.
    """
    _check_arguments(choices, strategy, max_trials, seed, time_budget_s, concurrency)
    service = training_service_config(training_service)
    tally = Tally()
    max_skipped = max(_MIN_SKIPS, _SKIPS_PER_TRIAL * max_trials)
    deadline = time.monotonic() + (math.inf if time_budget_s is None else time_budget_s)
    guard = GuardedFilter(choices, accept, tally, deadline, max_skipped, on_trial_end)
    evaluator = FunctionalEvaluator(_trial, evaluate=evaluate)
    with _experiment_dir(work_dir) as folder, _quiet_nni_logs(), _seeded_global_rngs(seed):
        chain = Chain(NNI_STRATEGIES[strategy](seed, max_trials, len(choices)),
                      guard, CountingDeduplication(tally, max_skipped, _on_labels(identity, choices)))
        if concurrency == 1 and training_service is None:
            _run_in_process(_ChoiceSpace(choices), evaluator, chain, folder, max_trials)
        else:
            run_in_trial_processes(_ChoiceSpace(choices), evaluator, chain, folder, max_trials, concurrency, service)
    stop_reason = "max_trials" if tally.evaluated >= max_trials else guard.stop_reason or "strategy_done"
    return SearchOutcome(tally.evaluated, tally.failed, tally.rejected, tally.duplicates, stop_reason)


def _on_labels(identity: Identity | None, choices: dict[str, list]) -> Identity | None:
    """`identity` of NNI's sample, read as the plain dict of the search's labels, once per sample
    (each repeat compares itself with every model so far)."""
    if identity is None:
        return None
    known: dict[frozenset, Hashable] = {}

    def of(sample: dict) -> Hashable:
        plain = {label: sample[label] for label in choices}
        key = frozenset(plain.items())
        if key not in known:
            known[key] = identity(plain)
        return known[key]

    return of


def _run_in_process(space: _ChoiceSpace, evaluator: FunctionalEvaluator, chain: Chain, folder: str,
                    max_trials: int) -> None:
    config = NasExperimentConfig(
        execution_engine=SequentialEngineConfig(continue_on_failure=True, max_model_count=max_trials),
        model_format="simplified",
        experiment_working_directory=folder,
    )
    experiment = _LocalExperiment(space, evaluator, chain, config)
    try:
        experiment.start()
    finally:
        experiment.stop()


def _check_arguments(choices: dict[str, list], strategy: str, max_trials: int, seed: int,
                     time_budget_s: float | None, concurrency: int) -> None:
    NNI_STRATEGIES.get_or_fail(strategy)
    if not isinstance(max_trials, int) or max_trials < 1:
        raise EqnasError(f"max_trials must be a positive integer, got {max_trials!r}")
    if not isinstance(seed, int) or not 0 <= seed < 2**32:  # numpy's seed range
        raise EqnasError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if time_budget_s is not None and not time_budget_s > 0:
        raise EqnasError(f"time_budget_s must be positive seconds or None, got {time_budget_s!r}")
    if not isinstance(concurrency, int) or concurrency < 1:
        raise EqnasError(f"concurrency must be a positive integer, got {concurrency!r}")
    if not choices:
        raise EqnasError("the search space is empty: give at least one label with candidate values")
    for label, values in choices.items():
        if not isinstance(label, str) or not label or "/" in label:
            raise EqnasError(f"search label {label!r} must be a non-empty string without '/'")
        if not isinstance(values, (list, tuple)) or not values:
            raise EqnasError(f"label {label!r} needs a non-empty list of candidate values, got {values!r}")
        if not all(isinstance(v, (int, float, str)) for v in values):
            raise EqnasError(f"label {label!r}: candidates must be ints, floats or strings, got {values!r}")
        if len(set(values)) != len(values):  # note 1 == 1.0 == True
            raise EqnasError(f"label {label!r} has equal candidates in {values!r}; list each value once")


@contextlib.contextmanager
def _experiment_dir(work_dir: str | None) -> Iterator[str]:
    if work_dir is not None:
        path = Path(work_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield str(path)
        return
    with tempfile.TemporaryDirectory(prefix="eqnas-nni-") as folder:
        yield folder


@contextlib.contextmanager
def _quiet_nni_logs() -> Iterator[None]:
    loggers = {name: logging.getLogger(name) for name in _NNI_LOG_LEVELS}
    previous = {name: logger.level for name, logger in loggers.items()}
    for name, logger in loggers.items():
        logger.setLevel(_NNI_LOG_LEVELS[name])
    try:
        yield
    finally:
        for name, logger in loggers.items():
            logger.setLevel(previous[name])


@contextlib.contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    numpy_state: Any = np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
