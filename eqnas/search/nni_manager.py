"""Trials in processes: NNI's training service and its Node.js manager, for ``nni_adapter``.

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
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from eqnas.errors import EqnasError
from eqnas.search.nni_api import (Chain, Experiments, FunctionalEvaluator, LocalConfig, ModelSpace, NasExperiment,
                                  NasExperimentConfig, TrainingServiceConfig, TrainingServiceEngineConfig,
                                  load_training_service_config, nni_launcher)

_log = logging.getLogger(__name__)

MANAGER_PRELOAD_JS = Path(__file__).resolve().with_name("nni_manager_preload.js")


def run_in_trial_processes(space: ModelSpace, evaluator: FunctionalEvaluator, chain: Chain, folder: str,
                           max_trials: int, concurrency: int, service: TrainingServiceConfig) -> None:
    config = _experiment_config(service, concurrency, max_trials, folder)
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


def training_service_config(section: dict | None) -> TrainingServiceConfig:
    """NNI's config object for a training-service section, checked as NNI checks it when an
    experiment starts (a bad field, or a key file that is not there, fails here); None: this
    machine (``local``)."""
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
    nni_logger = logging.getLogger("nni")
    level = nni_logger.level
    nni_logger.setLevel(logging.ERROR)  # its warnings (e.g. no manager IP) come when the search starts
    try:
        _experiment_config(service, concurrency=1, max_trials=1)  # fields and files checked in their context
    finally:
        nni_logger.setLevel(level)
    return service


def _experiment_config(service: TrainingServiceConfig, concurrency: int, max_trials: int,
                       folder: str | None = None) -> NasExperimentConfig:
    """NNI's experiment config for trials in processes, validated as NNI validates it when it
    starts (a training service's fields are only checked within an experiment's config)."""
    config = NasExperimentConfig(
        execution_engine=TrainingServiceEngineConfig(),
        model_format="simplified",
        training_service=service,
        trial_concurrency=concurrency,
        max_trial_number=max_trials,
        **({} if folder is None else {"experiment_working_directory": folder}),
    )
    try:
        config.validate()
    except (ValueError, TypeError, AttributeError) as err:
        raise EqnasError(f"bad training service config: {err}") from err
    return config


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
