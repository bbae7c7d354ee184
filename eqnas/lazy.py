"""Names imported on first use, so that importing a package or reading a table stays cheap
(``import eqnas`` and ``eqnas --help`` import no torch)."""
from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lazy:
    """A callable named by ``"module:attribute"``, imported on its first call: a table can list
    it without importing its module."""

    ref: str

    def load(self) -> Any:
        module, attribute = self.ref.split(":")
        return getattr(importlib.import_module(module), attribute)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)


def lazy_module(name: str, table: dict[str, str]) -> None:
    """Gives module `name` the attributes of `table` (attribute -> ``"module:attribute"``), each
    imported when first read. A submodule of the same name (``eqnas.build`` beside the function
    ``eqnas.build``) does not replace its attribute when it is imported; any other assignment does."""

    def attribute(key: str, ref: str) -> property:
        def get(module: types.ModuleType) -> Any:
            return module.__dict__[key] if key in module.__dict__ else Lazy(ref).load()

        def set_(module: types.ModuleType, value: Any) -> None:
            if not (isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{key}"):
                module.__dict__[key] = value

        def delete(module: types.ModuleType) -> None:
            module.__dict__.pop(key, None)

        return property(get, set_, delete)

    module = sys.modules[name]
    module.__class__ = type("LazyModule", (types.ModuleType,), {k: attribute(k, ref) for k, ref in table.items()})
