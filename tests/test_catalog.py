"""Shipped spaces, examples and studies by name: every name reads the same file as its path, a
path that exists comes first, and an unknown name is one line listing the names, exit 2."""
from __future__ import annotations

from pathlib import Path

import pytest

import eqnas
from eqnas.arch import Arch
from eqnas.catalog import ARCHS, SPACES, STUDIES
from eqnas.cli import main
from eqnas.errors import EqnasError
from eqnas.search.space import load_space
from eqnas.study.config import load_study, parse_study

ROOT = Path(__file__).resolve().parents[1]


def test_the_catalog_lists_the_repository_folders():
    assert SPACES.names() == tuple(sorted(p.stem for p in (ROOT / "spaces").glob("*.yaml")))
    assert ARCHS.names() == tuple(sorted(p.stem for p in (ROOT / "examples").glob("*.json")))
    assert STUDIES.names() == tuple(sorted(p.stem for p in (ROOT / "examples").glob("*.yaml")))
    assert eqnas.list_spaces() == list(SPACES.names())
    assert {"c8_small", "resnet", "convpool"} <= set(eqnas.list_models())


@pytest.mark.parametrize("name", SPACES.names())
def test_every_space_by_name_is_its_file(name):
    assert load_space(name) == load_space(ROOT / "spaces" / f"{name}.yaml") == load_space(f"{name}.yaml")


@pytest.mark.parametrize("name", ARCHS.names())
def test_every_example_by_name_is_its_file(name):
    assert Arch.load(name) == Arch.load(ROOT / "examples" / f"{name}.json")


@pytest.mark.parametrize("name", STUDIES.names())
def test_every_shipped_study_by_name_finds_its_arms(name):
    study = load_study(name)
    assert study == load_study(ROOT / "examples" / f"{name}.yaml")
    for arm in study.arms:
        assert Path(arm.space or arm.arch).is_file()


def test_a_path_that_exists_comes_before_a_shipped_name(tmp_path, monkeypatch):
    mine = Arch.load("c8_small").replace(num_classes=3)
    mine.save(tmp_path / "c8_small.json")
    monkeypatch.chdir(tmp_path)
    assert Arch.load("c8_small.json").num_classes == 3
    assert Arch.load("c8_small").num_classes == 10  # no file of that bare name here: the shipped one


def test_study_arms_take_shipped_names(tmp_path):
    study = parse_study({"datasets": ["synthetic"], "budgets": ["50M"], "seeds": 2,
                         "arms": [{"name": "c8", "space": "c8_resnet"}, {"name": "fixed", "arch": "c8_small"}]},
                        base=tmp_path)
    assert Path(study.arms[0].space) == SPACES.root / "c8_resnet.yaml"
    assert Path(study.arms[1].arch) == ARCHS.root / "c8_small.json"
    with pytest.raises(EqnasError, match=r"arms\[0\].space: no space 'c8_resnt'.*c8_resnet"):
        parse_study({"datasets": ["synthetic"], "budgets": ["50M"], "seeds": 2,
                     "arms": [{"name": "c8", "space": "c8_resnt"}]}, base=tmp_path)


def test_load_takes_an_example_name():
    assert eqnas.load("c8_small").arch == Arch.load(ROOT / "examples/c8_small.json")


@pytest.mark.parametrize("args, shelf", [
    (["profile", "--arch", "c8_smal"], ARCHS),
    (["export", "--arch", "c8_smal", "--out", "x.pt"], ARCHS),
    (["search", "--space", "c8_resnt", "--flops", "100M"], SPACES),
    (["laws", "--space", "c8_resnt", "--out", "x"], SPACES),
    (["study", "--config", "study_smal", "--out", "x"], STUDIES),
])
def test_an_unknown_name_is_one_line_listing_the_names(capsys, args, shelf):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    assert f"{args[2]!r}" in lines[0] and ", ".join(shelf.names()) in lines[0]


def test_a_name_with_a_folder_is_a_path_not_a_name(tmp_path):
    with pytest.raises(EqnasError, match="not a file, nor a shipped name"):
        Arch.load(tmp_path / "c8_small")
