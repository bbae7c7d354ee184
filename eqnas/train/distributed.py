"""Training on several processes (torchrun, `torch.distributed`): one logical batch split over
ranks, gradients averaged across them.

Conventions, stated once:
- Detection: a run is distributed when torchrun's `WORLD_SIZE` (with `RANK`, `LOCAL_RANK`) says
  more than one process; otherwise nothing here changes a one-process run.
- Backend: NCCL on CUDA, gloo on CPU. Each rank uses `cuda:LOCAL_RANK` for `--device auto|cuda`.
- Without DP: torch's DistributedDataParallel; each rank reads `batch_size / ranks` images of
  its shard (`DistributedSampler`, reshuffled per epoch, padded so every rank steps equally).
  Batch-norm statistics are those of each forward pass, per rank (as in one process with
  `--physical-batch-size batch_size / ranks`).
- With DP: Opacus's distributed DP-SGD (`DifferentiallyPrivateDistributedDataParallel`,
  `DistributedDPOptimizer`, set up in `eqnas.train.privacy.distribute_private`): each rank clips its own samples' gradients, rank 0 alone adds the
  noise, the sum is averaged over ranks and divided by each rank's share of the expected batch,
  so the step equals one process's on the same logical batch. Sampling is Poisson with the
  one-process rate q over each rank's shard (every record still enters a step with probability
  q), so the accountant, run by each rank on the same history, reports one process's epsilon.
- Files: rank 0 alone writes the run folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from eqnas.errors import EqnasError
from eqnas.train.runtime import generator


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: one process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def to_dict(self) -> dict[str, object]:
        return {"ranks": self.world_size, "backend": self.backend}

    def device(self, name: str) -> str:
        """This rank's device for `--device name`: `cuda:LOCAL_RANK` for auto or cuda when CUDA is
        present and there are several ranks; a fixed `cuda:N` would put every rank on one GPU."""
        if not self.distributed:
            return name
        if name.startswith("cuda:"):
            raise EqnasError(f"device={name!r}: with {self.world_size} ranks each rank takes cuda:LOCAL_RANK; "
                             f"use --device auto, cuda or cpu")
        if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
            return f"cuda:{self.local_rank}"
        return name

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (a download, a cache), the other ranks after it."""
        if self.distributed and not self.is_main:
            dist.barrier()
        yield
        if self.distributed and self.is_main:
            dist.barrier()


SINGLE = Cluster()


def cluster_from_env(environ: Mapping[str, str] = os.environ) -> Cluster:
    """The ranks torchrun describes in `environ`; `SINGLE` when it describes none (or one)."""
    try:
        world_size = int(environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(environ.get("RANK", "0")), int(environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise EqnasError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if world_size <= 1:
        return SINGLE
    return Cluster(rank=rank, world_size=world_size, local_rank=local_rank)


def join(cluster: Cluster, device: str) -> Cluster:
    """Joins torchrun's process group (`env://`) for `cluster`, with NCCL when this rank trains on
    CUDA and gloo otherwise; returns the cluster with its backend. One process: unchanged."""
    if not cluster.distributed:
        return cluster
    name = cluster.device(device)
    backend = "nccl" if name.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(name))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=cluster.rank,
                                world_size=cluster.world_size)
    return Cluster(cluster.rank, cluster.world_size, cluster.local_rank, backend)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm(cluster: Cluster) -> None:
    """Under several ranks, SIGTERM (torchrun stopping its workers when the agent is stopped or
    another rank failed) ends the run as Ctrl-C does: rank 0 writes what finished."""
    if cluster.distributed:
        signal.signal(signal.SIGTERM, _interrupt)


def leave(cluster: Cluster) -> None:
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()


def rank_generator(seed: int, stream: str, rank: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Rank 0 draws one process's stream (`eqnas.train.runtime.generator`); every other rank an
    independent one, so ranks augment and sample their shards independently."""
    if rank == 0:
        return generator(seed, stream, device)
    digest = hashlib.sha256(f"{seed}/{stream}/rank{rank}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def shard_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int, cluster: Cluster) -> DataLoader:
    """This rank's part of each logical batch of `batch_size` (see the module docstring)."""
    if batch_size % cluster.world_size:
        raise EqnasError(f"batch_size={batch_size}: with {cluster.world_size} ranks the logical batch must split "
                         f"evenly; use a multiple of {cluster.world_size}")
    sampler = DistributedSampler(dataset, num_replicas=cluster.world_size, rank=cluster.rank, shuffle=True,
                                 seed=seed)
    return DataLoader(dataset, batch_size=batch_size // cluster.world_size, sampler=sampler,
                      num_workers=num_workers, persistent_workers=num_workers > 0)


def data_parallel(network: nn.Module, device: torch.device) -> nn.Module:
    """torch's DDP around `network` (which stays the module to checkpoint and average)."""
    ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(network, device_ids=ids)
