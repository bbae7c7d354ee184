"""Text files a person hands to eqnas (architectures, spaces, YAML sections, run records): read
as UTF-8, with one clear error for a file that is missing, unreadable, binary or not UTF-8."""
from __future__ import annotations

from pathlib import Path

from eqnas.errors import EqnasError


def read_text(path: str | Path, what: str) -> str:
    """The file's text; `what` names it in the error ("architecture file", "space file")."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise EqnasError(f"cannot read {what} {str(path)!r}: {error.strerror}") from None
    if b"\0" in raw:
        raise EqnasError(f"{path}: not a text file (a {what} is UTF-8 text)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EqnasError(f"{path}: not UTF-8 text (byte {error.start}; a {what} is UTF-8 text)") from None
