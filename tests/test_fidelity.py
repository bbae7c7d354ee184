"""Multi-fidelity search: rungs and their flags, successive halving against hand-made tables of
scores (ties, failures, eta 2 and 3), and whole searches with a train function that looks its
scores up in a table (promotions, continuation, finalists' seeds, a kill mid-rung and --resume)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eqnas.arch import Arch
from eqnas.errors import EqnasError
from eqnas.search.fidelity import (Fidelity, Rung, default_rungs, halve, mean_score, parse_rungs, promote, rank,
                                   successive_halving)
from eqnas.search.records import TrialLog, TrialRecord
from eqnas.search.report import report_table
from eqnas.search.runner import SearchConfig, run_search, write_outputs
from eqnas.search.space import Proxy, parse_space
from eqnas.search.standings import standings
from eqnas.search.trial import stopping_rule

# ---------------------------------------------------------------- rungs and their flags


def test_rungs_parse_and_the_default_schedule_adds_an_epoch_and_eta_times_the_samples():
    assert parse_rungs("1x2000, 2x6000,3xALL") == (Rung(1, 2000), Rung(2, 6000), Rung(3, None))
    assert default_rungs(1, 6000, 3) == (Rung(1, 6000), Rung(2, 9000), Rung(3, 18000))
    assert default_rungs(2, 1000, 2) == (Rung(2, 1000), Rung(3, 1333), Rung(4, 2000))  # 2000, 4000, 8000 samples
    assert default_rungs(2, None, 2) == (Rung(2, None), Rung(3, None), Rung(4, None))
    fidelity = Fidelity.of(Proxy())  # the CLI's default
    assert fidelity.label == "1x6000,2x9000,3x18000" and fidelity.eta == 3 and fidelity.finalist_seeds == 2
    assert Fidelity.of(Proxy(rungs="1x2000")).rungs == (Rung(1, 2000),)  # one rung: today's single proxy


def test_which_promotions_continue_from_the_rung_below():
    assert Rung(2, 6000).continues(Rung(1, 2000))  # more epochs, a superset of the images
    assert Rung(3, None).continues(Rung(2, 6000))
    assert not Rung(1, 6000).continues(Rung(1, 2000))  # no extra epoch to train
    assert not Rung(3, 2000).continues(Rung(2, 6000))  # fewer images
    assert not Rung(2, 6000).continues(Rung(1, None))
    mixed = Fidelity(parse_rungs("1x2000,1x6000,2x6000"))
    assert [mixed.continues(k) for k in range(3)] == [False, False, True]
    assert not Fidelity(mixed.rungs, promotion="retrain").continues(2)
    # the rungs a new seed trains to be scored at a rung as promotion scored it
    assert list(mixed.path(2)) == [1, 2] and list(Fidelity.of(Proxy()).path(2)) == [0, 1, 2]
    assert list(Fidelity(mixed.rungs, promotion="retrain").path(2)) == [2]


@pytest.mark.parametrize("rungs, eta, message", [
    ("1x0", 3, "'1x0'"), ("2000", 3, "'2000'"), ("ax3", 3, "'ax3'"), ("1x2000,,2x6000", 3, "''"),
    ("1x2000,1x2000", 3, "1x2000"), ("2x6000,1x6000", 3, "1x6000"), ("1x2000", 1, "eta=1"),
])
def test_bad_rungs_name_the_bad_value(rungs, eta, message):
    with pytest.raises(EqnasError, match=message):
        Fidelity.of(Proxy(rungs=rungs, eta=eta))


@pytest.mark.parametrize("flags, named", [
    (["--rungs", "1x2000,0x6000"], "'0x6000'"), (["--rungs", "3x100,2x100"], "2x100"), (["--eta", "1"], "eta=1"),
    (["--rungs", "1x2000", "--epochs", "2"], "--epochs"),
])
def test_bad_rung_flags_exit_2_with_one_line(tmp_path, capsys, flags, named):
    from eqnas.cli import main

    space_file = tmp_path / "space.yaml"
    space_file.write_text(json.dumps({"name": "tiny", "family": "resnet", "group": "C4", "resolution": 13,
                                      "stem": {"width": [1, 2], "kernel": 3}, "stages": [{"depth": 1, "width": 1}],
                                      "proxy": {"data": "synthetic"}}))
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--space", str(space_file), "--flops", "50M", "--out", str(tmp_path / "run"), *flags])
    error = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(error) == 1 and named in error[0]
    assert not (tmp_path / "run").exists()


def test_the_space_file_takes_rungs_or_epochs_and_subset():
    space = {"name": "s", "family": "resnet", "group": "C4", "stem": {"width": 1}, "stages": [{"depth": 1, "width": 1}]}
    proxy = parse_space({**space, "proxy": {"rungs": ["2x100", "3x300"], "eta": 2}}).proxy
    assert (proxy.rungs, proxy.eta, proxy.epochs, proxy.subset) == ("2x100,3x300", 2, 2, 100)  # rung 0 is the proxy
    with pytest.raises(EqnasError, match="either rungs or epochs"):
        parse_space({**space, "proxy": {"rungs": "2x100", "epochs": 1}})


# ---------------------------------------------------------------- successive halving on hand-made tables


def test_promote_takes_the_best_floor_n_over_eta_and_at_least_one():
    scores = {"a": 0.5, "b": 0.7, "c": None, "d": 0.7, "e": 0.1, "f": 0.6, "g": 0.2}  # six scored, one failed
    assert promote(scores, eta=3) == ("b", "d")  # 6 // 3; the tie at 0.7 keeps table order
    assert promote(scores, eta=2) == ("b", "d", "f")
    assert promote({"x": 0.5, "y": 0.5, "z": 0.5}, eta=2) == ("x",)  # a tie at the boundary: the earlier
    assert promote({"x": 0.1, "y": 0.9}, eta=3) == ("y",)  # 2 // 3 = 0, but one always goes up
    assert promote({"x": None, "y": None}, eta=2) == ()  # failures take no place
    assert promote({}, eta=2) == ()


NINE = {  # candidate -> scores at rungs 0, 1, 2 (only what successive halving asks for)
    "c1": [0.30], "c2": [0.62, 0.70, 0.78], "c3": [0.55], "c4": [0.62, 0.66, 0.81], "c5": [0.10],
    "c6": [0.70, 0.64], "c7": [None], "c8": [0.62], "c9": [0.40],
}


def test_successive_halving_with_eta_3():
    halving = successive_halving(NINE, eta=3, rungs=3)
    # rung 0: 8 scored (c7 failed) -> 8 // 3 = 2: c6, then c2 (ties with c4 and c8 at 0.62, and is first)
    assert halving.ran == (tuple(NINE), ("c6", "c2"), ("c2",))
    assert halving.promoted == (("c6", "c2"), ("c2",))
    assert halving.finalists == ("c2",)
    assert halving.ranking == ("c2", "c6", "c4", "c8", "c3", "c9", "c1", "c5", "c7")
    assert halving.scores["c2"] == [0.62, 0.70, 0.78] and halving.scores["c4"] == [0.62]  # never asked more


def test_a_score_successive_halving_needs_but_the_table_lacks_is_an_error():
    with pytest.raises(ValueError, match="'c2' was promoted to rung 2"):
        successive_halving({**NINE, "c2": [0.62, 0.70]}, eta=3, rungs=3)


def test_successive_halving_with_eta_2_and_a_failure_at_a_higher_rung():
    table = {**NINE, "c2": [0.62, None], "c8": [0.62, 0.69, 0.75]}
    halving = successive_halving(table, eta=2, rungs=3)
    # rung 0: 8 scored -> 4: c6 0.70, then the 0.62s in table order: c2, c4, c8
    assert halving.promoted[0] == ("c6", "c2", "c4", "c8")
    # rung 1: c2 failed, 3 scored -> max(1, 3 // 2) = 1: c8 0.69 beats c4 0.66 and c6 0.64
    assert halving.promoted[1] == ("c8",)
    assert halving.scores["c2"] == [0.62, None] and halving.scores["c8"] == [0.62, 0.69, 0.75]
    # c8 reached rung 2; then rung 1 by score; c2 failed at rung 1, so it ends at rung 0 with 0.62
    assert halving.ranking == ("c8", "c4", "c6", "c2", "c3", "c9", "c1", "c5", "c7")


def test_finalists_are_rescored_only_when_two_or_more_reach_the_top_rung():
    calls = []

    def rescore(c, first):
        calls.append((c, first))
        return first - 0.5  # stands for the mean over more seeds

    two = halve(list(NINE), lambda c, k: NINE[c][k], eta=3, rungs=2, rescore=rescore)
    assert two.finalists == ("c6", "c2") and calls == [("c6", 0.64), ("c2", 0.70)]
    assert two.ranking[:2] == ("c2", "c6") and two.scores["c2"] == [0.62, pytest.approx(0.20)]
    calls.clear()
    one = halve(list(NINE), lambda c, k: NINE[c][k], eta=3, rungs=3, rescore=rescore)
    assert one.finalists == ("c2",) and calls == [] and one.scores["c2"] == [0.62, 0.70, 0.78]
    calls.clear()
    halve(["a"], lambda c, k: 0.5, eta=2, rungs=1, rescore=rescore)  # one rung: nothing is a finalist
    assert calls == []


def test_one_rung_is_a_plain_ranking_with_no_finalists():
    halving = successive_halving({"a": [0.2], "b": [0.9], "c": [None]}, eta=3)
    assert halving.promoted == () and halving.finalists == () and halving.ranking == ("b", "a", "c")


def test_rank_and_mean_score():
    assert rank({"a": [0.9], "b": [0.1, 0.2], "c": [0.5, None], "d": [None], "e": [0.1, 0.2]}) == \
        ("b", "e", "a", "c", "d")  # rung reached first; then the score; ties in table order
    assert mean_score([0.6, None, 0.8]) == pytest.approx(0.7) and mean_score([None]) is None


def test_the_stopping_rule_compares_with_curves_of_the_same_rung_and_start():
    def record(rung: int, curve: list[float], **extra) -> TrialRecord:
        return TrialRecord(key=f"{rung}{curve}", status="ok", sample={}, arch=None, flops=1, params=1,
                           metric=max(curve), seconds=1.0, extra={"curve": curve, **extra}, rung=rung)

    records = [record(0, [0.1, 0.2]), record(1, [0.5, 0.6]), record(1, [0.4, 0.7]),
               record(1, [0.3], continued_from="1x2000"), record(1, [0.2, 0.3], stopped_epoch=1)]
    assert stopping_rule(records, rung=1).completed == [[0.5, 0.6], [0.4, 0.7]]
    assert stopping_rule(records, rung=1, continued=True).completed == [[0.3]]
    assert stopping_rule(records).completed == [[0.1, 0.2]]


def test_best_json_is_the_network_whose_best_record_ranks_first(tmp_path):
    """Samples can share a network (labels a shallower net ignores). On a tie the network whose
    best-ranked record comes first wins, as the top-k retraining picks it, whatever the position
    of its other records."""
    def record(key: str, width: int, trial: int) -> TrialRecord:
        arch = SPACE.to_arch({"stem.width": width, "stages.0.width": 1})
        return TrialRecord(key=key, status="ok", sample={}, arch=arch.to_dict(), flops=width, params=1, metric=0.7,
                           seconds=1.0, trial=trial)

    log = TrialLog(tmp_path / "trials.jsonl")
    for entry in (record("a", 2, 1), record("b", 3, 2), record("c", 2, 3)):  # a and c: one network
        log.append(entry)
    write_outputs(tmp_path, "accuracy", None, echo=lambda line: None)
    assert Arch.load(tmp_path / "best.json").stem.width == 2
    assert Arch.load(tmp_path / "top" / "2.json").stem.width == 3


# ---------------------------------------------------------------- whole searches, scores from a table

SPACE = parse_space({
    "name": "table", "family": "resnet", "group": "C4", "resolution": 13,
    "stem": {"width": [1, 2, 3, 4], "kernel": 3}, "stages": [{"depth": 1, "width": [1, 2], "stride": 2}],
    "proxy": {"data": "synthetic", "rungs": "1x8,2x16,3x32", "eta": 2},
})
RUNG_OF_IMAGES = {8: 0, 16: 1, 32: 2}
# (stem width, stage width) -> score at rungs 0, 1, and at rung 2 per seed (0, 1). eta 2: 8 -> 4 -> 2.
TABLE = {
    (1, 1): [0.10], (1, 2): [0.30], (2, 1): [0.50, 0.52], (2, 2): [0.45, 0.60, (0.75, 0.74)],
    (3, 1): [0.40], (3, 2): [0.60, 0.65, (0.80, 0.60)], (4, 1): [0.20], (4, 2): [0.70, 0.55],
}


class TableTrainer:
    """Looks the metric up in TABLE, records every call, writes the checkpoint it is asked for,
    fails where told, and raises KeyboardInterrupt (a Ctrl-C) at call number `kill_at`."""

    def __init__(self, fail: tuple = (), kill_at: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.fail, self.kill_at = fail, kill_at

    def __call__(self, arch, hook, job) -> float:
        if len(self.calls) + 1 == self.kill_at:
            raise KeyboardInterrupt
        candidate, rung = (arch.stem.width, arch.stages[0].width), RUNG_OF_IMAGES[job.images]
        self.calls.append((candidate, rung, job.seed, job.epochs, job.start_from is not None))
        if (candidate, rung) in self.fail:
            raise RuntimeError("simulated failure")
        if job.save_to:
            Path(job.save_to).write_text("weights")
        score = TABLE[candidate][rung]
        metric = score[job.seed] if isinstance(score, tuple) else score
        for epoch in range(1, job.epochs + 1):
            hook(epoch, metric)
        return metric

    def runs(self) -> set[tuple]:
        return {call[:3] for call in self.calls}


def search(out: Path, trainer: TableTrainer, promotion: str = "continue", resume: bool = False):
    fidelity = Fidelity.of(SPACE.proxy, promotion=promotion)
    config = SearchConfig(flops_max=10**12, strategy="grid", trials=8, seed=0, fidelity=fidelity, resume=resume)
    return run_search(SPACE, config, trainer, out, echo=lambda _: None)


def candidate(record: TrialRecord) -> tuple[int, int]:
    return (record.sample["stem.width"], record.sample["stages.0.width"])


def test_search_promotes_by_the_table_and_the_best_finalist_mean_wins(tmp_path):
    trainer = TableTrainer()
    summary = search(tmp_path, trainer)
    by_rung = {k: sorted({c for c, rung, _ in trainer.runs() if rung == k}) for k in range(3)}
    assert by_rung == {0: sorted(TABLE), 1: [(2, 1), (2, 2), (3, 2), (4, 2)], 2: [(2, 2), (3, 2)]}
    # seed 1 reaches the top rung as seed 0 did: rung 0, then continued through rungs 1 and 2
    assert len(trainer.calls) == len(trainer.runs()) == 8 + 4 + 2 + 2 * 3  # nothing trained twice
    assert sorted(call for call in trainer.calls if call[2] == 1) == [
        ((2, 2), 0, 1, 1, False), ((2, 2), 1, 1, 1, True), ((2, 2), 2, 1, 1, True),
        ((3, 2), 0, 1, 1, False), ((3, 2), 1, 1, 1, True), ((3, 2), 2, 1, 1, True)]
    assert all(call[3:] == (1, True) for call in trainer.calls if call[1] > 0)  # one more epoch each
    # (3, 2) has the best seed-0 score at the top rung (0.80) but (2, 2) the best mean (0.745 > 0.70)
    assert summary.best_metric == pytest.approx(0.745) and summary.best_fidelity == "3x32"
    assert json.loads((tmp_path / "best.json").read_text())["stem"]["width"] == 2
    ranked = standings(TrialLog(tmp_path / "trials.jsonl").read())
    assert [candidate(s.record) for s in ranked] == [(2, 2), (3, 2), (4, 2), (2, 1), (3, 1), (1, 2), (4, 1), (1, 1)]
    assert [s.rung for s in ranked] == [2, 2, 1, 1, 0, 0, 0, 0] and ranked[1].seeds == 2
    assert ranked[0].scores == pytest.approx((0.45, 0.60, 0.745))
    records = TrialLog(tmp_path / "trials.jsonl").read()
    assert sorted(r.trial for r in records if r.rung == 0 and r.seed == 0) == list(range(1, 9))
    assert all(len({r.trial for r in records if r.key == key}) == 1 for key in {r.key for r in records})
    assert all(r.extra["curve"] and r.fidelity == ["1x8", "2x16", "3x32"][r.rung] for r in records)
    table = report_table(records)
    assert "| 2: 3x32 |" in table and "0.7450 (2 seeds)" in table and "0.4500 / 0.6000 / 0.7450" in table
    assert (tmp_path / "pareto.png").stat().st_size > 1000


def test_equal_scores_rank_the_network_with_fewer_flops_first():
    def record(key: str, trial: int, flops: int | None, metric: float) -> TrialRecord:
        return TrialRecord(key=key, status="ok", sample={}, arch={"name": key}, flops=flops, params=1, metric=metric,
                           seconds=1.0, trial=trial, fidelity="1x8")

    records = [record("a", 1, 300, 0.7), record("b", 2, 100, 0.7), record("c", 3, 200, 0.8), record("d", 4, 50, 0.6),
               record("e", 5, None, 0.7), record("f", 6, 100, 0.7)]
    assert [s.record.key for s in standings(records)] == ["c", "b", "f", "a", "e", "d"]


def test_retrain_promotion_trains_every_rung_from_scratch(tmp_path):
    trainer = TableTrainer()
    search(tmp_path, trainer, promotion="retrain")
    assert all(not continued and epochs == rung + 1 for _, rung, _, epochs, continued in trainer.calls)
    assert sorted(call[:3] for call in trainer.calls if call[2] == 1) == [((2, 2), 2, 1), ((3, 2), 2, 1)]
    assert not (tmp_path / "checkpoints").exists()  # nothing to continue from: no weights kept
    assert json.loads((tmp_path / "best.json").read_text())["stem"]["width"] == 2


def test_a_failure_at_a_rung_is_recorded_and_the_halving_goes_on(tmp_path):
    trainer = TableTrainer(fail=(((4, 2), 1),))
    summary = search(tmp_path, trainer)
    records = TrialLog(tmp_path / "trials.jsonl").read()
    assert [(candidate(r), r.rung) for r in records if r.status == "failed"] == [((4, 2), 1)]
    # rung 1: three scored -> max(1, 3 // 2) = 1 promoted: (3, 2) with 0.65
    assert sorted({c for c, rung, _ in trainer.runs() if rung == 2}) == [(3, 2)]
    # a lone finalist is the winner whatever its mean: no second seed (0.80, not (0.80 + 0.60) / 2)
    assert not [call for call in trainer.calls if call[2] == 1]
    assert summary.best_metric == pytest.approx(0.80) and summary.failed == 0
    ranked = standings(records)
    assert [candidate(s.record) for s in ranked][:4] == [(3, 2), (2, 2), (2, 1), (4, 2)]
    assert ranked[3].rung == 0 and ranked[3].scores == (0.70, None)


@pytest.mark.parametrize("kill_at", [3, 11, 15])  # in rung 0, in rung 1, in a finalist's second seed
def test_a_search_killed_mid_rung_resumes_without_training_anything_twice(tmp_path, kill_at):
    whole = TableTrainer()
    search(tmp_path / "whole", whole)
    killed = TableTrainer(kill_at=kill_at)
    with pytest.raises(KeyboardInterrupt):
        search(tmp_path / "killed", killed)
    assert len(killed.calls) == kill_at - 1
    resumed = TableTrainer()
    summary = search(tmp_path / "killed", resumed, resume=True)
    assert not killed.runs() & resumed.runs()
    assert killed.runs() | resumed.runs() == whole.runs()
    assert len(killed.calls) + len(resumed.calls) == len(whole.calls)
    assert (tmp_path / "killed" / "best.json").read_text() == (tmp_path / "whole" / "best.json").read_text()
    assert summary.best_metric == pytest.approx(0.745)
    final = [(s.record.key, s.rung, s.score) for s in standings(TrialLog(tmp_path / "killed" / "trials.jsonl").read())]
    assert final == [(s.record.key, s.rung, s.score) for s in standings(TrialLog(tmp_path / "whole" / "trials.jsonl").read())]


def test_a_resume_with_other_rungs_is_refused(tmp_path):
    search(tmp_path, TableTrainer())
    config = SearchConfig(flops_max=10**12, strategy="grid", trials=8, resume=True,
                          fidelity=Fidelity(parse_rungs("1x8,2x16,4x32"), eta=2))
    with pytest.raises(EqnasError, match="rung 2 = 3x32, not with rungs 1x8,2x16,4x32"):
        run_search(SPACE, config, TableTrainer(), tmp_path, echo=lambda _: None)
