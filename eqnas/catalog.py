"""The spaces and examples that ship with eqnas, by name: ``c8_resnet`` is spaces/c8_resnet.yaml,
``c8_small`` examples/c8_small.json, ``study_small`` examples/study_small.yaml.

An installed eqnas holds them as package data under eqnas/_shipped/ (setup.py maps the
repository's spaces/ and examples/ there); a source checkout reads those two folders directly.
Wherever eqnas takes one of these files, a path that exists comes first and a shipped name next.
Importing this module imports no torch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eqnas.errors import EqnasError
from eqnas.families import family_names

PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Shelf:
    """One kind of shipped file: its folder, its suffix, and what messages call it."""

    folder: str
    suffix: str
    what: str

    @property
    def root(self) -> Path:
        installed = PACKAGE / "_shipped" / self.folder
        return installed if installed.is_dir() else PACKAGE.parent / self.folder

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(path.stem for path in self.root.glob(f"*{self.suffix}")))

    def find(self, value: str | Path) -> Path:
        """`value` itself where that path exists, else the shipped file of that name (with or
        without the suffix); anything else is refused with the list of shipped names."""
        path = Path(value)
        if path.exists():
            return path
        if path.name == str(value):  # a bare name, not a path into some folder
            shipped = self.root / f"{path.name.removesuffix(self.suffix)}{self.suffix}"
            if shipped.is_file():
                return shipped
        raise EqnasError(f"no {self.what} {str(value)!r}: not a file, nor a shipped name "
                         f"({', '.join(self.names()) or 'none found'})")


SPACES = Shelf("spaces", ".yaml", "space")
ARCHS = Shelf("examples", ".json", "architecture")
STUDIES = Shelf("examples", ".yaml", "study")


def list_spaces() -> list[str]:
    """The shipped search spaces, by the names `--space` and `load_space` take."""
    return list(SPACES.names())


def list_models() -> list[str]:
    """The names `eqnas.create_model` takes: the shipped example architectures, then the
    registered families (whose stem, stages, group and resolution come as keyword arguments)."""
    return [*ARCHS.names(), *family_names()]
