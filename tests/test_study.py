"""`eqnas study`: intervals and paired differences against hand computations, a study killed
mid-grid resumes without retraining finished runs and ends equal to an uninterrupted one, the
privacy report names the data each stage used, overlapping search data is refused under DP, and
bad config keys are one line with exit status 2."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.study.config import load_study, parse_study
from eqnas.study.provenance import public_private
from eqnas.study.records import RUNS, RunLog
from eqnas.study.runner import run_study
from eqnas.study.stats import paired_difference, t_interval, t_quantile
from eqnas.train.adapt import adapt_arch

ROOT = Path(__file__).resolve().parents[1]
TINY_ARCH = {"family": "resnet", "group": "C4", "stem": {"width": 2, "kernel": 3},
             "stages": [{"depth": 1, "width": 2, "stride": 2}], "resolution": 29}
TINY_SPACE = {"name": "tiny", "family": "resnet", "group": "trivial", "resolution": 29, "stem": {"width": 4, "kernel": 3},
              "stages": [{"depth": 1, "width": 4, "stride": 2}],
              "proxy": {"data": "synthetic", "epochs": 1, "subset": 64}}


# --- statistics ------------------------------------------------------------------------------
def test_t_interval_of_three_values_matches_the_hand_computation():
    assert t_quantile(3) == pytest.approx(4.302653, abs=1e-6)  # t_{0.975, 2}, from the table
    interval = t_interval([0.80, 0.82, 0.84])
    # mean 0.82, s = 0.02, half width = 4.302653 * 0.02 / sqrt(3) = 0.0496828
    assert interval.mean == pytest.approx(0.82)
    assert interval.std == pytest.approx(0.02)
    assert interval.half_width == pytest.approx(0.0496828, abs=1e-7)
    assert (interval.low, interval.high) == pytest.approx((0.7703172, 0.8696828), abs=1e-7)
    assert math.isnan(t_interval([0.5]).half_width)


def test_paired_difference_pairs_by_seed_and_matches_the_hand_computation():
    first = {0: 0.80, 1: 0.85, 2: 0.83}
    second = {2: 0.82, 0: 0.78, 1: 0.80, 7: 0.10}  # seed 7 has no partner: left out
    diff = paired_difference(first, second)
    # differences 0.02, 0.05, 0.01: mean 0.0266667, s = sqrt(8.6667e-4 / 2) = 0.0208167,
    # half width = 4.302653 * 0.0208167 / sqrt(3) = 0.0895670 / 1.7320508 = 0.0517115
    assert diff.n == 3
    assert diff.mean == pytest.approx(0.0266667, abs=1e-7)
    assert diff.std == pytest.approx(0.0208167, abs=1e-7)
    assert diff.half_width == pytest.approx(0.0517115, abs=1e-6)
    # pairing removes the shared spread: the unpaired interval of the first arm alone is wider
    assert diff.half_width < t_interval(list(first.values())).half_width + t_interval([0.78, 0.80, 0.82]).half_width


# --- a study on synthetic data with fake retraining ------------------------------------------------
def _study(tmp_path: Path, **changes) -> dict:
    arch_path = tmp_path / "tiny.json"
    Arch.from_dict(TINY_ARCH).save(arch_path)
    space_path = tmp_path / "tiny.yaml"
    space_path.write_text(yaml.safe_dump(TINY_SPACE))
    study = {"name": "t", "datasets": ["synthetic"], "budgets": ["5M"], "seeds": 3, "privacy": ["none", 8],
             "arms": [{"name": "fixed", "arch": str(arch_path)}, {"name": "searched", "space": str(space_path)},
                      {"name": "searched+rot", "space": str(space_path), "augment": "rotate"}],
             "compare": [["fixed", "searched"]], "search": {"trials": 1, "epochs": 1, "subset": 64},
             "search_data": {"public_split": 600, "seed": 1}, "train": {"epochs": 1}}
    study.update(changes)
    return study


class FakeTrain:
    """Stands in for eqnas.train.loop.train: a score fixed by arch, seed and privacy; raises
    KeyboardInterrupt on call number `interrupt_at` (as Ctrl-C would mid-training)."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.interrupt_at = interrupt_at

    def __call__(self, arch, splits, config, out_dir, progress=True):
        if len(self.calls) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        arch = adapt_arch(arch, splits.info, config)[0]  # the network that trains, as train() records it
        self.calls.append((arch.group, arch.stem.width, config.seed, config.epsilon if config.dp else None,
                           config.augment, len(splits.train)))
        acc = 0.5 + 0.1 * (arch.group == "C4") + 0.01 * config.seed - 0.2 * config.dp + 0.03 * (config.augment != "none")
        privacy = {"epsilon": config.epsilon * 0.99, "delta": 1e-5} if config.dp else None
        return SimpleNamespace(metrics={"test_acc": acc, "test_auc": acc, "privacy": privacy, "seconds": 1.5,
                                        "arch": arch.to_dict()})


