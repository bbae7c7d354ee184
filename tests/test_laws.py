"""`eqnas laws`: size and fraction choice, the sweep's records and resume, failures, and the fit
checked against losses generated from a known law."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eqnas.arch import Arch
from eqnas.build import build
from eqnas.errors import EqnasError
from eqnas.profiling import arch_flops
from eqnas.scaling.law_fit import FitConfig
from eqnas.scaling.law_report import fit_problem, run_laws
from eqnas.scaling.law_sizes import candidate_samples, parse_fractions, parse_sizes, pick_sizes, subset_sizes
from eqnas.scaling.law_groups import parse_groups
from eqnas.scaling.law_recipe import PointRecipe
from eqnas.scaling.law_sweep import PointLog, SweepConfig, run_sweeps, train_metrics
from eqnas.search.space import parse_space

ROOT = Path(__file__).resolve().parents[1]
FAST_FIT = FitConfig(n_boot=20)
LAW = dict(E=0.4, A=3.0, B=3.0, alpha=0.5, beta=0.6)  # every point below chance (ln 6 on synthetic)
TWO_EPOCHS = PointRecipe.fixed_epochs(2)


def tiny_space(name: str = "tiny_plain", group: str = "trivial", **proxy):
    return parse_space({
        "name": name, "family": "resnet", "group": group, "resolution": 9,
        "stem": {"width": [1, 2, 4], "kernel": 3},
        "stages": [{"depth": [1, 2], "width": [1, 2, 4], "stride": 2}],
        "proxy": {"data": "synthetic", "epochs": 1, "subset": 90, "batch_size": 32, **proxy},
    })


def params_of(arch) -> int:
    return sum(p.numel() for p in build(arch).parameters() if p.requires_grad)


class LawTrainer:
    """A stand-in for training: the loss a known law gives the point; every call is logged."""

    def __init__(self, fail_on: set[tuple[int, int]] = frozenset(), interrupt_at: int | None = None):
        self.calls: list[tuple[int, int]] = []
        self.configs = []
        self.fail_on = fail_on
        self.interrupt_at = interrupt_at

    def __call__(self, arch, splits, config, on_epoch):
        n = params_of(arch)
        if self.interrupt_at is not None and len(self.calls) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls.append((n, config.subset))
        self.configs.append(config)
        if (n, config.subset) in self.fail_on:
            raise RuntimeError("CUDA out of memory (simulated)")
        d = config.subset  # the law's D: training images
        loss = LAW["E"] + LAW["A"] / n ** LAW["alpha"] + LAW["B"] / d ** LAW["beta"]
        privacy = {"epsilon": config.epsilon * 0.97} if config.dp else None
        return {"best_val": {"loss": loss, "acc": 0.5, "auc": 0.5}, "privacy": privacy, "epochs": config.epochs}


# --- flags --------------------------------------------------------------------------------


def test_fraction_count_is_log_spaced_ending_at_one_and_lists_are_kept():
    assert parse_fractions("3") == pytest.approx((1 / 9, 1 / 3, 1.0))
    assert parse_fractions("1") == (1.0,)
    assert parse_fractions("0.1, 0.3,1") == (0.1, 0.3, 1.0)
    assert subset_sizes(parse_fractions("3"), 4000) == (444, 1333, 4000)


@pytest.mark.parametrize("text,needle", [
    ("0,1", "0 is not in (0, 1]"), ("0.5,1.5", "1.5 is not in (0, 1]"), ("a,1", "'a' is not a number"),
    ("0.3,0.3", "repeated"), ("0", "count of at least 1"),
])
def test_bad_fractions_name_the_value(text, needle):
    with pytest.raises(EqnasError) as error:
        parse_fractions(text)
    assert needle in str(error.value)


def test_sizes_parse_as_count_or_targets():
    assert parse_sizes("3") == 3
    assert parse_sizes("2e4,1e5,5e5") == (2e4, 1e5, 5e5)
    for bad, needle in (("-5,2", "-5 is not a positive"), ("x", "'x' is not a number"), ("0", "at least 1")):
        with pytest.raises(EqnasError) as error:
            parse_sizes(bad)
        assert needle in str(error.value)


def test_subsets_that_round_to_the_same_count_are_refused():
    with pytest.raises(EqnasError, match="3 training images twice"):
        subset_sizes((0.3, 0.31), 10)
    with pytest.raises(EqnasError, match="less than one image"):
        subset_sizes((0.01, 1.0), 10)


# --- choosing sizes -----------------------------------------------------------------------


def test_count_picks_nearest_distinct_sizes_to_log_spaced_targets():
    params = [10000, 150, 100, 1100, 1000, 9000, 100]
    # targets 100, 1000, 10000 -> the first index of 100, then 1000, then 10000
    assert pick_sizes(params, 3) == [2, 4, 0]
    # greedy and distinct: with N crowded at the low end the middle target takes the nearest unused N
    assert [[100, 101, 102, 103, 10000][i] for i in pick_sizes([100, 101, 102, 103, 10000], 3)] == [100, 103, 10000]
    with pytest.raises(EqnasError, match="only 2 distinct parameter counts"):
        pick_sizes([100, 100, 200], 3)


def test_explicit_targets_pick_the_nearest_model_each():
    params = [100, 150, 1000, 1100, 9000, 10000]
    assert [params[i] for i in pick_sizes(params, (120.0, 1050.0, 5000.0))] == [100, 1100, 9000]
    with pytest.raises(EqnasError, match="outside this space's range of 100 to 10000"):
        pick_sizes(params, (120.0, 1e6))
    with pytest.raises(EqnasError, match="1000 and 1010 both pick the model with 1000"):
        pick_sizes(params, (1000.0, 1010.0))


def test_large_spaces_are_sized_from_a_seeded_sample_with_both_ends():
    space = tiny_space()
    assert len(candidate_samples(space, limit=300)) == space.size() == 18
    few = candidate_samples(space, limit=5, seed=3)
    keys = [space.key(s) for s in few]
    assert len(few) == 7 and len(set(keys)) == 7
    assert {"stem.width": 1, "stages.0.depth": 1, "stages.0.width": 1} in few
    assert {"stem.width": 4, "stages.0.depth": 2, "stages.0.width": 4} in few
    assert keys == [space.key(s) for s in candidate_samples(space, limit=5, seed=3)]


# --- the sweep ----------------------------------------------------------------------------


def test_known_law_is_recovered_and_every_output_is_written(tmp_path):
    trainer = LawTrainer()
    spaces = [tiny_space(), tiny_space("tiny_c4", "C4")]
    config = SweepConfig(sizes=3, fractions=(1 / 9, 1 / 3, 1.0), recipe=TWO_EPOCHS)
    families = run_laws(spaces, config, tmp_path, budgets=(1e9,),
                        fit_config=FAST_FIT, echo=lambda _: None, train_fn=trainer)
    assert len(trainer.calls) == 18
    for family in families:
        records = sorted(PointLog(tmp_path / family.name / "points.jsonl").latest().values(),
                         key=lambda r: (r.params, r.subset))
        assert [r.subset for r in records[:3]] == [10, 30, 90]
        for r in records:
            assert r.samples_seen == 2 * r.subset
            assert r.train_flops == 3 * r.flops_per_sample * r.samples_seen
        assert records[0].flops_per_sample == arch_flops(Arch.from_dict(records[0].arch))
        law = family.law
        for name, true in LAW.items():
            assert getattr(law, name) == pytest.approx(true, rel=0.05), name
        fit = json.loads((tmp_path / family.name / "fit.json").read_text())
        assert fit["law"]["alpha"] == pytest.approx(0.5, rel=0.05) and fit["flop_model"]["p"] > 0
        budgets = [o["flops"] for o in fit["optima"]]
        assert 1e9 in budgets and len(budgets) == 5
        for png in ("loss_vs_params.png", "iso_flops.png", "frontier.png"):
            assert (tmp_path / family.name / png).stat().st_size > 5000
    assert (tmp_path / "families.png").stat().st_size > 5000
    report = (tmp_path / "report.md").read_text()
    assert "| tiny_plain | 9 / 0 |" in report and "| tiny_c4 | 9 / 0 |" in report
    assert report.count("| ok |") == 18


def test_interrupted_sweep_resumes_without_retraining(tmp_path):
    space, config = tiny_space(), SweepConfig(sizes=3, fractions=(1 / 9, 1 / 3, 1.0))
    first = LawTrainer(interrupt_at=4)
    with pytest.raises(KeyboardInterrupt):
        run_sweeps([space], config, tmp_path, echo=lambda _: None, train_fn=first)
    assert len(PointLog(tmp_path / "tiny_plain" / "points.jsonl").latest()) == 3
    second = LawTrainer()
    records = run_sweeps([space], config, tmp_path, echo=lambda _: None, train_fn=second)["tiny_plain"]
    assert len(second.calls) == 6 and not set(first.calls) & set(second.calls)
    assert len(records) == 9 and all(r.status == "ok" for r in records)
    third = LawTrainer()
    run_sweeps([space], config, tmp_path, echo=lambda _: None, train_fn=third)
    assert third.calls == []


def test_a_failed_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    config = SweepConfig(sizes=3, fractions=(1 / 9, 1 / 3, 1.0))
    probe = LawTrainer()
    run_sweeps([tiny_space()], config, tmp_path / "probe", echo=lambda _: None, train_fn=probe)
    bad = probe.calls[4]
    flaky = LawTrainer(fail_on={bad})
    lines: list[str] = []
    families = run_laws([tiny_space()], config, tmp_path, fit_config=FAST_FIT, echo=lines.append, train_fn=flaky)
    assert len(flaky.calls) == 9
    records = PointLog(tmp_path / "tiny_plain" / "points.jsonl").latest().values()
    failed = [r for r in records if r.status == "failed"]
    assert [(r.params, r.subset) for r in failed] == [bad]
    assert "out of memory" in failed[0].error and failed[0].loss is None
    assert any("FAILED" in line and f"N={bad[0]}" in line for line in lines)
    assert families[0].law is not None and families[0].law.n_points == 8
    retry = LawTrainer()
    run_sweeps([tiny_space()], config, tmp_path, echo=lambda _: None, train_fn=retry)
    assert retry.calls == [bad]


def test_dp_points_train_private_and_record_epsilon(tmp_path):
    trainer = LawTrainer()
    config = SweepConfig(sizes=2, fractions=(0.5, 1.0), dp=True, epsilon=3.0)
    records = run_sweeps([tiny_space()], config, tmp_path, echo=lambda _: None, train_fn=trainer)["tiny_plain"]
    assert all(c.dp and c.epsilon == 3.0 for c in trainer.configs)
    assert sorted(r.epsilon for r in records) == pytest.approx([2.91] * 4)
    assert all(r.arch["norm"] == "group" for r in records)  # batch norm is swapped out under DP


def test_a_rerun_with_another_recipe_is_refused(tmp_path):
    config = SweepConfig(sizes=2, fractions=(0.5, 1.0))
    run_sweeps([tiny_space()], config, tmp_path, echo=lambda _: None, train_fn=LawTrainer())
    with pytest.raises(EqnasError, match="batch_size 32 -> 16"):
        run_sweeps([tiny_space(batch_size=16)], config, tmp_path, echo=lambda _: None, train_fn=LawTrainer())


def test_too_few_sizes_or_points_explain_what_the_fit_needs():
    assert fit_problem([1, 2, 3, 1, 2, 3], [1, 1, 2, 2, 3, 3]) == ""
    problem = fit_problem([1, 1, 1, 2, 2, 2], [1, 2, 3, 1, 2, 3])
    assert problem.startswith("the fit needs more points") and "2 distinct N, need 3 (--sizes)" in problem
    assert "4 point(s) succeeded, need 5" in fit_problem([1, 2, 3, 4], [1, 2, 3, 4])


def test_real_training_on_synthetic_too_few_sizes_then_extended_to_a_fit(tmp_path):
    """2 x 3 real points: no fit and a clear message; the same out dir with 3 sizes trains only
    the new size's points and fits."""
    trained = []

    def counting(arch, splits, config, on_epoch):
        trained.append((params_of(arch), config.subset))
        return train_metrics(arch, splits, config, on_epoch)

    space = tiny_space(lr=0.03, subset=300)
    ONE_EPOCH = PointRecipe(min_samples=3000, lr_power=0.0)  # 10-12 epochs at the proxy's lr
    lines: list[str] = []
    config = SweepConfig(sizes=2, fractions=(1 / 9, 1 / 3, 1.0), device="cpu", recipe=ONE_EPOCH)
    first = run_laws([space], config, tmp_path, fit_config=FAST_FIT, echo=lines.append, train_fn=counting)
    assert len(set(trained)) == 6 and first[0].law is None
    assert any(line.startswith("tiny_plain: no fit, the fit needs more points") and "2 distinct N, need 3" in line
               for line in lines)
    assert not (tmp_path / "tiny_plain" / "fit.json").exists()
    assert "the fit needs more points" in (tmp_path / "report.md").read_text()
    records = PointLog(tmp_path / "tiny_plain" / "points.jsonl").latest().values()
    for r in records:  # learned (below chance), or diverged on both attempts and recorded so
        assert (r.status == "ok" and 0 < r.loss < math.log(6)) or (r.diverged and r.attempts == 2 and r.loss is None)
    assert len(trained) == 6 + sum(r.attempts == 2 for r in records)

    first_points = set(trained)
    families = run_laws([space], SweepConfig(sizes=3, fractions=(1 / 9, 1 / 3, 1.0), device="cpu", recipe=ONE_EPOCH),
                        tmp_path, fit_config=FAST_FIT, echo=lines.append, train_fn=counting)
    new = set(trained) - first_points
    assert len(new) == 3 and len({n for n, _ in new}) == 1  # only the middle size is new, nothing retrained
    assert len(trained) - len(set(trained)) == sum(r.attempts == 2 for r in families[0].records)
    law = families[0].law
    assert law.n_points == len(families[0].ok) >= 5 and np.isfinite([law.E, law.A, law.B, law.alpha, law.beta]).all()
    fit = json.loads((tmp_path / "tiny_plain" / "fit.json").read_text())
    assert len(fit["observations"]) == law.n_points
    assert (tmp_path / "tiny_plain" / "loss_vs_params.png").stat().st_size > 5000
    # the frontier plots exist exactly when the fitted exponents allow a compute-optimal point
    has_frontier = bool(fit["optima"])
    assert (tmp_path / "tiny_plain" / "frontier.png").exists() == has_frontier
    assert (tmp_path / "tiny_plain" / "iso_flops.png").exists() == has_frontier


