"""A non-editable install into a fresh virtual environment finds everything it ships: `eqnas
demo --quick` runs end to end from another working directory, with eqnas, its spaces and its
examples read from the installed copy (the source copy it was built from is deleted first).

The new environment sees this interpreter's site-packages through a .pth file, added after
the install, so torch, escnn and NNI are not downloaded again and pip never sees (or touches)
the eqnas already installed here. About 1 min of CPU (the demo: ~35 s); marked slow, which
`make test` still runs (`-m "not slow"` leaves it out)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_AT_TOP = {".git", ".venv", "runs", "data", "build", "docs", "benchmarks", "tests", ".pytest_cache"}
CHECK = """
import json, sys, eqnas
from eqnas.catalog import SPACES
from eqnas.study.config import load_study
studies = {name: [arm.space or arm.arch for arm in load_study(name).arms] for name in ("study_small", "study_gpu")}
print(json.dumps({"eqnas": eqnas.__file__, "spaces": str(SPACES.root), "studies": studies,
                  "model": eqnas.create_model("c8_small", num_classes=3).arch.num_classes}))
"""


def copy_source(target: Path) -> Path:
    """The files a build reads (the package, spaces, examples, packaging, README)."""
    shutil.copytree(ROOT, target, ignore=lambda folder, names: (
        {n for n in names if n in SKIP_AT_TOP} if Path(folder) == ROOT else set())
        | {n for n in names if n == "__pycache__" or n.endswith(".egg-info")})
    return target


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_a_fresh_install_runs_the_quick_demo_from_elsewhere(tmp_path):
    source = copy_source(tmp_path / "source")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
        source, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("eqnas-*.whl"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel, cwd=tmp_path)
    shutil.rmtree(source)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (site / "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    facts = json.loads(run(python, "-c", CHECK, cwd=elsewhere, env=env))
    installed = str(env_dir.resolve())
    assert facts["eqnas"].startswith(installed) and facts["spaces"].startswith(installed)
    assert facts["spaces"].endswith("eqnas/_shipped/spaces") and facts["model"] == 3
    for arms in facts["studies"].values():  # examples' relative paths (../spaces/...) hold once installed
        assert arms and all(Path(path).resolve().is_relative_to(installed) for path in arms), arms

    out = run(env_dir / "bin" / "eqnas", "demo", "--quick", "--out", "demo", cwd=elsewhere, env=env)
    assert "$ eqnas retrain --arch demo/search/best.json" in out and "import the winner" in out
    assert (elsewhere / "demo/retrain/metrics.json").is_file()
    records = [json.loads(line) for line in (elsewhere / "demo/search/trials.jsonl").read_text().splitlines()]
    assert [record["status"] for record in records].count("ok") == 2  # the quick demo's two trials