@pytest.fixture(scope="module")
def whole_study(tmp_path_factory) -> tuple[Path, FakeTrain]:
    """One uninterrupted fake study, shared by the tests that read it."""
    tmp_path = tmp_path_factory.mktemp("study")
    whole = FakeTrain()
    run_study(parse_study(_study(tmp_path)), tmp_path / "whole", train_fn=whole, echo=lambda _: None)
    return tmp_path, whole


def test_a_study_killed_mid_grid_resumes_without_retraining_and_ends_as_an_uninterrupted_one(whole_study):
    tmp_path, whole = whole_study
    config = parse_study(_study(tmp_path))
    assert len(whole.calls) == 3 * 2 * 3  # arms x privacy settings x seeds
    assert all(call[-1] == 2700 - 600 for call in whole.calls)  # every retraining sees only the private part

    killed = FakeTrain(interrupt_at=8)
    with pytest.raises(KeyboardInterrupt):
        run_study(config, tmp_path / "killed", train_fn=killed, echo=lambda _: None)
    assert len(RunLog(tmp_path / "killed" / RUNS).read()) == 7
    resumed, lines = FakeTrain(), []
    run_study(config, tmp_path / "killed", train_fn=resumed, echo=lines.append)
    assert killed.calls + resumed.calls == whole.calls  # nothing trained twice, nothing left out
    assert "resuming: 7 of 18 runs" in lines[0]
    assert [line for line in lines if line.startswith("searching")] == []  # the finished search is reused
    for name in ("results.csv", "cells.csv", "report.md"):
        assert (tmp_path / "killed" / name).read_text() == (tmp_path / "whole" / name).read_text()
    rows = list(csv.DictReader((tmp_path / "whole" / "results.csv").open()))
    assert len(rows) == 18 and {r["epsilon"] for r in rows} == {"none", "8"}
    assert {r["train_images"] for r in rows} == {"2100"}
    assert {r["search_images"] for r in rows if r["arm"] != "fixed"} == {"64"}
    assert (tmp_path / "whole" / "accuracy_vs_flops.png").stat().st_size > 1000
    # the searched tiny net has 111,728 FLOPs with batch norm and 129,920 with DP's group norm:
    # the search counts the larger, and every record holds the FLOPs of the network that trained
    trials = [json.loads(line) for line in (tmp_path / "whole" / "searches" / "synthetic" / "tiny" / "5M" /
                                            "trials.jsonl").read_text().splitlines()]
    assert {t["flops"] for t in trials if t.get("flops")} == {129_920}
    searched = {(r.epsilon, r.flops) for r in RunLog(tmp_path / "whole" / RUNS).read() if r.arm != "fixed"}
    assert searched == {(None, 111_728), (8.0, 129_920)}
    assert (tmp_path / "whole" / "accuracy_vs_epsilon.png").stat().st_size > 1000


def test_the_report_names_the_data_each_stage_used_and_what_epsilon_covers(whole_study):
    tmp_path = whole_study[0]
    report = (tmp_path / "whole" / "report.md").read_text()
    assert "ε covers the retraining only" in report
    public, private = public_private(2700, 600, seed=1)
    assert np.intersect1d(public, private).size == 0 and len(public) + len(private) == 2700
    lines = report.splitlines()
    search = [l for l in lines if l.startswith("- search: synthetic, train split, 64 images: the public part")]
    assert search and "the first 600 of a seeded permutation (seed 1) of the 2700" in search[0]
    assert "the proxy trains on, of its training images, a seeded random 64 of 540 (seed 0)" in search[0]
    assert "(not covered)" in search[0]
    assert any(l.startswith("- search-select: synthetic, train split, 60 images: proxy validation") for l in lines)
    stage_order = [l.split(":")[0] for l in lines if l.startswith("- ")]
    assert stage_order.index("- search") < stage_order.index("- search-select") < stage_order.index("- select")
    retrain = [l for l in lines if l.startswith("- retrain") and "synthetic, train split, 2100 images: the private part" in l]
    assert len(retrain) == 2  # one line per privacy setting, all seeds alike
    assert any("under DP-SGD (ε = 8)" in l and "2100 images" in l and "(covered by ε)" in l for l in retrain)
    assert any("without DP" in l and "(not covered)" in l for l in retrain)
    assert any(l.startswith("- select: synthetic, val split, 300 images") for l in lines)
    assert any(l.startswith("- test: synthetic, test split, 1000 images") for l in lines)
    record = RunLog(tmp_path / "whole" / RUNS).read()[-1]
    stages = {use["stage"]: use for use in record.data_used}
    assert stages["search"]["indices_sha256"] != stages["retrain"]["indices_sha256"]
    paired = [l for l in lines if l.startswith("| synthetic | 5M | none | fixed − searched | 3 |")]
    assert paired and "+0.1000" in paired[0]  # the fake scores C4 0.1 above trivial at every seed


