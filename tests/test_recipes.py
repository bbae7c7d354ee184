"""Recipes: every registered preset is valid, cites its source, resolves to the documented
values, and explicit flags override it."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eqnas.errors import EqnasError
from eqnas.train import RECIPES, TrainConfig, resolve_config
from eqnas.train.recipes import register_recipe

DOCUMENTED = {
    "de2022": dict(dp=True, epsilon=8.0, delta=1e-5, batch_size=4096, optimizer="sgd", lr=2.0, momentum=0.0,
                   schedule="constant", max_grad_norm=1.0, augment="crop_flip", aug_mult=16, ema_decay=0.9999),
    "hoelzl2023": dict(dp=True, epsilon=8.0, delta=1e-5, batch_size=8192, optimizer="sgd", lr=2.0, momentum=0.0,
                       schedule="constant", max_grad_norm=2.0, augment="crop_flip", aug_mult=4, ema_decay=0.999,
                       norm="group", activation="mish", accountant="rdp"),
    "medmnist": dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=100, schedule="step", select="auc",
                     dp=False, augment="none"),
}
SOURCES = {"de2022": "2204.13650", "hoelzl2023": "2301.13104", "medmnist": "2110.14795"}


def test_every_recipe_is_documented_here():
    assert set(RECIPES) == set(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_resolves_to_documented_values_and_cites_its_source(name):
    config = resolve_config(name)
    for key, value in DOCUMENTED[name].items():
        assert getattr(config, key) == value, key
    recipe = RECIPES[name]
    assert SOURCES[name] in recipe.citation and SOURCES[name] in recipe.doc
    untouched = set(TrainConfig.__dataclass_fields__) - set(recipe.values)
    assert all(getattr(config, key) == getattr(TrainConfig(), key) for key in untouched)


def test_explicit_values_override_and_none_means_not_given():
    config = resolve_config("de2022", lr=0.5, aug_mult=None, epochs=3)
    assert (config.lr, config.aug_mult, config.epochs, config.batch_size) == (0.5, 16, 3, 4096)
    assert resolve_config("hoelzl2023", dp=False).dp is False


def test_unknown_and_duplicate_recipes_are_refused():
    with pytest.raises(EqnasError, match="unknown recipe 'nope'"):
        resolve_config("nope")
    with pytest.raises(ValueError, match="registered twice"):
        register_recipe("medmnist", "again")(lambda: {})


def test_dp_flags_without_dp_are_refused():
    with pytest.raises(EqnasError, match="only applies to DP-SGD"):
        resolve_config(None, epsilon=3.0)
    assert resolve_config("de2022", epsilon=3.0).epsilon == 3.0


def test_retrain_help_lists_every_recipe_with_its_citation():
    from eqnas.cli.retrain_cmd import command

    text = CliRunner().invoke(command, ["--help"]).output
    for name, recipe in RECIPES.items():
        assert name in text and recipe.citation[:40] in text


def test_cli_flags_override_the_recipe_and_unset_flags_keep_it(monkeypatch):
    from eqnas.cli.retrain_cmd import command
    from eqnas.train import loop

    seen = {}

    def fake_train(arch, splits, config, out_dir, progress=True):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr(loop, "train", fake_train)
    args = ["--arch", str(Path(__file__).resolve().parents[1] / "examples/c8_small.json"), "--data", "synthetic", "--out", "unused", "--recipe", "de2022",
            "--lr", "0.5", "--no-augment", "--aug-mult", "1"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.lr, config.augment, config.aug_mult) == (0.5, "none", 1)
    assert (config.dp, config.batch_size, config.ema_decay) == (True, 4096, 0.9999)  # not given: the recipe's
