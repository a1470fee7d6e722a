"""An operator upgrades a running stack: from Debian 12's builds of 2022 (Prometheus 2.42,
Alertmanager 0.25, node_exporter 1.5, the exporters, Pushgateway and blackbox exporter of
that release) to the newest real builds this machine can get (Prometheus 3.5, Alertmanager
0.33, ...), by changing only `<component>_version`.

Both versions are Debian's real binaries repacked as upstream archives on the local
mirror. Before the upgrade Prometheus scrapes for a while, Alertmanager holds a silence
and a batch job has pushed a metric; after it the samples from before are still there,
the rules load, the silence is still active, the pushed metric is still served, the
blackbox exporter still probes, every service restarted exactly once, and a re-run
changes nothing.

Hosts: the monitoring host runs Debian 12, the database host Debian 13.
"""

import json
import time
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness.debian import OLDEST
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (CORE_COMPONENTS, CORE_ONLY, assert_rerun_changes_nothing,
                           http_json, install_databases, mirror_settings, prom_query,
                           wait_for, wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2, suites=("bookworm", "trixie"))
COMPONENTS = [*CORE_COMPONENTS, "pushgateway", "blackbox_exporter"]
UNITS = {"monitoring": ["prometheus", "alertmanager", "node_exporter", "pushgateway",
                        "blackbox_exporter"],
         "db": ["node_exporter", "redis_exporter", "postgres_exporter"]}


def write(lab, versions: dict) -> None:
    write_inventory(lab["inventory"], lab["fleet"],
                    {"monitoring": [lab["monitoring"]], "redis": [lab["db"]],
                     "postgres": [lab["db"]]},
                    group_data={"all": {**lab["common"], **versions}})


@pytest.fixture(scope="module")
def lab(hosts, fleet, mirror, tmp_path_factory):
    monitoring, db = hosts
    install_databases(db)
    common = {**CORE_ONLY, "artifact_cache_dir": str(tmp_path_factory.mktemp("cache")),
              "pushgateway_enabled": True, "blackbox_exporter_enabled": True,
              "blackbox_exporter_targets": [f"http://{monitoring.ip}:9090/-/ready"],
              "prometheus_scrape_interval": "5s",
              "prometheus_scrape_timeout": "4s", "postgres_exporter_create_db_user": True}
    lab = {"inventory": tmp_path_factory.mktemp("inventory") / "inventory.py",
           "fleet": fleet, "monitoring": monitoring, "db": db, "common": common,
           "old": mirror_settings(mirror, COMPONENTS, suites={c: OLDEST for c in COMPONENTS}),
           "new": mirror_settings(mirror, COMPONENTS)}
    write(lab, lab["old"])
    return lab


def everything(lab) -> set[tuple[str, str]]:
    mon, db = lab["monitoring"], lab["db"]
    return {("node", f"{mon.ip}:9100"), ("node", f"{db.ip}:9100"),
            ("redis", f"{db.ip}:9121"), ("postgres", f"{db.ip}:9187"),
            ("prometheus", f"{mon.ip}:9090"), ("alertmanager", f"{mon.ip}:9093"),
            ("pushgateway", f"{mon.ip}:9091"), ("blackbox_exporter", f"{mon.ip}:9115"),
            ("blackbox_http", f"http://{mon.ip}:9090/-/ready")}


def host_of(lab, role: str):
    return lab["monitoring"] if role == "monitoring" else lab["db"]


def started_count(host, unit: str, since: float) -> int:
    """How many times systemd started `unit` since the epoch second `since`."""
    out = host.ssh(f"journalctl -q -o cat -u {unit}.service --since=@{int(since)}").stdout
    return sum(1 for line in out.splitlines() if line.startswith("Started "))


def prometheus_version(lab) -> str:
    """What the running Prometheus says it is, without Debian's "+ds" suffix."""
    buildinfo = http_json(f"http://{lab['monitoring'].ip}:9090/api/v1/status/buildinfo")
    return buildinfo["data"]["version"].split("+")[0]


