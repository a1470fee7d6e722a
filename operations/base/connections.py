"""A host that stops answering in the middle of a run is given up, not waited for.

pyinfra's SSH connections have no keepalive: when a host's network goes away while a
command runs (a cut link, a laptop that lost its Wi-Fi), the controller waits for output
that never comes, for ever; measured on a fleet host whose link was cut during a command.
Here each host's SSH transport sends keepalives and its socket gives up once data it sent
stays unacknowledged for `connection_lost_after` (Linux' TCP_USER_TIMEOUT): that host's
run then fails with a socket error, the other hosts go on, and a re-run converges it.
A host that is merely slow still answers keepalives: a long step is not cut short.
"""

from __future__ import annotations

import socket


def give_up_when_silent(host, seconds: float) -> bool:
    """Arm keepalives and the dead-peer timeout on `host`'s SSH connection. False when its
    connector has no such socket (@local, docker, a proxied connection)."""
    if seconds <= 0:   # the operator asked to wait for ever, as plain pyinfra does
        return False
    client = getattr(getattr(host, "connector", None), "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if not isinstance(sock, socket.socket) or not hasattr(socket, "TCP_USER_TIMEOUT"):
        return False
    # keepalives give the socket something to have acknowledged while a command is silent
    transport.set_keepalive(max(1, int(seconds // 4)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(seconds * 1000))
    return True