class Scripted(LawTrainer):
    """LawTrainer whose losses for chosen points follow a script, one loss per attempt."""

    def __init__(self, script: dict[tuple[int, int], list[float]]):
        super().__init__()
        self.script = {point: list(losses) for point, losses in script.items()}

    def __call__(self, arch, splits, config, on_epoch):
        result = super().__call__(arch, splits, config, on_epoch)
        losses = self.script.get(self.calls[-1])
        return {**result, "best_val": {**result["best_val"], "loss": losses.pop(0)}} if losses else result


def test_a_diverged_run_is_retried_once_then_recorded_failed_and_never_fitted(tmp_path):
    config = SweepConfig(sizes=3, fractions=(1 / 9, 1 / 3, 1.0))
    probe = LawTrainer()
    run_sweeps([tiny_space()], config, tmp_path / "probe", echo=lambda _: None, train_fn=probe)
    lost, rescued = probe.calls[0], probe.calls[4]
    trainer = Scripted({lost: [float("nan"), 2.5], rescued: [1.8, 0.9]})  # chance: ln 6 = 1.792
    lines: list[str] = []
    families = run_laws([tiny_space()], config, tmp_path, fit_config=FAST_FIT, echo=lines.append, train_fn=trainer)
    assert len(trainer.calls) == 9 + 2
    first_lr = trainer.configs[0].lr
    retries = [c.lr for call, c in zip(trainer.calls, trainer.configs) if call == lost]
    assert retries == [first_lr, float(f"{first_lr * 0.3:.3g}")]
    records = {(r.params, r.subset): r for r in families[0].records}
    failed = records[lost]
    assert (failed.status, failed.diverged, failed.attempts, failed.loss) == ("failed", True, 2, None)
    assert "diverged at lr" in failed.error and "best validation loss 2.5 (chance 1.7918)" in failed.error
    assert (records[rescued].status, records[rescued].attempts, records[rescued].loss) == ("ok", 2, 0.9)
    assert any("FAILED" in line and f"N={lost[0]}" in line for line in lines)
    assert any("(retried)" in line and "loss 0.9000" in line for line in lines)
    N, D, loss = families[0].columns()  # the fit's input
    assert len(N) == families[0].law.n_points == 8 and lost not in set(zip(N.tolist(), D.tolist()))
    assert (loss < math.log(6)).all() and 0.9 in loss.tolist()
    again = LawTrainer()
    run_sweeps([tiny_space()], config, tmp_path, echo=lambda _: None, train_fn=again)
    assert again.calls == []  # a point that diverged twice would diverge again: not retrained


