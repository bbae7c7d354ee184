"""Parallel search trials spread over a device list: trial k prefers device k mod G, a held
device goes to the next free one, and a search with --concurrency 2 over a faked two-device list
records different device indices in trials.jsonl."""
from __future__ import annotations

import contextlib
import os
import time

import torch
import torch.multiprocessing as mp

from eqnas.search.devices import TRIAL_SEQUENCE, placed, slots_per_device, trial_devices
from eqnas.search.fidelity import Fidelity
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.records import TrialLog
from eqnas.search.runner import SearchConfig, run_search
from eqnas.search.space import parse_space

TWO = ("cuda:0", "cuda:1")
SPACE = parse_space({"name": "two", "family": "resnet", "group": ["trivial", "C4"], "resolution": 13,
                     "stem": {"width": 2, "kernel": 3}, "stages": [{"depth": 1, "width": 2, "stride": 2}],
                     "proxy": {"data": "synthetic", "rungs": "1x64"}})
FAKE = {"dev-a": 0.25, "dev-b": 0.75}  # a faked device list; the fake training scores by device


def _train_on_fake_device(arch, on_epoch, job) -> float:
    time.sleep(1.0)  # both trials hold their device at once
    return FAKE[job.device]


def _trial_process(sequence: int, log_dir: str) -> None:
    """What one of NNI's trial processes does: run a sample with its trial number in the environment."""
    from pathlib import Path

    from eqnas.search.trial import TrialRunner

    os.environ[TRIAL_SEQUENCE] = str(sequence)
    runner = TrialRunner(SPACE, _train_on_fake_device, Path(log_dir) / "trials.jsonl", FlopFilter(SPACE, 10**12),
                         Fidelity.of(SPACE.proxy), devices=tuple(FAKE), slots_per_device=1)
    runner(list(SPACE.enumerate())[sequence])


def test_trial_k_prefers_device_k_mod_g_and_skips_held_ones(tmp_path):
    with placed(TWO, 1, tmp_path, sequence=3) as alone:
        assert alone.index == 1 and alone.device == "cuda:1"
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(placed(TWO, 1, tmp_path, sequence=0))
        second = stack.enter_context(placed(TWO, 1, tmp_path, sequence=2))  # prefers 0, which is held
        assert (first.index, second.index) == (0, 1)
    with placed(TWO, 1, tmp_path, sequence=2) as again:  # released when the first trial ended
        assert again.index == 0
    with placed((), 0, tmp_path) as none:
        assert none is None


def test_more_trials_than_devices_share_them_evenly(tmp_path):
    slots = slots_per_device(TWO, 4)
    assert slots == 2 and slots_per_device(TWO, 3) == 2 and slots_per_device((), 4) == 0
    with contextlib.ExitStack() as stack:
        indices = [stack.enter_context(placed(TWO, slots, tmp_path, sequence=0)).index for _ in range(4)]
    assert sorted(indices) == [0, 0, 1, 1]


def test_trial_devices_are_the_visible_gpus_for_parallel_cuda_searches():
    assert trial_devices("auto", 1) == () and trial_devices("cpu", 4) == ()
    assert trial_devices("auto", 2) == tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))


def test_two_trial_processes_train_on_different_fake_devices_and_record_them(tmp_path):
    """Two trials at once in their own processes, as NNI starts them: each trains on the device
    it holds (the fake training's score says which) and records it."""
    mp.start_processes(_trial_process, args=(str(tmp_path),), nprocs=2, start_method="fork")
    records = TrialLog(tmp_path / "trials.jsonl").read()
    assert sorted(r.extra["device_index"] for r in records) == [0, 1]
    assert all(r.metric == FAKE[r.extra["device"]] == FAKE[tuple(FAKE)[r.extra["device_index"]]] for r in records)


def test_parallel_search_records_the_device_each_trial_trained_on(tmp_path):
    """Two trial processes of NNI's local training service at once over a faked two-device list
    (both CPU, so they can train here): the two trials hold different indices."""
    from eqnas.search.proxy import proxy_trainer

    config = SearchConfig(flops_max=10**12, strategy="random", trials=2, seed=0, concurrency=2, devices=("cpu", "cpu"))
    run_search(SPACE, config, proxy_trainer(SPACE.proxy, "cpu"), tmp_path, echo=lambda _: None)
    records = [r for r in TrialLog(tmp_path / "trials.jsonl").read() if r.status == "ok"]
    assert len(records) == 2
    assert sorted(r.extra["device_index"] for r in records) == [0, 1]
    assert all(r.extra["device"] == "cpu" for r in records)