@pytest.mark.parametrize("arm,needle", [
    (0, r"arm 'fixed': .* over the budget 100K"),
    (1, r"arm 'searched' on synthetic at 100K: .*"),
])
def test_an_arm_that_cannot_meet_its_budget_is_refused_before_training(tmp_path, arm, needle):
    study = _study(tmp_path, budgets=["100K"])
    study["arms"], study["compare"] = [study["arms"][arm]], []
    train = FakeTrain()
    with pytest.raises(EqnasError, match=needle):
        run_study(parse_study(study), tmp_path / "s", train_fn=train, echo=lambda _: None)
    assert train.calls == [] and not (tmp_path / "s").exists()


@pytest.mark.parametrize("privacy,refused", [(["none"], False), (["none", 8], True)])
def test_a_searched_arm_must_fit_its_budget_in_every_privacy_setting(tmp_path, privacy, refused):
    """The tiny space's one network: 111,728 FLOPs with batch norm, 129,920 with DP's group norm."""
    from eqnas.study.data import StudyData
    from eqnas.study.grid import cells
    from eqnas.study.winners import check_arms

    study = _study(tmp_path, budgets=["120K"], privacy=privacy)
    study["arms"], study["compare"] = [study["arms"][1]], []
    config = parse_study(study)
    if refused:
        with pytest.raises(EqnasError, match=r"arm 'searched' on synthetic at 120K: .* the smallest needs 130K"):
            check_arms(config, cells(config), StudyData(config))
    else:
        check_arms(config, cells(config), StudyData(config))


def test_cells_that_build_the_same_networks_count_their_flops_once_and_each_budget_is_checked(tmp_path, monkeypatch):
    """Two arms on the tiny space at two budgets are four searched cells of one network: counted
    once in each training mode (2 counts, not 8), and the budget it does not fit is still refused."""
    import eqnas.search.flop_filter as flop_filter
    from eqnas.study.data import StudyData
    from eqnas.study.grid import cells
    from eqnas.study.winners import check_arms

    counted, real = [], flop_filter.arch_flops
    monkeypatch.setattr(flop_filter, "arch_flops", lambda arch: counted.append(arch) or real(arch))
    study = _study(tmp_path, budgets=["200K", "300K"])
    study["arms"], study["compare"] = study["arms"][1:], []
    config = parse_study(study)
    check_arms(config, cells(config), StudyData(config))
    assert len([c for c in cells(config) if c.arm.searched]) == 4 and len(counted) == 2
    study["budgets"] = ["200K", "120K"]
    config = parse_study(study)
    with pytest.raises(EqnasError, match=r"arm 'searched' on synthetic at 120K: .* the smallest needs 130K"):
        check_arms(config, cells(config), StudyData(config))


@pytest.mark.parametrize("search_data,needle", [
    ({}, "a DP study must search on data disjoint from its private training set"),
    ({"dataset": "fashion-mnist"}, "search_data.dataset 'fashion-mnist' holds the images of 'fashion-mnist-rot'"),
])
def test_dp_study_with_overlapping_search_data_is_refused_before_training(tmp_path, search_data, needle):
    study = _study(tmp_path, datasets=["fashion-mnist-rot"], search_data=search_data)
    train = FakeTrain()
    with pytest.raises(EqnasError, match=needle):
        run_study(parse_study(study), tmp_path / "s", train_fn=train, echo=lambda _: None)
    assert train.calls == [] and not (tmp_path / "s").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    # generous: on a loaded 2-core machine the tiny study below took over 300 s (70 s per 1-epoch run)
    return subprocess.run([sys.executable, "-m", "eqnas", *args], capture_output=True, text=True, cwd=ROOT, timeout=1200)


