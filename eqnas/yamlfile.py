"""Reading the YAML files people write (spaces, studies): one error line naming the file, and
one check of a mapping's keys that names the unknown key and the valid ones."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from eqnas.errors import EqnasError
from eqnas.textfile import read_text


def read_yaml(path: Path, what: str) -> Any:
    """`yaml.safe_load` of the file; `what` names it in errors ("space file"). A file that is not
    UTF-8 text is refused by name (`eqnas.textfile.read_text`)."""
    text = read_text(path, what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise EqnasError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None


def check_keys(data: dict, keys: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in keys:
            raise EqnasError(f"{where}: unknown key {key!r} (valid keys: {', '.join(keys)})")
