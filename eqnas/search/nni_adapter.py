"""The one door to NNI: a multi-trial search over a discrete space, behind an engine-neutral API.

NNI was archived upstream in 2024, so this is the only eqnas module that imports ``nni``; the
rest of eqnas calls :func:`run_search` with plain dicts and callbacks, and gets a
:class:`SearchOutcome` of plain counts back. Importing this module imports torch and
pytorch-lightning (``nni.nas`` needs them): a few seconds, so import it where a search starts.

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
    evaluating it again. TPE's own guard replaces a repeat with the next point of a grid, and
    after its 20 random warm-up trials TPE mostly proposes repeats on spaces of a few hundred
    points, so there much of its exploration follows grid order.
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

Parallel trials (``concurrency > 1``): ``TrainingServiceEngineConfig`` with NNI's local training
service. NNI starts its bundled Node.js manager, which starts each trial as a new process
(``python -m nni.nas.execution.training_service trial``, in this process's working directory,
with this process's environment); ``evaluate`` is pickled to it, so it must be picklable, and
counts and ``on_trial_end`` come from the manager's events here. The manager's REST server (the
web portal) calls ``listen(port)`` with no host, i.e. on every interface, and NNI 3.0 has no
option to change that; ``nni_manager_preload.js``, preloaded into the manager through
``NODE_OPTIONS=--require``, makes every listen bind 127.0.0.1, and shuts the manager down if this
process dies without stopping it. The port is a free loopback port picked here. It has no
authentication: other users of this machine could still reach it. Trials talk to the manager
over HTTP on ``localhost``, the Python side over a WebSocket; no other process listens.

Remote machines, Kubernetes and NNI's other platforms: ``training_service`` takes NNI's own
training-service section (a dict as in NNI's experiment YAML: ``platform: remote`` with
``machineList``, ``platform: kubeflow``, ...), which NNI's config classes load and validate; the
trials then run there, ``concurrency`` at once, and they need eqnas, the data and this run folder
(a shared file system) on the workers. Their workers must reach the manager, so for any
platform other than ``local`` the loopback preload is not applied and the manager listens on
every interface, without authentication: for trusted networks only (a warning says so).

Files: NNI's experiment folder (``<id>/log``, ``<id>/checkpoint``; with parallel trials also
``<id>/db`` and each trial's stdout and stderr under ``<id>/environments``) goes to
``work_dir``, or to a temporary folder deleted after the search. NNI's run list for its CLI
(``~/nni-experiments/.experiment``) is not written (with parallel trials it goes to ``work_dir``). NNI's logs are held at ERROR during a
search; each failed trial is logged once, by this module, with its traceback.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqnas.errors import EqnasError
from eqnas.registry import Registry

with warnings.catch_warnings():
    # NNI 3.0 predates this torch and warns about each torch.nn class it does not recognise.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"nni\.")
    import nni
    import nni.experiment.launcher as nni_launcher
    from nni.experiment.config import LocalConfig
    from nni.experiment.config.training_service import TrainingServiceConfig
    from nni.experiment.config.utils import load_training_service_config
    from nni.mutable import ensure_frozen
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution.event import ModelEventType, TrainingEndEvent
    from nni.nas.experiment import NasExperiment
    from nni.nas.experiment.config import NasExperimentConfig, SequentialEngineConfig, TrainingServiceEngineConfig
    from nni.nas.nn.pytorch import ModelSpace
    from nni.nas.space import ExecutableModelSpace, ModelStatus
    from nni.nas.strategy import TPE, GridSearch, PolicyBasedRL, Random, RegularizedEvolution, Strategy
    from nni.nas.strategy.middleware import Chain, Deduplication, Filter
    from nni.tools.nnictl.config_utils import Experiments

__all__ = ["STOP_REASONS", "STRATEGIES", "SearchOutcome", "run_search"]

_log = logging.getLogger(__name__)

_SKIPS_PER_TRIAL = 50  # samples turned away (rejected or repeated) per allowed trial before giving up
_MIN_SKIPS = 1000  # a tight budget rejects most of a large space; a FLOP count costs ~0.1 s
_NNI_LOG_LEVELS = {
    "nni": logging.ERROR,
    # The sequential engine logs every failed trial at ERROR; this module logs it once instead.
    "nni.nas.execution.sequential": logging.CRITICAL,
}
STOP_REASONS = ("max_trials", "strategy_done", "time_budget", "too_many_skipped")
MANAGER_PRELOAD_JS = Path(__file__).resolve().with_name("nni_manager_preload.js")
TrialEnd = Callable[[dict], None]  # called with the sample when a trial ends (in this process)


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


@dataclass
class _Tally:
    evaluated: int = 0
    failed: int = 0
    rejected: int = 0
    duplicates: int = 0
    duplicate_ids: set[int] = field(default_factory=set)  # models answered by Deduplication


# ---------------------------------------------------------------- strategies (name -> NNI strategy)

_StrategyFactory = Callable[[int, int, int], Strategy]  # (seed, max_trials, number of labels)
_STRATEGY_FACTORIES: Registry[_StrategyFactory] = Registry("search strategy")
_strategy = _STRATEGY_FACTORIES.register


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
            f"{', '.join(s for s in _STRATEGY_FACTORIES if s != 'rl')}, or install them") from err


STRATEGIES: tuple[str, ...] = tuple(_STRATEGY_FACTORIES)


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


# ---------------------------------------------------------------- NNI's side of the search

class _ChoiceSpace(ModelSpace):
    """NNI's model space: one categorical per label, and nothing else."""

    def __init__(self, choices: dict[str, list]):
        super().__init__()
        # Under NNI's frozen context these are the sampled values; in the dry run, the first ones.
        self.values = {label: ensure_frozen(self.add_mutable(nni.choice(label, list(values))))
                       for label, values in choices.items()}


