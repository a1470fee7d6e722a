"""A newcomer runs `python3 -m demo up`, opens what it prints, runs it again, tears it down.

The demo's hosts are the fleet code under the demo's own profile (demo/profile.py), so
they do not collide with the test fleet's. The test still holds the test session lock
(through the `fleet` fixture, which takes it once per session) so that no other test
session's hosts run alongside, and checks the test fleet is left as it was.
"""

import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO
from harness.fleet import Fleet, _alive
from harness.stack import http_json, wait_targets_up

pytestmark = pytest.mark.fleet

PHASES = ("rootfs", "hosts", "services", "mirror", "deploy")


def run_demo(*args: str, timeout: float = 1800) -> SimpleNamespace:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "demo", *args], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, timeout=timeout)
    return SimpleNamespace(returncode=res.returncode, output=res.stdout,
                           seconds=time.monotonic() - t0)


def fleet_state(fleet: Fleet) -> tuple:
    return sorted(fleet.leftovers()), fleet.proxy_pid()


@pytest.fixture(scope="module")
def profile():
    from demo import profile
    return profile


@pytest.fixture(scope="module")
def demo(fleet, profile):
    demo_fleet = Fleet(profile.DEMO)
    if demo_fleet.host_dirs():
        pytest.skip("a demo runs on this machine; `python3 -m demo down` removes it")
    before = fleet_state(fleet)
    try:
        first = run_demo("up")
        assert first.returncode == 0, first.output[-6000:]
        second = run_demo("up")
        yield SimpleNamespace(first=first, second=second, fleet=fleet, before=before,
                              demo_fleet=demo_fleet)
    finally:
        run_demo("down", timeout=300)


def test_up_shows_each_phase_with_its_time_and_what_to_open(demo, profile):
    out = demo.first.output
    for name in PHASES:
        assert f"==> {name}:" in out
        assert re.search(rf"^    {name}: .* \(\d+\.\d s\)$", out, re.M), name
    mon = profile.address(1)
    assert f"Prometheus    http://{mon}:9090" in out
    assert f"Alertmanager  http://{mon}:9093" in out
    assert f"Grafana       http://{mon}:3000" in out or "Grafana       skipped" in out
    # a component without a build here is left out with one line saying how to add it
    for line in out.splitlines():
        if " skipped: " in line and "Grafana" not in line:
            assert "--artifacts" in line or "ships logs to Loki" in line, line
    assert f"root@{mon}" in out and "python3 -m demo down" in out


def test_prometheus_answers_and_scrapes_every_host(demo, profile):
    mon, web, db = (profile.address(i) for i in (1, 2, 3))
    expected = {("node", f"{ip}:9100") for ip in (mon, web, db)} | {
        ("redis", f"{db}:9121"), ("postgres", f"{db}:9187"),
        ("prometheus", f"{mon}:9090"), ("alertmanager", f"{mon}:9093")}
    seen = wait_targets_up(SimpleNamespace(ip=mon), expected)
    assert all(t["health"] == "up" for t in seen.values()), seen
    assert http_json(f"http://{mon}:9093/api/v2/status")["uptime"]


def test_the_secrets_file_is_private_and_its_value_never_shown(demo):
    match = re.search(r"^Secrets file:\s+(\S+)", demo.first.output, re.M)
    assert match, demo.first.output[-3000:]
    path = Path(match.group(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().split("GRAFANA_ADMIN_PASSWORD:", 1)[1].strip().strip("'\"")
    assert len(password) >= 20
    log = re.search(r"pyinfra's output: (\S+?)[;)]", demo.first.output).group(1)
    for text in (demo.first.output, demo.second.output, Path(log).read_text()):
        assert password not in text


def test_a_second_up_reuses_everything_and_changes_nothing(demo):
    second = demo.second
    assert second.returncode == 0, second.output[-6000:]
    assert "hosts: reused running demo1, demo2, demo3" in second.output
    assert "services: already running" in second.output
    assert re.search(r"^    deploy: no changes \(", second.output, re.M), second.output[-3000:]
    assert second.seconds < demo.first.seconds


def test_down_removes_what_the_demo_created_and_nothing_else(demo, profile):
    from demo import mirror
    proxy, server = demo.demo_fleet.proxy_pid(), mirror.server_pid()
    assert proxy and server
    res = run_demo("down", timeout=300)
    assert res.returncode == 0, res.output
    assert demo.demo_fleet.leftovers() == []
    assert not _alive(proxy) and not _alive(server)
    assert not profile.RUN.exists()
    assert fleet_state(demo.fleet) == demo.before
