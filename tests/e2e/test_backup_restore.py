"""An operator turns backups on for the monitoring host, takes one of each kind now rather
than waiting for the timers, and later restores a Prometheus whose data folder was lost.

Host `mon` (Debian 12) runs Prometheus, Alertmanager and node_exporter (Debian's real
builds, repacked as upstream archives) and Grafana (the archive on the mirror starts the
GRAFANA API TEST DOUBLE, as in test_grafana.py: it keeps its objects in
<data>/grafana.db, a real SQLite file with Grafana's own `dashboard` table). Prometheus
listens on loopback only: the deploy enables its admin API (snapshots) only there or
behind basic auth, so the test asks it through SSH on the host.

Loki is the TEST DOUBLE of tests/harness/doubles (no real build here): it writes no index,
so the test puts files where Loki keeps its rules and index (rules/, tsdb-shipper-active/,
chunks/index/ under loki_data_dir, the paths the Loki backup names) before the backups run,
and the Loki backup must carry them.

What is tested: --dry lists exactly what the first run does, a timer per kind (prometheus,
alertmanager, grafana, loki, configs) enabled and waiting, Grafana's weekly; each timer's
service started by hand writes a backup that the script's own check verifies (promtool
tsdb list, SQLite's integrity check and one JSON file per dashboard, checksums, tar) and
its metrics are scraped; a second run changes nothing and restarts nothing. Then the data
folder of Prometheus is deleted and restore.py brings back the latest backup: a sample
scraped before the backup is queried from the restored Prometheus, and what was there is
kept aside. restore.py refuses a backup that does not exist before stopping anything.
"""

import json
import shlex

import pytest

from conftest import hosts_fixture, write_inventory
from harness.dashboards import uid_of
from harness import doubles
from harness.doubles import grafana_archive
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, service_pids,
                           wait_for)
from operations.base.backups import SCRIPT
from operations.base.templates import shipped_dashboards
from operations.stack import COMPONENTS

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)
PASSWORD = "e2e-Grafana-admin-pw#1"
ENV = {"GRAFANA_ADMIN_PASSWORD": PASSWORD}
RUNS = {"prometheus", "alertmanager", "node_exporter", "grafana", "loki"}
SERVICES = ["prometheus", "alertmanager", "node_exporter", "grafana", "loki"]
KINDS = {"prometheus": "tsdb-snapshot", "alertmanager": "files", "grafana": "sqlite",
         "loki": "tar", "configs": "tar"}
# what the script's `verify` needs besides the method (the units' Environment=)
VERIFY_ENV = {"prometheus": "PROMTOOL=/usr/local/bin/promtool", "grafana": "PATHS=grafana.db",
              "alertmanager": "PATHS='silences nflog'", "loki": "", "configs": ""}
# what Loki would have written (a rule file, an index table being built, a shipped one)
LOKI_FILES = ["rules/fake/monstack.yml", "tsdb-shipper-active/uploader/index_20000",
              "chunks/index/index_20000/1700000000-ingester.tsdb.gz"]
LOKI_CHUNK = "chunks/fake/MTg4YjQ2ZDc6MTcwMDAwMDAwMA"   # a chunk: the bulk, left out
BACKUP_DIR = "/var/backups/monstack"
DASHBOARDS = sorted(uid_of(p) for p in shipped_dashboards())   # Loki runs: its too


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    (mon,) = hosts
    # Loki: the TEST DOUBLE in upstream's release zip
    loki = doubles.publish(mirror, tmp_path_factory.mktemp("doubles"), ("loki",))
    settings = grafana_archive.monitoring_host_settings(mirror, tmp_path_factory,
                                                        published=[loki])
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    settings.update({"backup_enabled": True, "prometheus_listen_address": "127.0.0.1",
                     "prometheus_scrape_interval": "5s", "prometheus_scrape_timeout": "5s"})
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon]}, group_data={"all": settings})
    return {"inventory": inventory, "mon": mon}


