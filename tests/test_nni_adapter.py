"""The NNI adapter, on toy spaces whose metric is a known function of the sample."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from nni.tools.nnictl.constants import NNI_HOME_DIR

from eqnas.errors import EqnasError
from eqnas.search import nni_api, nni_strategies
from eqnas.search.nni_adapter import STOP_REASONS, run_search
from eqnas.search.strategies import nni_strategy_names

RL_INSTALLED = all(importlib.util.find_spec(name) is not None for name in ("tianshou", "gym"))
RUNNABLE = [pytest.param(s, marks=pytest.mark.skip(reason="rl needs tianshou and gym"))
            if s == "rl" and not RL_INSTALLED else s for s in nni_strategy_names()]

TOY = {"depth": [1, 2, 3, 4], "kernel": ["k3", "k5", "k7"], "ratio": [0.5, 1.0]}  # 24 points
EIGHT = {"a": [0, 1], "b": ["x", "y"], "c": [0.5, 1.5]}
HUGE = {f"l{i}": list(range(10)) for i in range(10)}  # 10**10 points


def toy_metric(arch: dict) -> float:
    return arch["depth"] * 10 + int(arch["kernel"][1:]) + arch["ratio"]


def compatible(arch: dict) -> bool:
    """A constraint between labels, as the caller writes one: a 7x7 kernel only in shallow nets."""
    return arch["kernel"] != "k7" or arch["depth"] <= 2


class Recorder:
    """Callbacks that remember what NNI asked for."""

    def __init__(self, accept=lambda arch: True, fail=lambda arch: False, metric=toy_metric):
        self.evaluated: list[dict] = []
        self.rejected: list[dict] = []
        self._accept, self._fail, self._metric = accept, fail, metric

    def evaluate(self, arch: dict) -> float:
        self.evaluated.append(arch)
        if self._fail(arch):
            raise RuntimeError(f"cannot train {arch}")
        return self._metric(arch)

    def accept(self, arch: dict) -> bool:
        ok = self._accept(arch)
        if not ok:
            self.rejected.append(arch)
        return ok

    def search(self, choices: dict, **kwargs):
        return run_search(choices, self.evaluate, self.accept, **kwargs)


def keys(archs: list[dict]) -> list[tuple]:
    return [tuple(arch.items()) for arch in archs]


@pytest.mark.parametrize("strategy", RUNNABLE)
def test_every_strategy_evaluates_only_accepted_samples_within_budget(strategy):
    rec = Recorder(accept=compatible)
    outcome = rec.search(TOY, strategy=strategy, max_trials=6, seed=1)
    assert outcome.evaluated == len(rec.evaluated) == 6 and outcome.stop_reason == "max_trials"
    assert outcome.failed == 0 and outcome.rejected == len(rec.rejected)
    assert all(compatible(arch) for arch in rec.evaluated)
    assert not {tuple(a.items()) for a in rec.rejected} & set(keys(rec.evaluated))
    assert len(set(keys(rec.evaluated))) == len(rec.evaluated)  # nothing evaluated twice
    for arch in rec.evaluated:  # a plain dict of the candidates themselves, in label order
        assert type(arch) is dict and list(arch) == list(TOY)
        for label, value in arch.items():
            candidate = TOY[label][TOY[label].index(value)]
            assert type(value) is type(candidate)


@pytest.mark.parametrize("strategy", RUNNABLE)
def test_a_failing_trial_is_counted_and_the_search_goes_on(strategy):
    # 18 of the 24 points fail, so any 10 distinct trials include a failure before the last one.
    rec = Recorder(fail=lambda arch: arch["depth"] != 4)
    outcome = rec.search(TOY, strategy=strategy, max_trials=10, seed=0)
    failed = [arch for arch in rec.evaluated if arch["depth"] != 4]
    assert outcome.evaluated == len(rec.evaluated) == 10
    assert outcome.failed == len(failed) >= 4
    assert rec.evaluated.index(failed[0]) < len(rec.evaluated) - 1  # trials ran after it


def test_repeats_are_answered_from_history_not_evaluated_again(monkeypatch):
    # Only rl proposes repeats by itself; NNI's random search without its own dedup stands in.
    monkeypatch.setitem(nni_strategies.NNI_STRATEGIES._items, "repeating",
                        lambda seed, max_trials, num_labels: nni_api.Random(dedup=False, seed=seed))
    rec = Recorder(fail=lambda arch: arch["a"] == 0, metric=lambda arch: arch["c"])
    outcome = rec.search(EIGHT, strategy="repeating", max_trials=20)
    assert len(set(keys(rec.evaluated))) == len(rec.evaluated) == outcome.evaluated == 8
    assert outcome.duplicates > 0 and outcome.failed == 4  # repeats of failed trials included
    assert outcome.stop_reason == "strategy_done"


def network(arch: dict) -> tuple:
    """As a network ignores a dropped stage's labels: a depth-1 toy ignores its ratio (24 samples,
    21 networks)."""
    return arch["depth"], arch["kernel"], arch["ratio"] if arch["depth"] > 1 else None


def test_samples_of_one_network_take_one_trial_answered_from_the_first():
    rec = Recorder()
    outcome = rec.search(TOY, strategy="grid", max_trials=24, identity=network)
    assert len({network(a) for a in rec.evaluated}) == len(rec.evaluated) == outcome.evaluated == 21
    assert outcome.duplicates == 3 and outcome.stop_reason == "strategy_done"


@pytest.mark.parametrize("strategy", RUNNABLE)
def test_every_strategy_trains_max_trials_distinct_networks(strategy):
    rec = Recorder()
    outcome = rec.search(TOY, strategy=strategy, max_trials=18, seed=2, identity=network)
    assert len({network(a) for a in rec.evaluated}) == len(rec.evaluated) == outcome.evaluated == 18


def test_a_metric_that_is_not_finite_counts_as_failed():
    rec = Recorder(metric=lambda arch: math.nan if arch["depth"] == 2 else toy_metric(arch))
    outcome = rec.search(TOY, strategy="grid", max_trials=24)
    assert outcome.evaluated == 24 and outcome.failed == 6


@pytest.mark.parametrize("strategy", RUNNABLE)
def test_a_small_space_is_searched_once_and_the_search_stops(strategy):
    rec = Recorder(metric=lambda arch: arch["a"] + arch["c"])
    outcome = rec.search(EIGHT, strategy=strategy, max_trials=20, seed=0)
    assert len(set(keys(rec.evaluated))) == len(rec.evaluated) == outcome.evaluated <= 8
    assert outcome.stop_reason != "max_trials" and outcome.stop_reason in STOP_REASONS
    if strategy == "grid":
        assert outcome.evaluated == 8 and outcome.stop_reason == "strategy_done"


@pytest.mark.parametrize("strategy", RUNNABLE)
def test_rejecting_everything_ends_at_the_skip_cap(strategy):
    rec = Recorder(accept=lambda arch: False)
    outcome = rec.search(HUGE, strategy=strategy, max_trials=30)
    assert rec.evaluated == [] and outcome.evaluated == 0
    assert outcome.rejected == len(rec.rejected) == 1500  # 50 per allowed trial, at least 1000
    assert outcome.stop_reason == "too_many_skipped"


def test_the_time_budget_stops_the_search_between_trials():
    rec = Recorder(metric=lambda arch: time.sleep(0.05) or 1.0)
    start = time.monotonic()
    outcome = rec.search(HUGE, strategy="random", max_trials=1000, time_budget_s=0.3)
    assert outcome.stop_reason == "time_budget" and 1 <= outcome.evaluated <= 20
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("strategy", RUNNABLE)
def test_a_seed_repeats_a_search(strategy):
    runs = [Recorder(accept=compatible) for _ in range(2)]
    for rec in runs:
        rec.search(TOY, strategy=strategy, max_trials=8, seed=3)
    assert keys(runs[0].evaluated) == keys(runs[1].evaluated)


def test_another_seed_gives_another_search():
    runs = [Recorder() for _ in range(2)]
    for seed, rec in enumerate(runs):
        rec.search(HUGE, strategy="random", max_trials=5, seed=seed)
    assert keys(runs[0].evaluated) != keys(runs[1].evaluated)


@pytest.mark.parametrize("strategy", ["evolution", "tpe"])
def test_evolution_and_tpe_find_the_optimum_of_an_easy_space(strategy):
    # 256 points, metric = number of switches on. 40 random trials hit the optimum with
    # probability 16% (about 1 seed in 8); both strategies found it for 7 of these 8 seeds.
    space = {f"switch{i}": ["off", "on"] for i in range(8)}
    optimum = {label: "on" for label in space}
    found = 0
    for seed in range(8):
        rec = Recorder(metric=lambda arch: sum(value == "on" for value in arch.values()))
        rec.search(space, strategy=strategy, max_trials=40, seed=seed)
        found += optimum in rec.evaluated
    assert found >= 5


def test_parallel_trials_overlap_and_nnis_manager_listens_on_loopback_only(tmp_path, monkeypatch):
    """Two trial processes at once through NNI's local training service; each trial checks, while
    the manager is live, that its port listens on 127.0.0.1 only and refuses this machine's other
    addresses. Counts and on_trial_end come back to this process; a failing trial is counted."""
    from parallel_probe import Probe

    here = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")])))
    seen_dir = tmp_path / "seen"
    seen_dir.mkdir()
    manifest = Path(NNI_HOME_DIR, ".experiment")
    before = manifest.read_bytes() if manifest.exists() else None
    ended: list[dict] = []
    outcome = run_search(EIGHT, Probe(str(seen_dir)), lambda arch: arch != {"a": 1, "b": "y", "c": 0.5},
                         strategy="random", max_trials=4, seed=0, concurrency=2, work_dir=str(tmp_path / "nni"),
                         on_trial_end=ended.append, training_service={"platform": "local"})
    seen = [json.loads(p.read_text()) for p in seen_dir.glob("*.json")]
    assert outcome.evaluated == len(ended) == len(seen) == 4 and outcome.stop_reason == "max_trials"
    assert sorted(map(keys_of, ended)) == sorted(keys_of(s["sample"]) for s in seen)
    assert outcome.failed == sum(s["sample"]["c"] == 1.5 and s["sample"]["a"] == 0 for s in seen)
    assert len({s["pid"] for s in seen}) == 4 and os.getpid() not in {s["pid"] for s in seen}
    spans = sorted(s["span"] for s in seen)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))  # two ran at once
    for s in seen:
        assert s["listening_on"] == ["127.0.0.1"] and s["loopback_connects"]
        assert not any(s["other_addresses_connect"].values()), s["other_addresses_connect"]
    assert (manifest.read_bytes() if manifest.exists() else None) == before  # NNI's run list stays in work_dir
    time.sleep(1.0)
    assert not [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                if "nni_node/main.js" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in " ".join(p.info["cmdline"])]


def keys_of(arch: dict) -> tuple:
    return tuple(sorted(arch.items()))


@pytest.mark.parametrize("section, needle", [
    ({"platform": "moon"}, "moon"),
    ({"platform": "remote", "machineList": [{"hots": "10.0.0.2"}]}, "hots"),
    ({"platform": "remote", "machineList": [{"host": "10.0.0.2", "user": "me", "sshKeyFile": "/no/such/key"}]},
     "/no/such/key"),
    (["platform", "local"], "mapping"),
])
def test_a_bad_training_service_section_is_a_clear_error_before_anything_starts(section, needle):
    rec = Recorder()
    with pytest.raises(EqnasError, match=re.escape(needle)):
        rec.search(TOY, max_trials=2, training_service=section)
    assert rec.evaluated == []


def test_a_remote_training_service_is_handed_to_nni_without_the_loopback_binding(tmp_path, monkeypatch, caplog):
    """Remote workers must reach the manager: NNI gets the remote config and the manager is not
    bound to loopback, with a warning. (No remote machine here: NNI's run is replaced.)"""
    key = tmp_path / "id_ed25519"
    key.write_text("not a real key")
    handed = {}

    def fake_run(experiment, port=8080, wait_completion=True, debug=False):
        handed.update(config=experiment.config, bind=os.environ.get("NNI_BIND_LOOPBACK"),
                      preload=os.environ.get("NODE_OPTIONS", ""))
        return True

    monkeypatch.setattr(nni_api.NasExperiment, "run", fake_run)
    monkeypatch.setattr(nni_api.NasExperiment, "stop", lambda experiment: None)
    section = {"platform": "remote", "nniManagerIp": "10.0.0.1",
               "machineList": [{"host": "10.0.0.2", "user": "me", "sshKeyFile": str(key)}]}
    with caplog.at_level(logging.WARNING):
        Recorder().search(TOY, max_trials=2, concurrency=3, training_service=section, work_dir=str(tmp_path / "nni"))
    config = handed["config"]
    assert config.training_service.platform == "remote" and config.training_service.machine_list[0].host == "10.0.0.2"
    assert config.trial_concurrency == 3 and config.max_trial_number == 2
    assert handed["bind"] == "0" and "nni_manager_preload.js" in handed["preload"]
    assert any("every network interface" in r.getMessage() for r in caplog.records)
    assert "NNI_BIND_LOOPBACK" not in os.environ  # the environment is restored


@pytest.mark.parametrize("choices, kwargs, bad", [
    (TOY, {"strategy": "annealing"}, "annealing"),
    ({}, {}, "empty"),
    ({"depth": []}, {}, "depth"),
    ({"depth": [1, 2, 2]}, {}, "[1, 2, 2]"),
    ({"depth": [1, True]}, {}, "[1, True]"),
    ({"stage/depth": [1, 2]}, {}, "stage/depth"),
    ({"depth": [[1], [2]]}, {}, "[[1], [2]]"),
    (TOY, {"max_trials": 0}, "max_trials"),
    (TOY, {"seed": -1}, "seed"),
    (TOY, {"time_budget_s": 0}, "time_budget_s"),
])
def test_bad_arguments_are_refused_by_name(choices, kwargs, bad):
    with pytest.raises(EqnasError) as err:
        Recorder().search(choices, **kwargs)
    assert bad in str(err.value)


@pytest.mark.skipif(RL_INSTALLED, reason="rl's packages are installed")
def test_rl_without_its_packages_says_what_to_install():
    with pytest.raises(EqnasError, match="tianshou"):
        Recorder().search(TOY, strategy="rl")


def test_nni_files_go_to_the_work_dir_and_not_home(tmp_path, monkeypatch):
    manifest = Path(NNI_HOME_DIR, ".experiment")
    before = manifest.read_bytes() if manifest.exists() else None
    Recorder().search(TOY, max_trials=2, work_dir=str(tmp_path / "nni"))
    (experiment,) = (tmp_path / "nni").iterdir()
    assert (experiment / "checkpoint").is_dir() and (experiment / "log").is_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    Recorder().search(TOY, max_trials=2)
    assert list((tmp_path / "tmp").iterdir()) == []  # the default folder is removed
    assert (manifest.read_bytes() if manifest.exists() else None) == before


def test_nni_stays_quiet_and_a_failure_is_logged_once(capsys, caplog):
    nni_level = logging.getLogger("nni").level
    with caplog.at_level(logging.WARNING):
        Recorder(fail=lambda arch: arch["depth"] == 1).search(TOY, strategy="grid", max_trials=24)
    assert capsys.readouterr().out == ""
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 6 and {r.name for r in failures} == {"eqnas.search.nni_adapter"}
    assert logging.getLogger("nni").level == nni_level


def test_the_callers_random_generators_are_restored():
    def draws():
        return torch.rand(3).tolist(), np.random.rand(3).tolist()

    torch.manual_seed(123), np.random.seed(123)
    expected = draws()
    torch.manual_seed(123), np.random.seed(123)
    Recorder().search(TOY, strategy="random", max_trials=3, seed=9)
    assert draws() == expected


def test_nnis_manager_and_trials_stop_when_the_search_process_is_killed(tmp_path):
    """A search process killed with SIGKILL cannot stop NNI's manager; the preload's watchdog does."""
    import signal
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "from parallel_probe import Probe\n"
        "from eqnas.search.nni_adapter import run_search\n"
        "run_search({'a': [0, 1], 'b': ['x', 'y'], 'c': [0.5, 1.5]}, Probe(%r, hold_s=60), lambda arch: True,\n"
        "           strategy='random', max_trials=4, concurrency=2, work_dir=%r)\n"
    ) % (str(here), str(tmp_path), str(tmp_path / "nni"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")]))}
    search = subprocess.Popen([sys.executable, "-c", script], env=env)

    def ours() -> dict[psutil.Process, str]:
        """This search's manager and trial processes, with their command lines as listed (a
        process may exit at any time, so nothing is asked of it afterwards)."""
        found = {}
        for process in psutil.process_iter(["cmdline", "environ"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if ("nni_node/main.js" in cmdline and str(tmp_path) in cmdline) or \
                    ("training_service trial" in cmdline and str(tmp_path) in str(process.info["environ"] or {})):
                found[process] = cmdline
        return found

    try:
        deadline = time.monotonic() + 120
        while sum("training_service trial" in c for c in ours().values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(ours()) == 3, f"the manager and two trials should be running: {list(ours().values())}"
        search.send_signal(signal.SIGKILL)
        search.wait()
        deadline = time.monotonic() + 15
        while ours() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not ours(), f"NNI's manager or a trial outlived the killed search: {list(ours().values())}"
    finally:
        search.kill()
        for process in ours():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