def test_groups_sweep_one_law_each_at_matched_flops_and_resume_trains_nothing_twice(tmp_path):
    space = tiny_space("tiny_c4", "C4")
    config = SweepConfig(sizes=3, fractions=(1 / 9, 1 / 3, 1.0), groups=parse_groups("trivial,C2,C4"))
    first = LawTrainer(interrupt_at=14)
    with pytest.raises(KeyboardInterrupt):
        run_sweeps([space], config, tmp_path, echo=lambda _: None, train_fn=first)
    rest = LawTrainer()
    families = run_laws([space], config, tmp_path, fit_config=FAST_FIT, echo=lambda _: None, train_fn=rest)
    assert len(first.calls) + len(rest.calls) == 27 and not set(first.calls) & set(rest.calls)
    assert [(f.name, f.group) for f in families] == [("tiny_c4", "trivial"), ("tiny_c4", "C2"), ("tiny_c4", "C4")]
    by_group = {}
    for family in families:
        records = sorted(family.records, key=lambda r: (r.flops_per_sample, r.subset))
        assert {r.group for r in records} == {family.group} and family.law is not None
        by_group[family.group] = records
    for trivial, c2, c4 in zip(*by_group.values()):
        assert trivial.subset == c2.subset == c4.subset and trivial.lr == c2.lr == c4.lr
        flops = [r.flops_per_sample for r in (trivial, c2, c4)]
        assert max(flops) / min(flops) - 1 < 0.05  # tiny nets: the head's share is larger than in real sizes
        assert trivial.params > c2.params > c4.params  # same channels, fewer coefficients for larger groups
    settings = json.loads((tmp_path / "tiny_c4-C2" / "sweep.json").read_text())
    assert settings["recipe"]["group"] == "C2" and settings["epochs"] == [12, 12, 12]
    assert (tmp_path / "tiny_c4" / "C2" / "fit.json").exists()  # points per group folder, fits per space
    assert (tmp_path / "tiny_c4" / "exponents_vs_group.png").exists()
    third = LawTrainer()
    run_sweeps([space], config, tmp_path, echo=lambda _: None, train_fn=third)
    assert third.calls == []


