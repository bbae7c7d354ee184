"""A trial function for the parallel-search tests. It runs in trial processes that NNI's manager
starts, which import it by name: the tests put this folder on their PYTHONPATH."""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psutil


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def non_loopback_ipv4() -> list[str]:
    """This machine's own IPv4 addresses other than 127.x (where a LAN would reach it)."""
    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


@dataclass(frozen=True)
class Probe:
    """sample -> metric, after writing what the trial saw: its time span, process, and how NNI's
    manager (whose port is in the trial's command channel) can be reached."""

    folder: str
    hold_s: float = 4.0  # long enough for two trials to overlap, even when one starts seconds later

    def __call__(self, sample: dict) -> float:
        started = time.time()
        port = urlparse(os.environ["NNI_TRIAL_COMMAND_CHANNEL"]).port
        listening = [c.laddr.ip for c in psutil.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
        seen = {"sample": sample, "pid": os.getpid(), "port": port, "listening_on": listening,
                "loopback_connects": _connects("127.0.0.1", port),
                "other_addresses_connect": {ip: _connects(ip, port) for ip in non_loopback_ipv4()}}
        time.sleep(self.hold_s)
        seen["span"] = [started, time.time()]
        name = "-".join(str(v) for v in sample.values())
        Path(self.folder, f"{name}.json").write_text(json.dumps(seen))
        if sample["c"] == 1.5 and sample["a"] == 0:
            raise RuntimeError("this sample fails on purpose")
        return float(sample["a"] + sample["c"])