def query(mon, promql: str, at: float | None = None) -> list[dict]:
    """Prometheus' answer, asked on the host (it listens on loopback only)."""
    at_arg = f" --data-urlencode time={at}" if at is not None else ""
    out = mon.ssh(f"curl -fsS --get --data-urlencode query={shlex.quote(promql)}{at_arg} "
                  "http://127.0.0.1:9090/api/v1/query").stdout
    data = json.loads(out)
    assert data["status"] == "success", data
    return data["data"]["result"]


def backups_of(mon, kind: str) -> list[str]:
    out = mon.ssh(f"ls -1 {BACKUP_DIR}/{kind}", check=False).stdout
    return sorted(line for line in out.split() if line)


def verify(mon, kind: str, name: str, check: bool = True):
    return mon.ssh(f"{VERIFY_ENV[kind]} {SCRIPT} verify {KINDS[kind]} "
                   f"{BACKUP_DIR}/{kind}/{name}", check=check)


def test_dry_run_lists_exactly_what_the_first_run_does(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes["Install a backup timer (its schedule checked by systemd-analyze)"] == 5
    assert real.changes["Enable and start a backup timer"] == 5
    assert real.changes["Install the backup script"] == 1


def test_a_timer_per_kind_waits_grafanas_weekly(stack, first_runs):
    mon = stack["mon"]
    for kind in KINDS:
        unit = f"monstack-backup-{kind}"
        assert mon.ssh(f"systemctl is-enabled {unit}.timer").stdout.strip() == "enabled"
        assert mon.ssh(f"systemctl is-active {unit}.timer").stdout.strip() == "active"
    assert "OnCalendar=weekly" in mon.ssh("systemctl cat monstack-backup-grafana.timer").stdout
    assert "OnCalendar=daily" in mon.ssh("systemctl cat monstack-backup-prometheus.timer").stdout
    assert mon.ssh(f"stat -c '%U %a' {BACKUP_DIR}").stdout.split() == ["root", "700"]
    flags = mon.ssh("systemctl cat prometheus").stdout
    assert "--web.enable-admin-api" in flags and "--web.listen-address=127.0.0.1:9090" in flags


@pytest.fixture(scope="module")
def backed_up(stack, first_runs):
    """A sample of node_exporter scraped, then every timer's service started now."""
    mon = stack["mon"]
    scraped = wait_for("a node_exporter sample in Prometheus",
                       lambda: query(mon, 'up{job="node"} == 1'), timeout=120)
    # still in the head block: the snapshot (skip_head unset) takes it along
    sample_time = float(scraped[0]["value"][0])
    for path in [*LOKI_FILES, LOKI_CHUNK]:   # the double writes no index: Loki's files, as Loki has them
        mon.ssh(f"install -D -o loki -g loki -m 0640 /dev/null /var/lib/loki/{path} && "
                f"echo {shlex.quote(path)} > /var/lib/loki/{path}")
    for kind in KINDS:
        res = mon.ssh(f"systemctl start monstack-backup-{kind}.service", check=False,
                      timeout=600)
        assert res.returncode == 0, mon.ssh(
            f"journalctl -u monstack-backup-{kind}.service -n 30 --no-pager -o cat").stdout
    return {"sample_time": sample_time}


def test_each_backup_exists_and_verifies(stack, backed_up):
    mon = stack["mon"]
    for kind in KINDS:
        (name,) = backups_of(mon, kind)
        assert name.startswith(f"{kind}-")
        verify(mon, kind, name)
    # the snapshot left Prometheus' data folder for the backup folder
    assert mon.ssh("ls -A /var/lib/prometheus/snapshots").stdout.strip() == ""
    (grafana,) = backups_of(mon, "grafana")
    exported = mon.ssh(f"ls {BACKUP_DIR}/grafana/{grafana}/dashboards/org-1").stdout.split()
    assert sorted(exported) == sorted(f"{uid}.json" for uid in DASHBOARDS)
    model = json.loads(mon.ssh(
        f"cat {BACKUP_DIR}/grafana/{grafana}/dashboards/org-1/monstack-stack.json").stdout)
    assert model["uid"] == "monstack-stack"
    (configs,) = backups_of(mon, "configs")
    listed = mon.ssh(f"tar -tzf {BACKUP_DIR}/configs/{configs}/data.tar.gz").stdout.split()
    assert "etc/prometheus/prometheus.yml" in listed and "etc/grafana/grafana.ini" in listed
    assert "etc/loki/loki.yaml" in listed
    (loki,) = backups_of(mon, "loki")
    listed = mon.ssh(f"tar -tzf {BACKUP_DIR}/loki/{loki}/data.tar.gz").stdout.split()
    assert set(LOKI_FILES) <= set(listed), listed
    assert LOKI_CHUNK not in listed, listed
    # a backup missing a dashboard no longer verifies
    mon.ssh(f"cp -a {BACKUP_DIR}/grafana/{grafana} /tmp/grafana-copy && "
            "rm /tmp/grafana-copy/dashboards/org-1/monstack-stack.json")
    res = mon.ssh(f"PATHS=grafana.db {SCRIPT} verify sqlite /tmp/grafana-copy", check=False)
    assert res.returncode != 0 and "dashboard files, the database holds" in res.stderr


def test_the_backup_metrics_are_scraped(stack, backed_up):
    mon = stack["mon"]
    def last_successes():
        found = {r["metric"]["kind"]: float(r["value"][1])
                 for r in query(mon, "monstack_backup_last_success_timestamp_seconds")}
        return found if set(found) == set(KINDS) else None

    found = wait_for("every kind's backup metrics in Prometheus", last_successes, timeout=60)
    # whole seconds (the script's `date +%s`); the sample's time is Prometheus' query time
    assert all(ts >= int(backed_up["sample_time"]) for ts in found.values()), (found, backed_up)
    sizes = {r["metric"]["kind"]: float(r["value"][1])
             for r in query(mon, "monstack_backup_size_bytes")}
    assert all(sizes[kind] > 0 for kind in KINDS), sizes
    weekly = query(mon, 'monstack_backup_interval_seconds{kind="grafana"}')
    assert float(weekly[0]["value"][1]) == 7 * 86400
    assert query(mon, 'ALERTS{alertname=~"Backup.*"}') == []


def test_a_second_run_changes_nothing(stack, backed_up):
    mon = stack["mon"]
    assert_rerun_changes_nothing(lambda: run_pyinfra(stack["inventory"], env=ENV),
                                 [(mon, SERVICES)])


def test_a_lost_prometheus_data_folder_is_restored_with_its_samples(stack, backed_up):
    mon = stack["mon"]
    restore = dict(deploy="restore.py", env=ENV, extra=["--limit", mon.ip])
    # a backup that does not exist: refused before anything stops
    before = service_pids(mon, ["prometheus"])
    refused = run_pyinfra(stack["inventory"], data={"restore_kind": "prometheus",
                                                    "restore_backup": "prometheus-none"},
                          **restore)
    assert refused.returncode != 0
    assert "no backup 'prometheus-none'" in refused.output
    assert "nothing was stopped" in refused.output
    assert service_pids(mon, ["prometheus"]) == before

    # the disk lost Prometheus' data
    mon.ssh("systemctl stop prometheus && rm -rf /var/lib/prometheus")
    run_pyinfra(stack["inventory"], data={"restore_kind": "prometheus"}, **restore).check()
    assert mon.ssh("systemctl is-active prometheus").stdout.strip() == "active"
    assert mon.ssh("stat -c '%U %G %a' /var/lib/prometheus").stdout.split() == [
        "prometheus", "prometheus", "750"]
    (series,) = query(mon, 'up{job="node"}', at=backed_up["sample_time"])
    assert series["value"][1] == "1"
    # the backup is kept, and still verifies
    (name,) = backups_of(mon, "prometheus")
    verify(mon, "prometheus", name)

    # restored again over the running one: what was there is moved aside, not deleted
    run_pyinfra(stack["inventory"], data={"restore_kind": "prometheus"}, **restore).check()
    aside = mon.ssh("ls -d /var/lib/prometheus.before-restore-*").stdout.split()
    assert len(aside) == 1
    assert query(mon, 'up{job="node"}', at=backed_up["sample_time"])
