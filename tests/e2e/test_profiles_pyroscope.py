"""An operator turns on continuous profiling: Pyroscope on the monitoring host, its data
source in Grafana, its own metrics in Prometheus, and a Python service profiled by the
REAL Pyroscope SDK (PyPI's pyroscope-io, run on the controller) showing up in it.

PYROSCOPE HERE IS A TEST DOUBLE, NOT PYROSCOPE: upstream's build cannot be had on the
test machine and Debian has none, so the mirror serves an upstream-shaped
pyroscope_<pinned>_linux_amd64.tar.gz whose `pyroscope` is
tests/harness/doubles/pyroscope_double.py. What is proven is the deploy: the archive
install, the service user, the hardened unit, pyroscope.yaml checked by `pyroscope
-modules` on the host, readiness on /ready, the scrape job, the Grafana data source, and
that what the real SDK pushes is stored under the data folder and answered by the
LabelValues query Grafana uses. Grafana is the API double (grafana_double.py).

Hosts: one monitoring host (Prometheus, Grafana double, Pyroscope double) and one other.
"""

import json
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness import doubles
from harness.doubles import grafana_archive
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, exposure_level, wait_for,
                           wait_targets_up)
from operations.stack import RELEASES

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2)
SCRAPE_SECONDS = 5
EXPOSURE_LIMIT = 2.0   # as test_core_stack_archive: the top of systemd's "OK" band
PASSWORD = "e2e-pyroscope-Grafana-pw"
ENV = {"GRAFANA_ADMIN_PASSWORD": PASSWORD}
VERSION = RELEASES["pyroscope"]["version"]
APP = "monstack-e2e-shop"


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, web = hosts
    pyro = doubles.publish(mirror, tmp_path_factory.mktemp("pyroscope"),
                           components=("pyroscope",))
    settings = grafana_archive.prometheus_host_settings(mirror, tmp_path_factory, [pyro],
                                                        SCRAPE_SECONDS)
    settings.update({"pyroscope_enabled": True, "pyroscope_retention_period": "7d"})
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [mon]}, group_data={"all": settings})
    return {"inventory": inventory, "mon": mon, "web": web, "hosts": hosts}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], env=ENV, **kw)


def label_values(mon, name: str = "service_name") -> list[str]:
    req = urllib.request.Request(
        f"http://{mon.ip}:4040/querier.v1.QuerierService/LabelValues",
        data=json.dumps({"name": name, "start": 0, "end": 0}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read()).get("names", [])


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes.get(f"Pyroscope | Install pyroscope {VERSION} from the release "
                            "archive") == 1
    assert real.changes.get("Pyroscope | Write pyroscope.yaml (checked by pyroscope "
                            "-modules)") == 1


def test_it_runs_hardened_as_its_own_user_with_its_config(stack, first_runs):
    mon = stack["mon"]
    assert mon.ssh("curl -sS http://127.0.0.1:4040/ready").stdout == "ready\n"
    pid = mon.ssh("systemctl show -p MainPID --value pyroscope").stdout.strip()
    assert mon.ssh(f"ps -o user= -p {pid}").stdout.strip() == "pyroscope"
    assert "TEST DOUBLE" in mon.ssh("/usr/local/bin/pyroscope -version").stdout
    unit = mon.ssh("systemctl cat pyroscope").stdout
    assert "-config.file=/etc/pyroscope/pyroscope.yaml" in unit
    config = mon.ssh("cat /etc/pyroscope/pyroscope.yaml").stdout
    assert 'compactor_blocks_retention_period: "7d"' in config
    assert mon.ssh("stat -c '%a %U %G' /etc/pyroscope/pyroscope.yaml").stdout.strip() == \
        "640 root pyroscope"
    assert mon.ssh("stat -c '%a %U' /var/lib/pyroscope").stdout.strip() == "750 pyroscope"
    listening = mon.ssh("ss -Hltn").stdout
    for address in ("0.0.0.0:4040", "127.0.0.1:9097", "127.0.0.1:7946"):
        assert address in listening, listening
    score = exposure_level(mon, "pyroscope")
    print("systemd-analyze security exposure: pyroscope", score)
    assert score <= EXPOSURE_LIMIT


def test_prometheus_scrapes_it_and_grafana_has_its_data_source(stack, first_runs):
    mon = stack["mon"]
    wait_targets_up(mon, {("pyroscope", f"{mon.ip}:4040"), ("node", f"{mon.ip}:9100")})
    source = grafana_archive.data_source(mon, "pyroscope", PASSWORD)
    assert (source["name"], source["type"], source["url"]) == (
        "Pyroscope", "grafana-pyroscope-datasource", f"http://{mon.ip}:4040")


SDK_PROGRAM = textwrap.dedent("""
    import sys, time
    import pyroscope
    pyroscope.configure(application_name=sys.argv[1], server_address=sys.argv[2],
                        upload_interval=1, tags={"env": "e2e"})
    end = time.monotonic() + 5
    while time.monotonic() < end:
        sum(i * i for i in range(1000))
    pyroscope.shutdown()
""")


def test_the_real_sdks_profiles_are_stored_and_queryable(stack, first_runs):
    """The controller runs a Python program profiled by pyroscope-io, pushing to the
    monitoring host's Pyroscope; another host ingests over /ingest with curl."""
    mon, web = stack["mon"], stack["web"]
    res = subprocess.run([sys.executable, "-c", SDK_PROGRAM, APP, f"http://{mon.ip}:4040"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    web.ssh(f"printf 'main;work 10\\n' | curl -sSf --data-binary @- "
            f"'http://{mon.ip}:4040/ingest?name=web-cron.cpu&format=folded&from=1&until=2'")
    found = wait_for("both services in LabelValues",
                     lambda: (lambda v: v if {APP, "web-cron"} <= set(v) else None)(
                         label_values(mon)), timeout=60)
    assert sorted(found) == sorted({APP, "web-cron"})
    stored = mon.ssh(f"ls /var/lib/pyroscope/data/anonymous/head/{APP}").stdout.split()
    assert stored, "no profile stored under the data folder"


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    assert_rerun_changes_nothing(lambda: deploy(stack),
                                 [(stack["mon"], ["pyroscope", "prometheus"])])
