"""Which device a parallel search trial trains on (``--concurrency K`` on a machine with G GPUs).

Placement is done by the trials, not by NNI's GPU options. NNI's local training service can
set CUDA_VISIBLE_DEVICES per trial (``trialGpuNumber``, ``gpuIndices``,
``maxTrialNumberPerGpu``), but its scheduler reads the GPUs through nvidia-smi (nothing to place
without them, nothing to test), refuses ``trialGpuNumber: 1`` on a one-GPU machine (NNI 3.0
asks for fewer GPUs than the machine has), and leaves every trial seeing its GPU as ``cuda:0``.
Here trial k (NNI's ``NNI_TRIAL_SEQ_ID``, from 0) prefers device k mod G and takes the first
free slot from there on, holding an exclusive lock on a file in the run folder while it trains
(released when its process ends, however it ends), so a device freed by a trial that stopped
early goes to the next trial instead of doubling up on k mod G. Each device has ceil(K / G)
slots, so K > G shares devices evenly. The device and its index go into the trial's record.
"""
from __future__ import annotations

import contextlib
import fcntl
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TRIAL_SEQUENCE = "NNI_TRIAL_SEQ_ID"  # set by NNI's trial keeper in each trial process


@dataclass(frozen=True)
class Placement:
    index: int  # position in the search's device list
    device: str


def trial_devices(device: str, concurrency: int) -> tuple[str, ...]:
    """The devices parallel trials are spread over: every CUDA device torch sees for `device`
    auto or cuda with `concurrency` > 1; none (every trial on `device`) otherwise."""
    if concurrency == 1 or device not in ("auto", "cuda"):
        return ()
    import torch

    return tuple(f"cuda:{index}" for index in range(torch.cuda.device_count()))


def slots_per_device(devices: tuple[str, ...], concurrency: int) -> int:
    return math.ceil(concurrency / len(devices)) if devices else 0


@contextlib.contextmanager
def placed(devices: tuple[str, ...], slots: int, lock_dir: Path, sequence: int | None = None) -> Iterator[Placement | None]:
    """The device this trial holds while the block runs (None without `devices`). `sequence`:
    the trial's number, by default NNI's for this process (0 outside trial processes)."""
    if not devices:
        yield None
        return
    if sequence is None:
        sequence = max(0, int(os.environ.get(TRIAL_SEQUENCE, "0")))
    lock_dir.mkdir(parents=True, exist_ok=True)
    first = sequence % len(devices)
    order = [(first + step) % len(devices) for step in range(len(devices))]
    with contextlib.ExitStack() as held:
        for slot in range(max(1, slots)):
            for index in order:
                handle = held.enter_context(open(lock_dir / f"device{index}-slot{slot}.lock", "w"))
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                yield Placement(index, devices[index])
                return
        yield Placement(first, devices[first])  # more trials than slots: share the preferred one
