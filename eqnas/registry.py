"""One registry type for every "name -> thing" table (families, datasets, recipes, optimizers,
schedules, augmentations): read like a mapping, filled by a decorator that refuses a second
entry under the same name, and looked up with an error that lists the valid names."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Callable, Generic, TypeVar

from eqnas.errors import EqnasError

T = TypeVar("T")
F = TypeVar("F")


class Registry(Mapping[str, T], Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator registering the decorated object itself under `name`."""

        def decorator(item: F) -> F:
            self.add(name, item)  # type: ignore[arg-type]
            return item

        return decorator

    def names(self) -> list[str]:
        return sorted(self._items)

    def get_or_fail(self, name: str) -> T:
        """The entry, or one clear user error naming the valid choices."""
        if name not in self._items:
            raise EqnasError(f"unknown {self.kind} {name!r}: choose one of {', '.join(self.names())}")
        return self._items[name]

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
