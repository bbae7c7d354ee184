"""`eqnas search --strategy supernet`: one trained supernet per group, subnets scored with its
weights (checked against scoring them by hand), one winner per budget, the import of a winner
with the supernet's weights, resuming, top-k retraining, and bad flags."""
from __future__ import annotations

import json
import os

import pytest
import torch

import eqnas
from eqnas.arch import Arch
from eqnas.check import relative_error
from eqnas.cli import main
from eqnas.data.registry import load_dataset
from eqnas.profiling import arch_flops
from eqnas.search.records import TrialLog, arch_identity
from eqnas.search.space import fit_to_data, load_space
from eqnas.search.supernet_options import KERNEL_MODE_NAMES
from eqnas.supernet.kernels import KERNEL_MODES
from eqnas.supernet.record import load_supernet, supernet_files
from eqnas.supernet.score import score_data, score_subnet

SPACE = {"name": "tiny", "family": "resnet", "group": ["trivial", "C4"], "resolution": 13,
         "stem": {"width": [1, 2], "kernel": 3},
         "stages": [{"depth": [1, 2], "width": [1, 2], "kernel": [3, 5], "stride": 2}],
         "proxy": {"data": "synthetic", "epochs": 1, "subset": 64}}
BUDGETS = (60_000, 300_000)  # 60K holds some subnets of each group, 300K all but one
FLAGS = ["--strategy", "supernet", "--trials", "40", "--supernet-epochs", "1", "--supernet-images", "64",
         "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A two-budget search of a 32-subnet space (every subnet scored: --trials 40), with the top
    winner of each budget retrained stand-alone."""
    folder = tmp_path_factory.mktemp("supernet-search")
    space_file = folder / "space.json"
    space_file.write_text(json.dumps(SPACE))
    out = folder / "run"
    main(["search", "--space", str(space_file), "--flops", ",".join(map(str, BUDGETS)), *FLAGS, "--top-k", "1",
          "--reference", "1x32", "--out", str(out)])
    return space_file, out


def budget_records(out, budget):
    return TrialLog(out / f"{budget // 1000}K" / "trials.jsonl").read()


def test_one_supernet_per_group_and_every_subnet_within_each_budget_scored_once(run):
    space_file, out = run
    assert sorted(path.parent.name for path in supernet_files(out)) == ["group=C4", "group=trivial"]
    space = fit_to_data(load_space(space_file))
    for budget in BUDGETS:
        records = budget_records(out, budget)
        scored = {r.key for r in records if r.status == "ok"}
        rejected = {r.key for r in records if r.status == "rejected"}
        within = {space.key(s) for s in space.enumerate() if arch_flops(space.to_arch(s)) <= budget}
        assert scored == within and rejected == {space.key(s) for s in space.enumerate()} - within
        best = Arch.load(out / f"{budget // 1000}K" / "best.json")
        assert arch_flops(best) <= budget
        assert max(r.metric for r in records if r.status == "ok") == pytest.approx(
            next(r.metric for r in records if r.status == "ok" and r.arch == best.to_dict()))
    # a network within both budgets is scored once: the second budget reuses the first's score
    small = {arch_identity(r.arch): r for r in budget_records(out, BUDGETS[0]) if r.status == "ok"}
    for record in budget_records(out, BUDGETS[1]):
        if record.status == "ok" and arch_identity(record.arch) in small:
            assert record.metric == small[arch_identity(record.arch)].metric and record.seconds == 0.0


def test_the_flop_counts_kept_in_the_run_folder_are_fvcores(run):
    """The cap (the largest budget) counted every subnet of both groups once; the counts kept for
    a resumed run are each network's fvcore FLOPs, by sample key."""
    space_file, out = run
    space = fit_to_data(load_space(space_file))
    kept = json.loads((out / "flops.json").read_text())
    assert kept["modes"] == []
    assert set(kept["flops"]) == {space.key(s) for s in space.enumerate()}
    for sample in space.enumerate()[::5]:
        assert kept["flops"][space.key(sample)] == arch_flops(space.to_arch(sample))


def test_recorded_scores_are_the_inherited_weight_scores_of_the_trained_supernets(run):
    """Oracle: each subnet scored again by hand, with the supernet read back from its folder."""
    _, out = run
    splits = load_dataset("synthetic", resolution=13, seed=0)
    data = score_data(splits, seed=0)
    supernets = {path.parent.name: load_supernet(path) for path in supernet_files(out)}
    records = [r for r in budget_records(out, BUDGETS[0]) if r.status == "ok"][:4]
    for record in records:
        arch = Arch.from_dict(record.arch)
        supernet = supernets[f"group={record.sample['group']}"]
        assert score_subnet(supernet, arch, data)["acc"] == pytest.approx(record.metric)


def test_a_winner_loads_with_its_groups_supernet_weights(run):
    _, out = run
    for budget in BUDGETS:
        best_file = out / f"{budget // 1000}K" / "best.json"
        best = Arch.load(best_file)
        supernet = next(load_supernet(p) for p in supernet_files(out) if p.parent.name == f"group={best.group}")
        x = torch.rand(3, 1, 13, 13, generator=torch.Generator().manual_seed(0))
        for where in (out, best_file.parent):  # the run folder, or the budget's folder in it
            loaded = eqnas.load(where, subnet=best_file)
            with torch.no_grad():
                assert relative_error(supernet(x, best), loaded(x)) <= 1e-5


def test_top_k_retrains_each_winner_once_and_reports_both_numbers(run):
    _, out = run
    lines = (out / "retrained.jsonl").read_text().splitlines()
    winners = {arch_identity(Arch.load(out / f"{b // 1000}K" / "best.json").to_dict()) for b in BUDGETS}
    assert len(lines) == len(winners)
    for budget in BUDGETS:
        (row,) = json.loads((out / f"{budget // 1000}K" / "retrained.json").read_text())
        best = Arch.load(out / f"{budget // 1000}K" / "best.json")
        assert row["arch"] == best.to_dict() and row["standalone_fidelity"] == "1x32"
        assert 0.0 <= row["standalone"] <= 1.0 and 0.0 <= row["inherited"] <= 1.0


def test_a_resumed_search_trains_and_scores_nothing_again(run, capsys):
    space_file, out = run
    supernet_times = [os.path.getmtime(p) for p in supernet_files(out)]
    before = [budget_records(out, b) for b in BUDGETS]
    main(["search", "--space", str(space_file), "--flops", ",".join(map(str, BUDGETS)), *FLAGS, "--top-k", "1",
          "--reference", "1x32", "--out", str(out), "--resume"])
    assert [os.path.getmtime(p) for p in supernet_files(out)] == supernet_times
    assert [budget_records(out, b) for b in BUDGETS] == before
    assert len((out / "retrained.jsonl").read_text().splitlines()) <= len(BUDGETS)
    with pytest.raises(SystemExit) as exit_info:  # without --resume: refused, nothing touched
        main(["search", "--space", str(space_file), "--flops", ",".join(map(str, BUDGETS)), *FLAGS, "--out", str(out)])
    assert exit_info.value.code == 2 and "--resume" in capsys.readouterr().err


def test_retrain_can_start_from_the_supernets_weights(run, tmp_path):
    """With a learning rate of 1e-12 one epoch moves no weight measurably, so the retrained
    network's weights are the supernet's."""
    _, out = run
    best_file = out / f"{BUDGETS[0] // 1000}K" / "best.json"
    main(["retrain", "--arch", str(best_file), "--data", "synthetic", "--out", str(tmp_path / "r"), "--epochs", "1",
          "--subset", "32", "--lr", "1e-12", "--weight-decay", "0", "--init-from-supernet", str(out), "--device", "cpu"])
    trained = eqnas.load(tmp_path / "r")
    inherited = eqnas.load(out, subnet=best_file)
    weights = dict(inherited.named_parameters())
    for name, tensor in trained.named_parameters():
        assert torch.allclose(tensor, weights[name], atol=1e-8), name


@pytest.mark.parametrize("flags, named", [
    (["--strategy", "random", "--flops", "1M,2M"], "--flops 1M,2M"),
    (["--strategy", "random", "--flops", "1M", "--top-k", "2"], "--top-k"),
    (["--strategy", "evolution", "--flops", "1M", "--supernet-epochs", "2"], "--supernet-epochs"),
    (["--strategy", "supernet", "--flops", "1M,1M"], "given twice"),
    (["--strategy", "supernet", "--flops", "1M", "--reference", "1x10,2x20"], "--reference"),
    (["--strategy", "supernet", "--flops", "1M,2M", "--supernet-cap", "1.5M"], "--supernet-cap 1.5M"),
    (["--strategy", "supernet", "--flops", "1M", "--supernet-cap", "lots"], "--supernet-cap 'lots'"),
    (["--strategy", "evolution", "--flops", "1M", "--supernet-cap", "none"], "--supernet-cap"),
])
def test_bad_supernet_flags_are_one_line_and_exit_2(flags, named, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--space", "spaces/c8_resnet.yaml", *flags, "--out", str(tmp_path / "run")])
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and named in line
    assert not (tmp_path / "run").exists()


def test_the_cli_knows_every_kernel_mode():
    assert KERNEL_MODE_NAMES == tuple(KERNEL_MODES)