def test_cli_refuses_overlapping_search_data_with_one_line_and_exit_2(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(_study(tmp_path, datasets=["fashion-mnist-rot"],
                                          search_data={"dataset": "fashion-mnist"})))
    result = _cli("study", "--config", str(path), "--out", str(tmp_path / "s"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "holds the images of 'fashion-mnist-rot'" in lines[0]


@pytest.mark.parametrize("change,needle", [
    ({"budget": ["5M"]}, "unknown key 'budget'"),
    ({"arms": [{"name": "a", "arch": "x.json", "augmnt": "rotate"}]}, "arms[0]: unknown key 'augmnt'"),
    ({"train": {"lrr": 0.1}}, "train: unknown key 'lrr'"),
    ({"dp": {"seed": 3}}, "dp: unknown key 'seed'"),
    ({"search": {"trials": 0}}, "search.trials: expected an integer >= 1, got 0"),
    ({"search": {"subset": 590}}, "search.subset: 590 is more than the public part's 600 images leave"),
    ({"privacy": ["none", "eight"]}, "privacy: 'eight' is neither 'none' nor a positive epsilon"),
    ({"seeds": 1}, "seeds: expected an integer >= 2, got 1"),
    ({"compare": [["fixed", "nope"]]}, "compare[0]: unknown arm 'nope'"),
    ({"search_data": {"dataset": "mnist-nope"}}, "search_data.dataset: unknown dataset 'mnist-nope'"),
    ({"arms": [{"name": "a", "arch": "x.json", "augment": "spin"}]}, "arms[0].arch: no architecture 'x.json'"),
])
def test_bad_config_values_name_the_key(tmp_path, change, needle):
    with pytest.raises(EqnasError) as error:
        parse_study(_study(tmp_path, **change), where="study.yaml")
    assert needle in str(error.value) and str(error.value).startswith("study.yaml")
    assert "\n" not in str(error.value)


def test_cli_bad_key_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(_study(tmp_path, arms=[{"name": "a", "arch": str(tmp_path / "tiny.json"),
                                                           "augment": "spin"}])))
    result = _cli("study", "--config", str(path), "--out", str(tmp_path / "s"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "arms[0].augment: 'spin' is not one of" in lines[0] and str(path) in lines[0]


def test_a_real_tiny_study_through_the_cli_and_its_report(tmp_path):
    """Real training end to end: two seeds, no DP, one fixed arm, 1 epoch on 64 images."""
    study = _study(tmp_path, privacy=["none"], seeds=2, arms=[{"name": "fixed", "arch": str(tmp_path / "tiny.json")}],
                   compare=[], search_data={}, train={"epochs": 1, "subset": 64})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    result = _cli("study", "--config", str(path), "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert "[2/2] synthetic 5M fixed seed 1 (no DP): test acc" in result.stdout
    saved = json.loads((tmp_path / "s" / "study_config.json").read_text())
    assert saved["train"]["subset"] == 64 and saved["seeds"] == [0, 1]
    report = _cli("report", str(tmp_path / "s"))
    assert report.returncode == 0, report.stderr
    assert "| synthetic | 5M | fixed | none | 2 |" in report.stdout
    assert "No run is private" in report.stdout
    records = RunLog(tmp_path / "s" / RUNS).read()
    assert [r.seed for r in records] == [0, 1] and all(0.0 <= r.test_acc <= 1.0 for r in records)
    assert (tmp_path / "s" / "runs" / "synthetic_5000000_fixed_none_seed0" / "metrics.json").exists()


@pytest.mark.parametrize("name", ["study_small.yaml", "study_gpu.yaml"])
def test_shipped_study_files_load_and_their_fixed_architectures_fit_their_budgets(name):
    from eqnas.study.grid import cells
    from eqnas.study.provenance import check_search_data
    from eqnas.study.data import StudyData
    from eqnas.study.winners import check_arms

    config = load_study(ROOT / "examples" / name)
    assert len(config.seeds) >= 3 and None in config.epsilons and 8.0 in config.epsilons
    check_search_data(config.datasets, config.search_data.dataset, config.search_data.public_split, config.private)
    check_arms(config, cells(config), StudyData(config))  # raises if an arm cannot meet a budget it is placed at
