"""The strategy registry: one table of names, which the CLI and the NNI door both follow, and an
unknown name refused before any other work."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eqnas.errors import EqnasError
from eqnas.search.strategies import NNI_RUNNER, STRATEGIES, nni_strategy_names, register_strategy

ROOT = Path(__file__).resolve().parents[1]


def test_the_nni_door_has_a_factory_for_exactly_the_strategies_run_through_nni():
    from eqnas.search.nni_strategies import NNI_STRATEGIES

    assert set(NNI_STRATEGIES) == set(nni_strategy_names())
    assert {"evolution", "random", "tpe", "grid", "rl"} <= set(nni_strategy_names())
    assert "compound" in STRATEGIES and "compound" not in nni_strategy_names()


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_has_a_summary_and_a_runner_that_exists(name):
    strategy = STRATEGIES[name]
    assert strategy.summary and "\n" not in strategy.summary
    assert callable(strategy.runner.load())


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register_strategy("random", "again", NNI_RUNNER)


def test_an_unknown_name_lists_every_strategy():
    with pytest.raises(EqnasError) as err:
        STRATEGIES.get_or_fail("annealing")
    assert "annealing" in str(err.value) and all(name in str(err.value) for name in STRATEGIES)


def test_search_help_lists_every_strategy_with_its_summary():
    from click.testing import CliRunner

    from eqnas.cli.search_cmd import command

    text = " ".join(CliRunner().invoke(command, ["--help"], terminal_width=1000).output.split())
    for strategy in STRATEGIES.values():
        assert f"{strategy.name}: {strategy.summary}" in text


def test_an_unknown_strategy_fails_before_nni_torch_or_any_file(tmp_path):
    """One line naming the bad value and every valid one, exit 2, and nothing imported or written."""
    space = tmp_path / "space.yaml"
    space.write_text("name: tiny\n")
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys
        from eqnas.cli import main
        try:
            main(["search", "--space", {str(space)!r}, "--flops", "1M", "--strategy", "typo", "--out", {str(out)!r}])
        except SystemExit as exit:
            print(exit.code, sorted(m for m in ("nni", "torch", "fvcore") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.split() == ["2", "[]"], result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "typo" in line and all(name in line for name in STRATEGIES)
    assert not out.exists()
