"""A free TCP (or UDP) port on 127.0.0.1 for a program a test starts."""

from __future__ import annotations

import socket


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
