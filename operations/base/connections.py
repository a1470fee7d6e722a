"""A host that stops answering in the middle of a run is given up, not waited for.

pyinfra's SSH connections have no keepalive: when a host's network goes away while a
command runs (a cut link, a laptop that lost its Wi-Fi), the controller waits for output
that never comes, for ever; measured on a fleet host whose link was cut during a command.
Here each host's SSH transport sends keepalives and its socket gives up once data it sent
stays unacknowledged for `connection_lost_after` (Linux' TCP_USER_TIMEOUT): that host's
run then fails with a socket error, the other hosts go on, and a re-run converges it.
A host that is merely slow still answers keepalives: a long step is not cut short.

When the transport has died, paramiko answers the next command with EOFError, which
pyinfra does not count as a host's connection error (it catches OSError): the whole run
ended with "An internal exception occurred" and the other hosts stopped too (seen on the
fleet). The host's commands and uploads turn it into ConnectionResetError here, so that
host alone fails.
"""

from __future__ import annotations

import functools
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
    connector = host.connector
    for method in ("run_shell_command", "put_file", "get_file"):
        bound = getattr(connector, method, None)
        if bound is not None and not getattr(bound, "monstack_lost_is_oserror", False):
            setattr(connector, method, lost_connection_is_an_oserror(bound, host.name))
    return True


def lost_connection_is_an_oserror(method, host_name: str):
    """`method` of a host's connector, with a dead transport's EOFError raised as the
    connection error pyinfra handles for one host."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except EOFError as exc:
            raise ConnectionResetError(f"the SSH connection to {host_name} was lost") from exc
    wrapper.monstack_lost_is_oserror = True
    return wrapper
