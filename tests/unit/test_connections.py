"""A host gone silent mid-run is given up: keepalives and TCP_USER_TIMEOUT on its SSH
socket (the fleet test cuts a host's link: tests/e2e/test_fault_matrix.py)."""

from __future__ import annotations

import socket

import pytest
from types import SimpleNamespace

from operations.base.connections import give_up_when_silent


class Transport:
    def __init__(self, sock):
        self.sock, self.keepalive = sock, None

    def set_keepalive(self, interval):
        self.keepalive = interval


def ssh_host(sock):
    transport = Transport(sock)
    client = SimpleNamespace(get_transport=lambda: transport)
    return SimpleNamespace(connector=SimpleNamespace(client=client)), transport


def test_an_ssh_socket_gets_keepalives_and_gives_up_after_the_setting():
    with socket.socket() as sock:
        host, transport = ssh_host(sock)
        assert give_up_when_silent(host, 60)
        assert transport.keepalive == 15
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 60000


def test_nothing_is_armed_without_an_ssh_socket_or_when_switched_off():
    assert not give_up_when_silent(SimpleNamespace(connector=SimpleNamespace()), 60)  # @local
    host, transport = ssh_host(SimpleNamespace())    # a proxied channel, not a socket
    assert not give_up_when_silent(host, 60)
    with socket.socket() as sock:
        host, transport = ssh_host(sock)
        assert not give_up_when_silent(host, 0)
        assert transport.keepalive is None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 0


def test_a_dead_transports_eoferror_reaches_pyinfra_as_a_connection_error():
    """pyinfra counts OSError (not EOFError) as one host's lost connection."""
    calls = []

    def run_shell_command(command):
        calls.append(command)
        if command == "after the cut":
            raise EOFError()
        return True, []

    with socket.socket() as sock:
        host, _ = ssh_host(sock)
        host.name = "web1"
        host.connector.run_shell_command = run_shell_command
        host.connector.put_file = host.connector.get_file = run_shell_command
        assert give_up_when_silent(host, 60)
        give_up_when_silent(host, 60)            # armed twice (re-planned): wrapped once
        assert host.connector.run_shell_command("true") == (True, [])
        with pytest.raises(ConnectionResetError, match="connection to web1 was lost"):
            host.connector.run_shell_command("after the cut")
        with pytest.raises(OSError):
            host.connector.put_file("after the cut")
    assert calls == ["true", "after the cut", "after the cut"]
