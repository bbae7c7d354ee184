"""Training on two ranks (gloo, CPU, processes forked here) against one process: one step on the
same logical batch gives the same weights with and without DP, and a DP run reports the same
epsilon; rank 0 alone writes the run folder."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import load_benchmark

from eqnas.data.base import Splits
from eqnas.errors import EqnasError
from eqnas.train import TrainConfig, train
from eqnas.train.distributed import SINGLE, Cluster, cluster_from_env, join, leave, shard_loader

bench = load_benchmark("ranks_check")  # the same check under torchrun, on GPUs
RANKS, BATCH = 2, 16
C8, STEP = bench.C8, dict(bench.STEP, device="cpu")
STEP_CASES = bench.step_cases(BATCH, RANKS)
SPLITS = Splits(train=bench.images(64, 0), val=bench.images(24, 1), test=bench.images(24, 2), info=bench.INFO)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _joined(rank: int, port: int) -> Cluster:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(RANKS))
    torch.set_num_threads(1)
    return join(cluster_from_env(), "cpu")


def _one_step(config: TrainConfig, cluster: Cluster, count: int = BATCH) -> dict[str, torch.Tensor]:
    return bench.one_step(config, cluster, SPLITS.train, count)


def _step_worker(rank: int, port: int, out: str) -> None:
    cluster = _joined(rank, port)
    try:
        steps = {case: _one_step(TrainConfig(**STEP, **extra), cluster) for case, extra in STEP_CASES.items()}
    finally:
        leave(cluster)
    torch.save(steps, Path(out) / f"rank{rank}.pt")


def _retrain_worker(rank: int, port: int, out: str, config: TrainConfig) -> None:
    cluster = _joined(rank, port)
    try:
        train(C8, SPLITS, config, Path(out) / f"rank{rank}", progress=False, cluster=cluster)
    finally:
        leave(cluster)


def _on_two_ranks(worker, *args) -> None:
    mp.start_processes(worker, args=(_free_port(), *args), nprocs=RANKS, start_method="fork")


def test_one_step_on_two_ranks_equals_one_process_on_the_same_logical_batch(tmp_path):
    """SGD, so the update is the averaged gradient itself. Without DP each rank's forward pass
    sees the half one process sees per physical batch (batch norm included); with DP each rank
    clips its own samples and rank 0 adds the noise one process adds (same seeded stream)."""
    _on_two_ranks(_step_worker, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(RANKS)]
    for case, extra in STEP_CASES.items():
        config = TrainConfig(**STEP, **extra)
        start = bench.initial(config)
        alone = _one_step(config, SINGLE)
        for rank in range(RANKS):
            error = bench.relative_error(ranks[rank][case], alone, start)
            assert error <= 1e-5, (case, rank, error)
        # the check can fail: a step on rank 0's half of the batch alone is far from the batch's
        assert bench.relative_error(_one_step(config, SINGLE, BATCH // RANKS), alone, start) > 1e-2


def test_two_rank_dp_retrain_reports_the_one_process_epsilon_and_rank_0_alone_writes(tmp_path):
    config = TrainConfig(dp=True, epochs=1, batch_size=BATCH, epsilon=3.0, device="cpu", eval_batch_size=64)
    _on_two_ranks(_retrain_worker, str(tmp_path), config)
    alone = train(C8, SPLITS, config, tmp_path / "alone", progress=False).metrics
    assert not (tmp_path / "rank1").exists()
    metrics = json.loads((tmp_path / "rank0" / "metrics.json").read_text())
    assert metrics["runtime"]["ranks"] == RANKS and metrics["runtime"]["backend"] == "gloo"
    assert alone["runtime"]["ranks"] == 1 and alone["runtime"]["backend"] is None
    two, one = metrics["privacy"], alone["privacy"]
    assert one["steps"] == len(SPLITS.train) // BATCH and one["expected_batch_size"] == BATCH
    assert 0 < one["epsilon"] <= 3.0
    assert two == one  # epsilon, noise multiplier, sample rate, steps, expected batch: all one process's
    assert (tmp_path / "rank0" / "checkpoint.pt").is_file()


def test_shard_poisson_sampler_covers_the_data_and_yields_empty_batches():
    from eqnas.train.privacy import ShardPoissonSampler

    shards = [ShardPoissonSampler(11, 0.05, Cluster(rank, 2, rank, "gloo"), torch.Generator().manual_seed(rank),
                                  steps=400) for rank in range(2)]
    assert sorted(shards[0].shard + shards[1].shard) == list(range(11))
    batches = [list(s) for s in shards]
    assert all(len(b) == 400 for b in batches)  # every step is yielded, so ranks stay in step
    assert any(len(batch) == 0 for batch in batches[1])
    assert {i for batch in batches[1] for i in batch} <= set(shards[1].shard)
    assert sum(map(len, batches[0])) / 400 == pytest.approx(0.05 * 6, rel=0.3)


def test_cluster_from_torchrun_environment_and_its_refusals():
    assert cluster_from_env({}) is SINGLE and cluster_from_env({"WORLD_SIZE": "1"}) is SINGLE
    cluster = cluster_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (cluster.rank, cluster.world_size, cluster.local_rank, cluster.is_main) == (3, 4, 1, False)
    assert cluster.device("cpu") == "cpu" and cluster.device("cuda") == "cuda:1"
    with pytest.raises(EqnasError, match="device='cuda:0'"):
        cluster.device("cuda:0")
    with pytest.raises(EqnasError, match="batch_size=10: with 4 ranks"):
        shard_loader(SPLITS.train, 10, 0, 0, cluster)
    with pytest.raises(EqnasError, match="WORLD_SIZE"):
        cluster_from_env({"WORLD_SIZE": "two"})


def test_sigterm_under_several_ranks_ends_the_run_as_ctrl_c_does():
    import signal

    from eqnas.train.distributed import stop_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    try:
        stop_on_sigterm(SINGLE)
        assert signal.getsignal(signal.SIGTERM) is before  # one process: as today
        stop_on_sigterm(Cluster(0, RANKS, 0, "gloo"))
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, before)
