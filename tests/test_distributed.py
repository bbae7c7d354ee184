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
from torch.utils.data import TensorDataset

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.data.base import DatasetInfo, Splits
from eqnas.errors import EqnasError
from eqnas.train import TrainConfig, train
from eqnas.train.adapt import adapt_arch
from eqnas.train.distributed import SINGLE, Cluster, cluster_from_env, join, leave, shard_loader
from eqnas.train.loop import _session
from eqnas.train.optim import make_criterion
from eqnas.train.runtime import resolve_runtime, seed_everything

ROOT = Path(__file__).resolve().parents[1]
RES, RANKS, BATCH = 17, 2, 16
INFO = DatasetInfo(name="random", channels=1, resolution=RES, num_classes=10)
C8 = Arch.load(ROOT / "examples" / "c8_small.json")
STEP = dict(epochs=1, batch_size=BATCH, optimizer="sgd", momentum=0.0, lr=0.5, schedule="constant", device="cpu")
STEP_CASES = {"plain": dict(physical_batch_size=BATCH // RANKS),  # one process: the ranks' halves, one pass each
              "dp": dict(dp=True, noise_multiplier=0.2, max_grad_norm=0.05)}


def _images(count: int, seed: int) -> TensorDataset:
    rng = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(count, 1, RES, RES, generator=rng), torch.randint(0, 10, (count,), generator=rng))


SPLITS = Splits(train=_images(64, 0), val=_images(24, 1), test=_images(24, 2), info=INFO)


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
    """Parameters after one step on the first `count` training images, this rank's share of them."""
    arch, _ = adapt_arch(C8, INFO, config)
    seed_everything(config.seed)
    network = build(arch)
    runtime = resolve_runtime("cpu", config.dp)
    session = _session(network, config, SPLITS.train, make_criterion("multiclass", 0.0), runtime, cluster)
    images, targets = SPLITS.train.tensors[0][:count], SPLITS.train.tensors[1][:count]
    share = count // cluster.world_size
    part = slice(cluster.rank * share, (cluster.rank + 1) * share)
    assert session.learn(images[part], targets[part]).stepped
    session.close()
    return {name: p.detach().clone() for name, p in network.named_parameters()}


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


def _relative_error(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor],
                    start: dict[str, torch.Tensor]) -> float:
    """|change made - change expected| / |change expected|, over all parameters at once."""
    diff = torch.cat([(got[k] - want[k]).flatten() for k in want])
    moved = torch.cat([(want[k] - start[k]).flatten() for k in want])
    return float(diff.norm() / moved.norm())


def test_one_step_on_two_ranks_equals_one_process_on_the_same_logical_batch(tmp_path):
    """SGD, so the update is the averaged gradient itself. Without DP each rank's forward pass
    sees the half one process sees per physical batch (batch norm included); with DP each rank
    clips its own samples and rank 0 adds the noise one process adds (same seeded stream)."""
    _on_two_ranks(_step_worker, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(RANKS)]
    for case, extra in STEP_CASES.items():
        config = TrainConfig(**STEP, **extra)
        seed_everything(config.seed)
        start = {k: p.detach() for k, p in build(adapt_arch(C8, INFO, config)[0]).named_parameters()}
        alone = _one_step(config, SINGLE)
        for rank in range(RANKS):
            error = _relative_error(ranks[rank][case], alone, start)
            assert error <= 1e-5, (case, rank, error)
        # the check can fail: a step on rank 0's half of the batch alone is far from the batch's
        assert _relative_error(_one_step(config, SINGLE, BATCH // RANKS), alone, start) > 1e-2


def test_two_rank_dp_retrain_reports_the_one_process_epsilon_and_rank_0_alone_writes(tmp_path):
    config = TrainConfig(dp=True, epochs=1, batch_size=BATCH, epsilon=3.0, device="cpu", eval_batch_size=64)
    _on_two_ranks(_retrain_worker, str(tmp_path), config)
    alone = train(C8, SPLITS, config, tmp_path / "alone", progress=False).metrics
    assert not (tmp_path / "rank1").exists()
    metrics = json.loads((tmp_path / "rank0" / "metrics.json").read_text())
    assert metrics["runtime"]["ranks"] == RANKS and metrics["runtime"]["backend"] == "gloo"
    assert alone["runtime"]["ranks"] == 1 and alone["runtime"]["backend"] is None
    two, one = metrics["privacy"], alone["privacy"]
    assert two["steps"] == one["steps"] == len(SPLITS.train) // BATCH
    assert two["noise_multiplier"] == one["noise_multiplier"]
    assert two["epsilon"] == pytest.approx(one["epsilon"], rel=1e-9) and 0 < one["epsilon"] <= 3.0
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