# --- the CLI ------------------------------------------------------------------------------


@pytest.mark.parametrize("args,needle", [
    (["--data-fractions", "0,1"], "0 is not in (0, 1]"),
    (["--sizes", "2e4,abc"], "'abc' is not a number"),
    (["--epsilon", "2"], "--epsilon 2 applies only to DP-SGD"),
    (["--epochs", "2", "--max-epochs", "5"], "--epochs 2 trains every point that long"),
    (["--groups", "trivial,C7x"], "--groups 'trivial,C7x': unknown group 'C7x'"),
    (["--groups", "trivial,D16"], "group D16 is not valid for 'tiny_c8_laws sample': the stem has 16 channels"),
    (["--space", "spaces/d8_restricted_resnet.yaml", "--groups", "C8"], "stages restrict the group"),
    (["--space", "spaces/group_resnet.yaml", "--groups", "C8"], "space 'group_resnet' searches its group"),
])
def test_cli_bad_values_exit_2_with_one_line(tmp_path, args, needle):
    space = [] if "--space" in args else ["--space", str(ROOT / "spaces/tiny_c8_laws.yaml")]
    result = subprocess.run(
        [sys.executable, "-m", "eqnas", "laws", *space, *args,
         "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0]
    assert not (tmp_path / "out").exists()


def test_exponents_stopped_at_a_bound_are_flagged():
    from eqnas.scaling.law_fit import LawFit
    from eqnas.scaling.law_report import bound_notes

    def law(alpha, beta):
        return LawFit(E=1.0, A=1.0, B=1.0, alpha=alpha, beta=beta, huber_loss=0.0, n_points=9)

    assert bound_notes(law(0.5, 0.3)) == []
    notes = bound_notes(law(10.0, 5e-4))
    assert [n.split(" ")[0] for n in notes] == ["alpha", "beta"] and "at its bound" in notes[0]
    hidden = LawFit(E=1.0, A=0.016, B=1.0, alpha=8.0, beta=0.3, huber_loss=0.0, n_points=9, flat=("alpha",))
    assert [n.split(" ")[0] for n in bound_notes(hidden)] == ["alpha"] and "under 1%" in bound_notes(hidden)[0]
