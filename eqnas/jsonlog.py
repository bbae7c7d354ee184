"""Append-only JSON-lines logs: one record per line, flushed and synced as it is written, so a
crash or Ctrl-C loses nothing finished and resuming is a read of the file. Appends hold an
exclusive lock on the file, so parallel trial processes can share one log."""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Generic, TypeVar

from eqnas.textfile import read_text

R = TypeVar("R")


class JsonLinesLog(Generic[R]):
    """Records of one dataclass type in one file."""

    def __init__(self, path: Path, record_type: type[R]) -> None:
        self.path, self.record_type = path, record_type

    def append(self, record: R) -> None:
        with self._locked() as handle:
            self._write(handle, record)

    def append_from(self, make: Callable[[list[R]], R]) -> R:
        """Appends `make(records so far)`, with no other append in between (e.g. to number it)."""
        with self._locked() as handle:
            handle.seek(0)
            record = make(self._parse(handle.read()))
            self._write(handle, record)
        return record

    def read(self) -> list[R]:
        if not self.path.exists():
            return []
        return self._parse(read_text(self.path, "record file"))

    def _locked(self) -> IO[str]:
        handle = self.path.open("a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        return handle

    @staticmethod
    def _write(handle: IO[str], record: R) -> None:
        handle.write(json.dumps(asdict(record)) + "\n")  # type: ignore[call-overload]
        handle.flush()
        os.fsync(handle.fileno())

    def _parse(self, text: str) -> list[R]:
        records = []
        for line in text.splitlines():
            try:
                records.append(self.record_type(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a line cut short by a kill: that record did not finish
        return records
