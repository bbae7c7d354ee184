"""Append-only JSON-lines logs: one record per line, flushed and synced as it is written, so a
crash or Ctrl-C loses nothing finished and resuming is a read of the file."""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Generic, TypeVar

R = TypeVar("R")


class JsonLinesLog(Generic[R]):
    """Records of one dataclass type in one file."""

    def __init__(self, path: Path, record_type: type[R]) -> None:
        self.path, self.record_type = path, record_type

    def append(self, record: R) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(asdict(record)) + "\n")  # type: ignore[call-overload]
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[R]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(self.record_type(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a line cut short by a kill: that record did not finish
        return records