class _GuardedFilter(Filter):
    """NNI's Filter, with the stops NNI lacks (a deadline, a cap on skips, a used-up space), and
    the count of ended trials, from the engine's events.

    It holds every accepted model until its trial ends: NNI's training-service engine keeps only
    weak references and drops the events of models nobody holds (random and grid do not)."""

    def __init__(self, choices: dict[str, list], accept: Callable[[dict], bool], tally: _Tally,
                 deadline: float, max_skipped: int, on_trial_end: TrialEnd | None):
        super().__init__(self._accept, patience=max_skipped)
        self.labels = tuple(choices)
        self.space_size = math.prod(len(values) for values in choices.values())
        self.user_accept = accept
        self.tally = tally
        self.deadline = deadline
        self.max_skipped = max_skipped
        self.proposed: set[frozenset] = set()  # distinct samples seen, accepted or not
        self.stop_reason: str | None = None
        self.on_trial_end = on_trial_end
        self.lock = threading.Lock()  # the training-service engine calls back from its own thread
        self.running: dict[int, ExecutableModelSpace] = {}

    def _accept(self, model: ExecutableModelSpace) -> bool:
        self.proposed.add(frozenset(model.sample.items()))
        accepted = bool(self.user_accept(self._plain(model)))
        with self.lock:
            self.tally.rejected += not accepted
            if accepted:
                self.running[id(model)] = model
        return accepted

    def _plain(self, model: ExecutableModelSpace) -> dict:
        return {label: model.sample[label] for label in self.labels}

    def _initialize_engine(self, engine) -> None:
        super()._initialize_engine(engine)
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._trial_ended)

    def _trial_ended(self, event: TrainingEndEvent) -> None:
        with self.lock:
            if self.running.pop(id(event.model), None) is None or id(event.model) in self.tally.duplicate_ids:
                return
            self.tally.evaluated += 1
            self.tally.failed += event.status != ModelStatus.Trained
        if self.on_trial_end is not None:
            self.on_trial_end(self._plain(event.model))

    def budget_available(self) -> bool:
        if len(self.proposed) >= self.space_size:
            # Only rl would go on, proposing repeats until the skip cap.
            self.stop_reason = "strategy_done"
            return False
        if time.monotonic() >= self.deadline:
            self.stop_reason = "time_budget"
            return False
        if self.tally.rejected + self.tally.duplicates >= self.max_skipped:
            self.stop_reason = "too_many_skipped"
            return False
        return self.engine.budget_available()


