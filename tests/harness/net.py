"""A free TCP (or UDP) port on 127.0.0.1 for a program a test starts, and its metrics."""

from __future__ import annotations

import socket
import time
import urllib.request


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metrics(port: int, proc, seconds: float = 20) -> str:
    """The /metrics page of the program `proc` serves on 127.0.0.1:`port`, once it
    answers (within `seconds`); the program must not end meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError("no /metrics")
