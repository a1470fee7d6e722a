"""The test fleet itself: real systemd hosts, reachable over SSH, isolated, torn down clean."""

import pytest

from conftest import arm64_unavailable, hosts_fixture
from harness.fleet import CONTROLLER_IP, PROXY_PORT

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3)
arm_hosts = hosts_fixture(1, arch="arm64")

# Units that fail in a container for reasons that do not concern a deploy.
HARMLESS_FAILED_UNITS = set()


def test_every_host_boots_systemd_and_answers_ssh(hosts):
    for h in hosts:
        state = h.ssh("systemctl is-system-running --wait", check=False).stdout.strip()
        failed = set(h.ssh("systemctl list-units --failed --plain --no-legend | awk '{print $1}'")
                     .stdout.split())
        assert state == "running" or (state == "degraded" and failed <= HARMLESS_FAILED_UNITS), \
            f"{h.name}: {state}, failed units: {failed}"
        assert h.ssh("cat /proc/1/comm").stdout.strip() == "systemd"
        assert h.ssh("hostname").stdout.strip() == h.name
        assert h.ssh("ip -4 -o addr show eth0").stdout.split()[3] == f"{h.ip}/24"


def test_each_host_reaches_the_mirror_and_the_apt_proxy(hosts, mirror):
    (mirror.root / "hello.txt").write_text("mirror ok\n")
    for h in hosts:
        assert h.ssh(f"curl -fsS {mirror.base_url}/hello.txt").stdout == "mirror ok\n"
    # apt through the proxy: a real index download, on every host at once
    for h in hosts:
        res = h.ssh("apt-get update -qq && apt-cache policy redis-server | grep -c Candidate",
                    timeout=300)
        assert res.stdout.strip() == "1", res.stdout + res.stderr
    proxy_log = h.ssh(f"curl -s -o /dev/null -w '%{{http_code}}' http://{CONTROLLER_IP}:{PROXY_PORT}/",
                      check=False).stdout
    assert proxy_log.isdigit() and proxy_log != "000"


def test_hosts_cannot_reach_each_others_loopback(hosts):
    h1, h2 = hosts[0], hosts[1]
    h1.ssh("systemd-run --unit=loopback-probe python3 -m http.server --bind 127.0.0.1 7777")
    try:
        h1.ssh("for i in $(seq 50); do curl -fs http://127.0.0.1:7777/ >/dev/null && exit 0; "
               "sleep 0.1; done; exit 1")
        res = h2.ssh(f"curl -s --max-time 3 http://{h1.ip}:7777/", check=False)
        assert res.returncode != 0, "a service bound to h1's loopback answered h2"
        # but the hosts do see each other's public addresses
        assert h2.ssh(f"timeout 3 bash -c '</dev/tcp/{h1.ip}/22'", check=False).returncode == 0
    finally:
        h1.ssh("systemctl stop loopback-probe", check=False)


def test_stopping_a_host_leaves_nothing_behind(fleet):
    (extra,) = fleet.up(1)
    assert extra.ssh("true").returncode == 0
    fleet.stop(extra)
    left = [x for x in fleet.leftovers() if extra.name in x.split("/")[-1] or f"hl-{extra.name}" in x]
    assert left == []
    assert extra.ssh("true", check=False, timeout=10).returncode != 0


@pytest.mark.skipif(arm64_unavailable() is not None, reason=str(arm64_unavailable()))
def test_an_emulated_arm64_host_reports_aarch64(arm_hosts):
    (h,) = arm_hosts
    assert h.ssh("uname -m").stdout.strip() == "aarch64"
    assert h.ssh("dpkg --print-architecture").stdout.strip() == "arm64"
    assert h.ssh("systemctl is-system-running --wait", check=False).stdout.strip() in (
        "running", "degraded")