class _CountingDeduplication(Deduplication):
    """NNI's Deduplication in replay mode, counting the repeats it answers.

    NNI's replay sends the earlier metric even when there is none, which makes NNI raise
    ("Metric None is not a number") on a repeat of a failed trial; here such a repeat only gets
    the earlier status.
    """

    def __init__(self, tally: _Tally, patience: int):
        super().__init__("replay", patience=patience)
        self.tally = tally

    def handle_duplicate_model(self, model: ExecutableModelSpace) -> bool:
        earlier = next((m for m in self.engine.list_models() if m.sample == model.sample), None)
        if earlier is None:
            return False  # then NNI evaluates it as a new sample
        self.tally.duplicates += 1
        self.tally.duplicate_ids.add(id(model))
        if earlier.metric is not None:
            self.dispatch_model_event(ModelEventType.FinalMetric, metric=earlier.metric, model=model)
        self.dispatch_model_event(ModelEventType.TrainingEnd, status=earlier.status, model=model)
        return True


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
    See the module docstring for what counts towards ``max_trials`` and when a search stops.
    """
    _check_arguments(choices, strategy, max_trials, seed, time_budget_s, concurrency)
    service = _training_service(training_service)
    tally = _Tally()
    max_skipped = max(_MIN_SKIPS, _SKIPS_PER_TRIAL * max_trials)
    deadline = time.monotonic() + (math.inf if time_budget_s is None else time_budget_s)
    guard = _GuardedFilter(choices, accept, tally, deadline, max_skipped, on_trial_end)
    evaluator = FunctionalEvaluator(_trial, evaluate=evaluate)
    with _experiment_dir(work_dir) as folder, _quiet_nni_logs(), _seeded_global_rngs(seed):
        chain = Chain(_STRATEGY_FACTORIES[strategy](seed, max_trials, len(choices)),
                      guard, _CountingDeduplication(tally, patience=max_skipped))
        if concurrency == 1 and training_service is None:
            _run_in_process(_ChoiceSpace(choices), evaluator, chain, folder, max_trials)
        else:
            _run_in_trial_processes(_ChoiceSpace(choices), evaluator, chain, folder, max_trials, concurrency, service)
    stop_reason = "max_trials" if tally.evaluated >= max_trials else guard.stop_reason or "strategy_done"
    return SearchOutcome(tally.evaluated, tally.failed, tally.rejected, tally.duplicates, stop_reason)


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


def _run_in_trial_processes(space: _ChoiceSpace, evaluator: FunctionalEvaluator, chain: Chain, folder: str,
                            max_trials: int, concurrency: int, service: TrainingServiceConfig) -> None:
    config = NasExperimentConfig(
        execution_engine=TrainingServiceEngineConfig(),
        model_format="simplified",
        training_service=service,
        trial_concurrency=concurrency,
        max_trial_number=max_trials,
        experiment_working_directory=folder,
    )
    try:
        config.validate()
    except (ValueError, TypeError, AttributeError) as err:
        raise EqnasError(f"bad training service config: {err}") from err
    local = service.platform == "local"
    if not local:
        _log.warning("training service %r: NNI's manager listens on every network interface, without "
                     "authentication, so that its workers can reach it; use it on trusted networks only",
                     service.platform)
    experiment = NasExperiment(space, evaluator, chain, config)
    with _manager_environment(folder, loopback=local):
        try:
            if experiment.run(port=_free_port("127.0.0.1" if local else ""), wait_completion=True) is None:
                raise KeyboardInterrupt  # NNI's run() stops the experiment on Ctrl-C and returns None
        finally:
            experiment.stop()  # the manager exits; running trials get SIGINT, then SIGKILL after 5 s


def _training_service(section: dict | None) -> TrainingServiceConfig:
    """NNI's config object for a training-service section; None: this machine (``local``)."""
    if section is None:
        return LocalConfig()
    if not isinstance(section, dict):
        raise EqnasError(f"the training service config must be a mapping, got {section!r}")
    try:
        service = load_training_service_config(dict(section))
    except (ValueError, TypeError, AttributeError, KeyError) as err:
        raise EqnasError(f"bad training service config: {err}") from err
    if not isinstance(service, TrainingServiceConfig):
        raise EqnasError(f"unknown training service platform {section.get('platform')!r}; NNI's are "
                         "local, remote, openpai, aml, dlc, kubeflow, frameworkcontroller")
    return service


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _manager_environment(folder: str, loopback: bool) -> Iterator[None]:
    """The environment NNI's launcher hands to the manager (and the manager to the trials): the
    preload (``loopback``: binding to 127.0.0.1; always: the manager stops if this process dies,
    and NNI's run list is kept in ``folder`` instead of ``~/nni-experiments``, where the
    launcher writes it too), and no HTTP proxy for local calls."""
    keys = ("NODE_OPTIONS", "NNI_MANAGER_HOME", "NNI_BIND_LOOPBACK", "NO_PROXY", "no_proxy")
    saved = {key: os.environ.get(key) for key in keys}
    saved_experiments = nni_launcher.Experiments
    preload = f'--require "{MANAGER_PRELOAD_JS}"' if " " in str(MANAGER_PRELOAD_JS) else f"--require {MANAGER_PRELOAD_JS}"
    os.environ["NODE_OPTIONS"] = " ".join(filter(None, [saved["NODE_OPTIONS"], preload]))
    os.environ["NNI_BIND_LOOPBACK"] = "1" if loopback else "0"
    os.environ["NNI_MANAGER_HOME"] = folder
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "localhost,127.0.0.1,::1"
    nni_launcher.Experiments = functools.partial(Experiments, home_dir=str(Path(folder, "nni-experiments")))
    try:
        yield
    finally:
        nni_launcher.Experiments = saved_experiments
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_arguments(choices: dict[str, list], strategy: str, max_trials: int, seed: int,
                     time_budget_s: float | None, concurrency: int) -> None:
    _STRATEGY_FACTORIES.get_or_fail(strategy)
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