def pushed_value(mon) -> str | None:
    """The value the Pushgateway serves for the metric the test's batch job pushed."""
    with urllib.request.urlopen(f"http://{mon.ip}:9091/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("monstack_upgrade_test_pushed{") and \
                    'job="nightly_backup"' in line:
                return line.rsplit(" ", 1)[1]
    return None


def running_version(host, program: str) -> str:
    return host.ssh(f"/usr/local/bin/{program} --version 2>&1 | head -1").stdout


@pytest.fixture(scope="module")
def before(lab):
    """The old stack deployed and scraping; a silence set; the samples of a moment kept."""
    run_pyinfra(lab["inventory"]).check()
    mon = lab["monitoring"]
    wait_targets_up(mon, everything(lab))
    time.sleep(12)   # a few scrapes of history
    moment = time.time() - 5
    samples = {(s["metric"]["job"], s["metric"]["instance"]): s["value"][1] for s in
               prom_query(mon, f"count_over_time(up[60s] @ {moment:.3f})")}
    silence = json.dumps({"matchers": [{"name": "alertname", "value": "UpgradeWindow",
                                        "isRegex": False}],
                          "startsAt": "2020-01-01T00:00:00Z",
                          "endsAt": "2099-01-01T00:00:00Z",
                          "createdBy": "monstack-tests", "comment": "kept over the upgrade"})
    req = urllib.request.Request(f"http://{mon.ip}:9093/api/v2/silences",
                                 data=silence.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        silence_id = json.loads(resp.read())["silenceID"]
    push = urllib.request.Request(f"http://{mon.ip}:9091/metrics/job/nightly_backup",
                                  data=b"monstack_upgrade_test_pushed 42\n", method="PUT")
    urllib.request.urlopen(push, timeout=10).close()
    assert pushed_value(mon) == "42"
    rules = http_json(f"http://{mon.ip}:9090/api/v1/rules")["data"]["groups"]
    return {"moment": moment, "samples": samples, "silence": silence_id,
            "rule_groups": sorted(g["name"] for g in rules),
            "versions": {role: {u: running_version(host_of(lab, role), u)
                                for u in units} for role, units in UNITS.items()}}


@pytest.fixture(scope="module")
def upgrade(lab, before):
    write(lab, lab["new"])
    started = time.time() - 1
    dry, real = preview_then_run(lab["inventory"])
    return {"dry": dry, "real": real, "started": started}


def test_the_old_stack_runs_debian_12s_builds(lab, before):
    old = lab["old"]
    assert old["prometheus_version"].startswith("2."), old["prometheus_version"]
    assert prometheus_version(lab) == old["prometheus_version"]
    assert len(before["samples"]) == len(everything(lab))
    assert before["rule_groups"]


def test_dry_run_lists_exactly_what_the_upgrade_changes(lab, upgrade):
    assert_preview_was_exact(upgrade["dry"], upgrade["real"])
    changed = upgrade["real"].changed_ops()
    for component in COMPONENTS:
        version = lab["new"][f"{component}_version"]
        assert version != lab["old"][f"{component}_version"]
        installs = [op for op in changed
                    if op.endswith(f"Install {component} {version} from the release archive")]
        assert installs, (component, sorted(op for op in changed if "Install" in op))


def test_every_service_restarted_exactly_once_and_runs_the_new_build(lab, before, upgrade):
    for role, units in UNITS.items():
        host = host_of(lab, role)
        for unit in units:
            assert started_count(host, unit, upgrade["started"]) == 1, (host.name, unit)
            now = running_version(host, unit)
            assert lab["new"][f"{unit}_version"] in now, (unit, now)
            assert now != before["versions"][role][unit]
    assert prometheus_version(lab) == lab["new"]["prometheus_version"]


def test_samples_scraped_before_the_upgrade_are_still_queryable(lab, before, upgrade):
    mon = lab["monitoring"]
    wait_targets_up(mon, everything(lab))
    after = {(s["metric"]["job"], s["metric"]["instance"]): s["value"][1] for s in
             prom_query(mon, f"count_over_time(up[60s] @ {before['moment']:.3f})")}
    assert after == before["samples"]


def test_the_rules_load_on_the_new_prometheus(lab, before, upgrade):
    mon = lab["monitoring"]
    groups = wait_for("rule groups loaded", lambda: http_json(
        f"http://{mon.ip}:9090/api/v1/rules")["data"]["groups"])
    assert sorted(g["name"] for g in groups) == before["rule_groups"]
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), \
        [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
         if r["health"] == "err"]


def test_alertmanager_kept_its_silence(lab, before, upgrade):
    mon = lab["monitoring"]
    silence = http_json(f"http://{mon.ip}:9093/api/v2/silence/{before['silence']}")
    assert silence["status"]["state"] == "active"
    assert silence["comment"] == "kept over the upgrade"


def test_pushgateway_kept_what_was_pushed_and_the_blackbox_exporter_probes(lab, upgrade):
    mon = lab["monitoring"]
    assert pushed_value(mon) == "42"
    wait_targets_up(mon, everything(lab))
    probe = wait_for("a probe after the upgrade", lambda: prom_query(
        mon, f'probe_success{{instance="http://{mon.ip}:9090/-/ready"}} == 1'))
    assert len(probe) == 1


def test_a_second_run_changes_nothing_and_restarts_nothing(lab, upgrade):
    assert_rerun_changes_nothing(
        lambda: run_pyinfra(lab["inventory"]),
        [(host_of(lab, role), units) for role, units in UNITS.items()])
