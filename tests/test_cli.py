"""The CLI: JSON output of profile and check, and bad input as one line with exit status 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eqnas", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_profile_json_reports_flops_and_params():
    result = run("profile", "--arch", str(ROOT / "examples/c8_small.json"), "--json", "--budget", "100M")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["flops"] > 0 and data["params"] > 0 and data["dense_params"] > data["params"]
    assert data["within_budget"] is (data["flops"] <= 100e6)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_check_json_on_every_shipped_example(path):
    result = run("check", "--arch", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["equivariant"] is True
    assert all(error < 1e-4 for error in data["max_error"].values())


def _write(tmp_path: Path, change: dict) -> str:
    data = json.loads((ROOT / "examples/c8_small.json").read_text())
    data.update(change)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("change,needle", [
    ({"group": "Z5"}, "unknown group 'Z5'"),
    ({"stem": {"width": -2}}, "stem.width: must be a positive integer, got -2"),
    ({"head": "flatten"}, "arch.head: 'flatten' keeps positions"),
    ({"stem": {"width": 2, "kernel": 8}}, "stem.kernel: kernel size must be odd and positive, got 8"),
])
def test_bad_architectures_exit_2_with_one_line(tmp_path, change, needle):
    result = run("profile", "--arch", _write(tmp_path, change))
    assert result.returncode == 2
    lines = _error_lines(result)
    assert len(lines) == 1 and needle in lines[0]


def test_malformed_json_and_bad_budget_exit_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    for args, needle in (
        (("check", "--arch", str(broken)), "not valid JSON"),
        (("profile", "--arch", str(ROOT / "examples/c8_small.json"), "--budget", "2X"), "bad FLOP budget '2X'"),
        (("profile", "--nonsense"), "No such option"),
    ):
        result = run(*args)
        assert result.returncode == 2
        lines = _error_lines(result)
        assert len(lines) == 1 and needle in lines[0], result.stderr


@pytest.mark.parametrize("section, needle", [
    ("- just a list\n", "expected a mapping with a 'platform' key"),
    ("platform: moon\n", "unknown training service platform 'moon'"),
    ("platform: remote\nmachineList: [{host: 10.0.0.2, user: me, sshKeyFile: /no/such/key}]\n", "/no/such/key"),
])
def test_bad_training_service_file_exits_2_with_one_line_before_the_run_folder_is_written(tmp_path, section, needle):
    service = tmp_path / "service.yaml"
    service.write_text(section)
    result = run("search", "--space", "spaces/c8_resnet.yaml", "--flops", "100M", "--training-service", str(service),
                 "--data", "synthetic", "--out", str(tmp_path / "run"))
    lines = _error_lines(result)
    assert result.returncode == 2 and len(lines) == 1 and needle in lines[0], result.stderr
    assert not (tmp_path / "run").exists() and "searching" not in result.stdout


def test_version():
    result = run("--version")
    assert result.returncode == 0 and "0.1.0" in result.stdout


def test_check_runs_train_mode_then_eval_mode_then_the_export(monkeypatch):
    """The three rows of `eqnas check` are three different networks: batch statistics in train
    mode, running statistics in eval mode, and the exported plain model."""
    from eqnas.check import equivariance_errors
    from eqnas.cli import check_cmd, main
    from eqnas.nn import EquivariantConv2d

    seen = []

    def recording(net, *args, **kwargs):
        seen.append((any(isinstance(m, EquivariantConv2d) for m in net.modules()), net.training))
        return equivariance_errors(net, *args, **kwargs)

    monkeypatch.setattr(check_cmd, "equivariance_errors", recording)
    main(["check", "--arch", str(ROOT / "examples/c8_small.json")])
    assert seen == [(True, True), (True, False), (False, False)]
