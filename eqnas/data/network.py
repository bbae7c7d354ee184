"""Downloads that never hang: probe the host first, fail fast with directions when offline."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from eqnas.errors import EqnasError

CACHE_DIR = Path.home() / ".cache" / "eqnas"
DOWNLOAD_TIMEOUT_S = 60.0


def network_available(host: str, timeout: float = 0.5, port: int = 443) -> bool:
    """True if a TCP connection to host:port opens within ``timeout`` seconds.

    The probe runs in a daemon thread because a DNS lookup ignores socket timeouts and can
    block for many seconds on a machine without a resolver.
    """
    opened: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


def missing_error(dataset: str, folder: Path, files: Sequence[str], looked_in: Sequence[Path] = (),
                  hint: str = "") -> EqnasError:
    """The error for data that is neither on disk nor downloadable: where to put which files."""
    searched = ", ".join(str(p) for p in looked_in) or str(folder)
    return EqnasError(
        f"dataset {dataset!r} is not on disk (looked in {searched}) and cannot be downloaded here: "
        f"put {', '.join(files)} in {folder}, or pass --data-root DIR for a folder that holds them{hint}"
    )


def fetch_or_fail(dataset: str, host: str, fetch: Callable[[], None], folder: Path, files: Sequence[str],
                  looked_in: Sequence[Path] = (), hint: str = "") -> None:
    """Run ``fetch`` if ``host`` answers; otherwise raise the missing-data error at once."""
    if not network_available(host):
        raise missing_error(dataset, folder, files, looked_in, hint)
    try:
        fetch()
    except (OSError, EqnasError) as err:
        raise EqnasError(
            f"dataset {dataset!r}: download failed ({err}); put {', '.join(files)} in {folder} by hand, "
            f"or pass --data-root DIR for a folder that holds them"
        ) from err


def download(url: str, dest: Path, md5: str | None = None) -> Path:
    """Fetch ``url`` to ``dest`` through a temporary file, so a broken transfer leaves nothing."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, tmp.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise EqnasError(f"{url}: MD5 {digest.hexdigest()} does not match the published {md5}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
