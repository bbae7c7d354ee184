"""Search runs: the FLOP budget holds for every trial, failures are recorded and the search goes
on, and a killed search resumes without training any finished trial again."""
from __future__ import annotations

import json

import pytest

from eqnas.arch import Arch
from eqnas.profiling import arch_flops
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.records import TrialLog
from eqnas.search.runner import SearchConfig, run_search
from eqnas.search.space import fit_to_data, load_space, parse_space, replace_proxy

SPACE = parse_space({
    "name": "tiny", "family": "resnet", "group": ["trivial", "C4", "D4"], "resolution": 13,
    "stem": {"width": [1, 2, 3], "kernel": 3},
    "stages": [{"depth": [1, 2], "width": [1, 2, 4], "stride": 2}],
    "proxy": {"data": "synthetic", "rungs": "1x64"},  # one rung: no promotion (tests/test_fidelity.py has rungs)
})


def _budget() -> int:
    counts = sorted(FlopFilter(SPACE, 10**12).flops(s) for s in SPACE.enumerate())
    return counts[len(counts) // 2]  # about half the space is over budget


def fake_metric(arch: Arch, on_epoch=None, job=None) -> float:
    """A deterministic score that prefers bigger, more symmetric models."""
    return arch.base_group.order + arch.stem.width / 10 + sum(s.width for s in arch.stages) / 100


def test_every_trained_trial_is_within_budget_and_rejections_are_recorded(tmp_path):
    budget = _budget()
    trained = []
    summary = run_search(SPACE, SearchConfig(flops_max=budget, strategy="random", trials=8, seed=1),
                         lambda arch, hook, job: trained.append(arch) or fake_metric(arch), tmp_path, echo=lambda _: None)
    assert len(trained) == 8
    assert all(arch_flops(arch) <= budget for arch in trained)
    records = TrialLog(tmp_path / "trials.jsonl").read()
    assert all(r.flops <= budget for r in records if r.status == "ok")
    assert all(r.flops is None or r.flops > budget for r in records if r.status == "rejected")
    assert summary.rejected == sum(r.status == "rejected" for r in records) > 0
    best = Arch.load(tmp_path / "best.json")
    assert fake_metric(best) == max(fake_metric(a) for a in trained)
    assert arch_flops(best) <= budget
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert len(list((tmp_path / "top").glob("*.json"))) == 5


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    calls = []

    def flaky(arch: Arch, hook, job) -> float:
        calls.append(arch)
        if len(calls) in (2, 4):
            raise RuntimeError("CUDA out of memory (simulated)")
        if len(calls) == 5:
            return float("nan")
        return fake_metric(arch)

    summary = run_search(SPACE, SearchConfig(flops_max=10**12, strategy="evolution", trials=7, seed=0),
                         flaky, tmp_path, echo=lambda _: None)
    records = [r for r in TrialLog(tmp_path / "trials.jsonl").read() if r.status != "rejected"]
    assert [r.status for r in records] == ["ok", "failed", "ok", "failed", "failed", "ok", "ok"]
    assert "out of memory" in records[1].error and "NaN" in records[4].error
    assert summary.failed == 3 and summary.evaluated == 7


def test_killed_search_resumes_without_retraining(tmp_path):
    trained_first: list[str] = []

    def killed_after_three(arch: Arch, hook, job) -> float:
        if len(trained_first) == 3:
            raise KeyboardInterrupt
        trained_first.append(arch.to_json())
        return fake_metric(arch)

    config = SearchConfig(flops_max=_budget(), strategy="random", trials=6, seed=3)
    with pytest.raises(KeyboardInterrupt):
        run_search(SPACE, config, killed_after_three, tmp_path, echo=lambda _: None)
    finished = [r for r in TrialLog(tmp_path / "trials.jsonl").read() if r.status == "ok"]
    assert len(finished) == 3

    trained_again: list[str] = []
    resumed = SearchConfig(**{**config.__dict__, "resume": True})
    run_search(SPACE, resumed, lambda arch, hook, job: trained_again.append(arch.to_json()) or fake_metric(arch),
               tmp_path, echo=lambda _: None)
    assert not set(trained_again) & set(trained_first)
    assert len(trained_again) == 3
    ok = [r for r in TrialLog(tmp_path / "trials.jsonl").read() if r.status == "ok"]
    assert len({r.key for r in ok}) == 6


def test_existing_run_needs_resume(tmp_path):
    run_search(SPACE, SearchConfig(flops_max=10**12, strategy="random", trials=1), fake_metric, tmp_path,
               echo=lambda _: None)
    from eqnas.errors import EqnasError

    with pytest.raises(EqnasError, match="already holds a search"):
        run_search(SPACE, SearchConfig(flops_max=10**12, strategy="random", trials=1), fake_metric, tmp_path,
                   echo=lambda _: None)


def test_search_cli_end_to_end_on_synthetic(tmp_path):
    """The real proxy (training loop on synthetic data) with the default rungs (1x128, 2x192,
    3x384: 128, 384, 1152 samples; two candidates -> one promoted -> one finalist, alone at the
    top rung, so it trains there once), the report and the import of the winner."""
    from eqnas.cli import main
    import eqnas

    space_file = tmp_path / "space.yaml"
    space_file.write_text(json.dumps({
        "name": "tiny", "family": "resnet", "group": "C4", "resolution": 13,
        "stem": {"width": [1, 2], "kernel": 3}, "stages": [{"depth": 1, "width": [1, 2], "stride": 2}],
        "proxy": {"data": "synthetic", "epochs": 1, "subset": 128}}))
    out = tmp_path / "run"
    main(["search", "--space", str(space_file), "--flops", "50M", "--trials", "2", "--strategy", "random",
          "--out", str(out), "--device", "cpu"])
    model = eqnas.load(out / "best.json")
    assert model.arch.final_group.name == "C4"
    records = TrialLog(out / "trials.jsonl").read()
    assert sorted((r.rung, r.fidelity, r.seed) for r in records if r.status == "ok") == [
        (0, "1x128", 0), (0, "1x128", 0), (1, "2x192", 0), (2, "3x384", 0)]
    assert all(0.0 <= r.metric <= 1.0 for r in records if r.status == "ok")
    assert json.loads((out / "search_config.json").read_text())["fidelity"]["eta"] == 3
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--space", str(space_file), "--flops", "1k", "--out", str(tmp_path / "none")])
    assert exit_info.value.code == 2
    # --for-dp counts the group norm DP trains with: a budget that the smallest candidate meets
    # with batch norm turns every candidate away
    fitted = fit_to_data(load_space(space_file))
    smallest = min(FlopFilter(fitted, 10**12).flops(sample) for sample in fitted.enumerate())
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--space", str(space_file), "--flops", str(smallest), "--for-dp", "--out", str(tmp_path / "dp")])
    assert exit_info.value.code == 2 and not (tmp_path / "dp" / "trials.jsonl").exists()


def test_parallel_search_trains_in_trial_processes_and_records_every_trial(tmp_path):
    """--concurrency 2: the real proxy trains rung 0 in NNI's trial processes, which append their
    own records to the shared log; this process numbers nothing twice, prints every training, and
    then runs the promotions (eta 2: the best 2 of 4) and the finalists' second seed (rung 0, then
    continued to rung 1) itself."""
    from eqnas.search.fidelity import Fidelity
    from eqnas.search.proxy import proxy_trainer

    space = replace_proxy(SPACE, rungs="1x64,2x128", eta=2)
    lines: list[str] = []
    config = SearchConfig(flops_max=10**12, strategy="random", trials=4, seed=0, concurrency=2,
                          fidelity=Fidelity.of(space.proxy))
    summary = run_search(space, config, proxy_trainer(space.proxy, "cpu"), tmp_path, echo=lines.append)
    records = [r for r in TrialLog(tmp_path / "trials.jsonl").read() if r.status != "rejected"]
    first = [r for r in records if r.rung == 0 and r.seed == 0]
    assert summary.evaluated == 4 and [r.status for r in first] == ["ok"] * 4
    assert sorted(r.trial for r in first) == [1, 2, 3, 4] and len({r.key for r in first}) == 4
    assert all(len(r.extra["curve"]) == 1 and 0 <= r.metric <= 1 for r in first)
    promoted = sorted(first, key=lambda r: -r.metric)[:2]
    finals = [r for r in records if r.rung == 1]
    assert sorted((r.key, r.seed) for r in finals) == sorted((r.key, s) for r in promoted for s in (0, 1))
    assert all(len(r.extra["curve"]) == 1 and r.extra["continued_from"] == "1x64" for r in finals)  # one more epoch
    assert sorted(r.key for r in records if r.rung == 0 and r.seed == 1) == sorted(r.key for r in promoted)
    assert len([line for line in lines if line.startswith("trial ")]) == 4 + 2 + 2 * 2
    means = {key: sum(r.metric for r in finals if r.key == key) / 2 for key in {r.key for r in finals}}
    winner = max(means, key=means.get)
    assert Arch.load(tmp_path / "best.json").to_dict() == next(r.arch for r in finals if r.key == winner)
    assert summary.best_metric == pytest.approx(means[winner]) and summary.best_fidelity == "2x128"


def test_every_training_is_printed_once_even_when_nni_misses_an_end_event(tmp_path, monkeypatch):
    """NNI can stop an experiment before the end events of its last trial processes arrive; the
    search prints those trainings from the log, and none twice."""
    from eqnas.search import nni_adapter

    def nni_that_drops_end_events(choices, evaluate, accept, on_trial_end, **_):
        samples = [s for s in SPACE.enumerate() if accept(s)][:3]
        for sample in samples:
            evaluate(sample)
        on_trial_end(samples[0])
        on_trial_end(samples[0])  # a repeat is not printed again

    monkeypatch.setattr(nni_adapter, "run_search", nni_that_drops_end_events)
    lines: list[str] = []
    run_search(SPACE, SearchConfig(flops_max=10**12, strategy="random", trials=3),
               lambda arch, hook, job: fake_metric(arch), tmp_path, echo=lines.append)
    assert sorted(line.split(":")[0] for line in lines if line.startswith("trial ")) == ["trial 1", "trial 2", "trial 3"]


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_samples_that_build_one_network_take_one_trial(tmp_path, strategy):
    """A one-stage sample ignores the second stage's width: 16 samples, 12 networks, so 12 trials
    train 12 different networks."""
    space = parse_space({
        "name": "two", "family": "resnet", "group": "C4", "resolution": 13, "num_stages": [1, 2],
        "stem": {"width": [1, 2], "kernel": 3},
        "stages": [{"depth": 1, "width": [1, 2], "stride": 2}, {"depth": 1, "width": [1, 2], "stride": 2}],
        "proxy": {"data": "synthetic", "rungs": "1x64"}})
    assert len(space.enumerate()) == 16 and len(space.distinct(space.enumerate())) == 12
    trained: list[Arch] = []
    summary = run_search(space, SearchConfig(flops_max=10**12, strategy=strategy, trials=12, seed=0),
                         lambda arch, hook, job: trained.append(arch) or fake_metric(arch), tmp_path, echo=lambda _: None)
    assert len(trained) == len(set(trained)) == summary.evaluated == 12


def test_budget_holds_for_the_network_adapted_to_three_channel_nine_class_data(tmp_path):
    """FLOPs are measured after the architecture takes the data's channels and classes: a budget
    between a candidate's 1-channel, 10-class FLOPs and its adapted FLOPs keeps it out."""
    import numpy as np

    from eqnas.cli import main
    from eqnas.search.space import fit_to_data, replace_proxy

    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in {"train": 64, "val": 16, "test": 16}.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 13, 13, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 9).astype(np.uint8)
    np.savez(tmp_path / "rgb9.npz", **arrays)
    data = f"npz:{tmp_path / 'rgb9.npz'}"
    space = fit_to_data(replace_proxy(SPACE, data=data))
    assert space.fixed()["in_channels"] == 3 and space.fixed()["num_classes"] == 9
    as_given = FlopFilter(SPACE, 10**12)
    adapted = FlopFilter(space, 10**12)
    samples = SPACE.enumerate()
    gaps = sorted(((adapted.flops(s) - as_given.flops(s), s) for s in samples[:12]), key=lambda pair: pair[0])
    assert all(gap > 0 for gap, _ in gaps)  # three input channels and nine classes cost more here
    budget = as_given.flops(gaps[-1][1])  # that sample fits as given, but not as it would train
    space_file = tmp_path / "space.yaml"
    space_file.write_text(json.dumps({
        "name": "tiny", "family": "resnet", "group": ["trivial", "C4", "D4"], "resolution": 13,
        "stem": {"width": [1, 2, 3], "kernel": 3}, "stages": [{"depth": [1, 2], "width": [1, 2, 4], "stride": 2}],
        "proxy": {"data": data, "epochs": 1, "subset": 64}}))
    main(["search", "--space", str(space_file), "--flops", str(budget), "--trials", "3", "--strategy", "random",
          "--rungs", "1x64", "--out", str(tmp_path / "run"), "--device", "cpu", "--no-early-stop"])
    records = TrialLog(tmp_path / "run" / "trials.jsonl").read()
    trained = [r for r in records if r.status == "ok"]
    assert trained
    for record in trained:
        arch = Arch.from_dict(record.arch)
        assert (arch.in_channels, arch.num_classes) == (3, 9)
        assert record.flops == arch_flops(arch) <= budget
    best = Arch.load(tmp_path / "run" / "best.json")
    assert (best.in_channels, best.num_classes) == (3, 9) and arch_flops(best) <= budget
    assert SPACE.key(gaps[-1][1]) not in {r.key for r in trained}
