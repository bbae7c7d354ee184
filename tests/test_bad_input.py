"""Non-finite numbers and files that are not UTF-8 text: one line naming the bad value, exit 2,
before any work."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eqnas.cli import main
from eqnas.errors import EqnasError

ROOT = Path(__file__).resolve().parents[1]
ARCH = str(ROOT / "examples/c8_small.json")
SPACE = str(ROOT / "spaces/c8_resnet.yaml")


def error_line(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("args, needle", [
    (["retrain", "--arch", ARCH, "--data", "synthetic", "--lr", "nan"], "'nan' is not a finite number"),
    (["retrain", "--arch", ARCH, "--data", "synthetic", "--dp", "--epsilon", "inf"], "'inf' is not a finite number"),
    (["retrain", "--arch", ARCH, "--data", "synthetic", "--val-fraction", "-inf"], "'-inf' is not a finite number"),
    (["scale", "--arch", ARCH, "--grid-step", "nan"], "'nan' is not a finite number"),
    (["laws", "--space", SPACE, "--dp", "--epsilon", "inf"], "'inf' is not a finite number"),
    (["profile", "--arch", ARCH, "--budget", "1e999"], "bad FLOP budget '1e999'"),
    (["search", "--space", SPACE, "--flops", "1e999"], "bad FLOP budget '1e999'"),
    (["search", "--space", SPACE, "--flops", "100M", "--time-budget", "inf"], "bad --time-budget 'inf'"),
    (["search", "--space", SPACE, "--flops", "100M", "--time-budget", "nanh"], "bad --time-budget 'nanh'"),
])
def test_non_finite_options_exit_2(capsys, tmp_path, args, needle):
    out = ["--out", str(tmp_path / "out")] if args[0] != "profile" else []
    line = error_line(capsys, [*args, *out])
    assert needle in line
    assert not (tmp_path / "out").exists()


def test_non_finite_numbers_in_files_name_the_field(tmp_path):
    from eqnas.arch import Arch
    from eqnas.search.space import load_space
    from eqnas.train.config import TrainConfig

    space = tmp_path / "space.yaml"
    space.write_text("family: resnet\ngroup: C4\nstem: {width: 2}\nstages: [{depth: 1, width: 2}]\nproxy: {lr: .nan}\n")
    with pytest.raises(EqnasError, match=r"proxy.lr: must be a positive finite number, got nan"):
        load_space(space)
    for value in (float("nan"), float("inf")):
        with pytest.raises(EqnasError, match=rf"lr={value}: use a finite number"):
            TrainConfig(lr=value)
    arch = json.loads(Path(ARCH).read_text())
    (tmp_path / "nan.json").write_text(json.dumps({**arch, "resolution": float("nan")}))  # json writes NaN
    with pytest.raises(EqnasError, match="resolution: expected an integer, got nan"):
        Arch.load(tmp_path / "nan.json")


BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
LATIN1 = "name: caf\xe9\n".encode("latin-1")


@pytest.mark.parametrize("content, needle", [(BINARY, "not a text file"), (LATIN1, "not UTF-8 text")])
@pytest.mark.parametrize("command", ["profile", "search", "training-service", "report"])
def test_files_that_are_not_utf8_text_exit_2(capsys, tmp_path, content, needle, command):
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    args = {
        "profile": ["profile", "--arch", str(bad)],
        "search": ["search", "--space", str(bad), "--flops", "100M", "--out", str(tmp_path / "run")],
        "training-service": ["search", "--space", SPACE, "--flops", "100M", "--training-service", str(bad),
                             "--out", str(tmp_path / "run")],
        "report": ["report", str(tmp_path)],
    }[command]
    if command == "report":
        bad.rename(tmp_path / "trials.jsonl")
        bad = tmp_path / "trials.jsonl"
    line = error_line(capsys, args)
    assert needle in line and str(bad) in line
