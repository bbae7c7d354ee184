"""The one registry type: duplicates refused, unknown names a clear error listing the valid ones,
and every shipped table built on it."""
from __future__ import annotations

import pytest

from eqnas.errors import EqnasError
from eqnas.registry import Registry


def test_registry_refuses_duplicates_and_names_valid_choices():
    table: Registry[int] = Registry("colour")
    table.register("red")(1)
    table.add("blue", 2)
    assert dict(table) == {"red": 1, "blue": 2} and table.names() == ["blue", "red"]
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        table.add("red", 3)
    with pytest.raises(EqnasError, match="unknown colour 'green': choose one of blue, red"):
        table.get_or_fail("green")


def test_shipped_tables_are_registries():
    from eqnas.families import FAMILIES
    from eqnas.train.augment import AUGMENTATIONS
    from eqnas.train.optim import OPTIMIZERS, SCHEDULES
    from eqnas.train.recipes import RECIPES

    for table in (FAMILIES, AUGMENTATIONS, OPTIMIZERS, SCHEDULES, RECIPES):
        assert isinstance(table, Registry) and len(table) >= 3
