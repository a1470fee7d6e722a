"""An operator's APT mirror stalls: it accepts connections and never answers. The deploy
says every 30 seconds that it is still waiting, gives up after `apt_timeout` with an
error naming the host and what to check, and the run after the mirror is back converges.
A second host with nothing to do is never said to be waited for.

The stalled mirror is a listener on the controller that takes connections and sends
nothing, set as the host's APT proxy for the length of the stall.
"""

import socket
import threading
import time

import pytest

from conftest import hosts_fixture, write_inventory
from harness.fleet import CONTROLLER_IP
from harness.pyinfra_cli import run_pyinfra
from harness.stack import CORE_ONLY

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2)
STALL_CONF = "/etc/apt/apt.conf.d/99monstack-test-stall"


@pytest.fixture
def stalled_mirror():
    """A TCP listener on the controller that accepts and never answers; its port."""
    listener = socket.create_server((CONTROLLER_IP, 0))
    held, stop = [], threading.Event()

    def hold():
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def inventory(hosts, fleet, tmp_path_factory):
    h, idle = hosts
    settings = {**CORE_ONLY, "prometheus_enabled": False, "alertmanager_enabled": False,
                "node_exporter_install_method": "package", "apt_timeout": "45s"}
    path = tmp_path_factory.mktemp("inventory") / "inventory.py"
    # the idle host runs nothing: pyinfra skips every operation there
    write_inventory(path, fleet, {"monitoring": [h], "nodes": [idle]},
                    group_data={"all": settings},
                    host_data={idle.ip: {"node_exporter_enabled": False}})
    return path


def test_a_stalled_mirror_ends_in_a_clear_error_and_the_next_run_converges(
        hosts, inventory, stalled_mirror):
    h, idle = hosts
    h.ssh(f"echo 'Acquire::http::Proxy \"http://{CONTROLLER_IP}:{stalled_mirror}\";' "
          f"> {STALL_CONF}")
    t0 = time.monotonic()
    stalled = run_pyinfra(inventory, timeout=300)
    took = time.monotonic() - t0
    assert stalled.returncode != 0
    assert took < 45 + 60, took          # apt_timeout, and the deploy's own start
    waiting = [line.strip() for line in stalled.output.splitlines()
               if line.strip().startswith("still waiting for")]
    # the stalled host alone: the idle one skipped that operation (and was once said to
    # be waited for, as long as the operation ran elsewhere)
    assert not [line for line in waiting if f" on {idle.ip}: " in line], waiting
    assert waiting and all("Install the prometheus-node-exporter package" in line
                           and f" on {h.ip}: " in line for line in waiting), waiting
    assert waiting[0].endswith(": 30s"), waiting
    assert (f"monstack: apt-get on {h.name} did not finish within 45s (apt_timeout): check "
            "the host's APT sources and proxy") in stalled.output
    assert h.ssh("systemctl is-active node_exporter", check=False).stdout.strip() != "active"

    h.ssh(f"rm -f {STALL_CONF}")          # the mirror is back
    run_pyinfra(inventory).check()
    assert h.ssh("systemctl is-active node_exporter").stdout.strip() == "active"
    assert run_pyinfra(inventory).check().changed_ops() == {}
