"""Reader for the idx format of (Fashion-)MNIST, gzipped or not.

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32, then the data in big-endian order.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from eqnas.errors import EqnasError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes, what: str = "idx data") -> np.ndarray:
    """Decode the bytes of one idx file into an array in native byte order."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise EqnasError(f"{what}: not an idx file (header {data[:4]!r})")
    dtype, ndim = np.dtype(_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count * dtype.itemsize:
        raise EqnasError(f"{what}: header says shape {shape} ({count * dtype.itemsize} bytes) "
                         f"but {len(data) - header} bytes follow")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Read ``path``, decompressing when its name ends in .gz."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise EqnasError(f"{path}: cannot read ({err})") from err
    return parse_idx(raw, str(path))
