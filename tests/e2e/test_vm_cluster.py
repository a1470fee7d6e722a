"""An operator with a bigger site keeps samples in the VictoriaMetrics CLUSTER edition:
Prometheus writes to vminsert, which spreads over two vmstorage hosts, and vmselect
answers queries from them.

THE CLUSTER PROGRAMS HERE ARE TEST DOUBLES, NOT VICTORIAMETRICS: upstream's cluster
binaries cannot be had on the test machine and Debian has none, so the mirror serves an
upstream-shaped victoria-metrics-linux-amd64-v0.0.1-testdouble-cluster.tar.gz whose
vminsert-prod, vmselect-prod and vmstorage-prod are tests/harness/doubles/
vm_cluster_double.py (the vmstorage double runs Debian's real single-node
victoria-metrics, installed on the storage hosts by the test). What is proven is the
deploy: the archive install, users, hardened units, upstream's flags and ports
(-storageNode lists, 8400/8401 between them), readiness on /health, the remote_write URL
/insert/<tenant>/prometheus/api/v1/write and the query URL /select/<tenant>/prometheus.

Hosts: one Prometheus and Grafana (group monitoring; Grafana is the API test double of
tests/harness/doubles/grafana_double.py, there to receive the data source), two vmstorage hosts,
one host running both vminsert and vmselect.
"""

import urllib.parse
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness.doubles import grafana_archive, vm_cluster_archive
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, exposure_level, http_json,
                           wait_for, wait_targets_up)
from harness.removal import inventory_with, switch_off_and_purge

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(4)
SCRAPE_SECONDS = 5
TENANT = 0
EXPOSURE_LIMIT = 2.0   # as test_core_stack_archive: the top of systemd's "OK" band
PASSWORD = "e2e-vm-cluster-Grafana-pw"
ENV = {"GRAFANA_ADMIN_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, st1, st2, front = hosts
    for storage in (st1, st2):   # what the vmstorage double runs (not part of the deploy)
        vm_cluster_archive.install_storage_backend(storage)
    cluster = vm_cluster_archive.publish(mirror, tmp_path_factory.mktemp("vm-cluster"))
    # Grafana: the API test double of tests/harness/doubles/grafana_double.py, for its data sources
    settings = grafana_archive.prometheus_host_settings(mirror, tmp_path_factory, [cluster],
                                                        SCRAPE_SECONDS)
    settings.update({"vmcluster_tenant": TENANT, "vmcluster_retention_period": "90d"})
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [mon], "vmstorage": [st1, st2], "vminsert": [front],
         "vmselect": [front]},
        group_data={"all": settings})
    return {"inventory": inventory, "mon": mon, "storage": [st1, st2], "front": front,
            "hosts": hosts}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], env=ENV, **kw)


def select_query(front, query: str) -> list[dict]:
    url = (f"http://{front.ip}:8481/select/{TENANT}/prometheus/api/v1/query?"
           + urllib.parse.urlencode({"query": query, "nocache": 1}))
    data = http_json(url)
    assert data["status"] == "success", data
    return data["data"]["result"]


def units(stack) -> list:
    """(host, the cluster units it runs)"""
    return [*((h, ["vmstorage"]) for h in stack["storage"]),
            (stack["front"], ["vminsert", "vmselect"])]


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    version = vm_cluster_archive.VERSION
    assert real.changes.get(f"VictoriaMetrics vmstorage | Install vmstorage {version} from "
                            "the release archive") == 2
    for component in ("vminsert", "vmselect"):
        assert real.changes.get(f"VictoriaMetrics {component} | Install {component} "
                                f"{version} from the release archive") == 1


def test_prometheus_samples_are_queryable_through_vmselect(stack, first_runs):
    mon, front = stack["mon"], stack["front"]
    expected = {("node", f"{h.ip}:9100") for h in stack["hosts"]}
    expected |= {("vmstorage", f"{h.ip}:8482") for h in stack["storage"]}
    expected |= {("vminsert", f"{front.ip}:8480"), ("vmselect", f"{front.ip}:8481")}
    wait_targets_up(mon, expected)
    # VictoriaMetrics shows samples once older than its latency offset (30 s): the first
    # answers may hold only the hosts scraped first

    def node_series():
        found = {r["metric"]["job"]: r["value"][1]
                 for r in select_query(front, 'count by (job) (up{job="node"})')}
        return found if found == {"node": "4"} else None

    wait_for("every host's samples through vmselect", node_series, timeout=120)
    # the write path really was vminsert -> vmstorage: the storage double's real
    # VictoriaMetrics holds them
    st1 = stack["storage"][0]
    out = st1.ssh("curl -s 'http://127.0.0.1:8482/api/v1/series?match%5B%5D=up' ").stdout
    assert f'"instance":"{mon.ip}:9100"' in out.replace(" ", ""), out[:500]


def test_grafana_reads_the_cluster_at_vmselect(stack, first_runs):
    mon, front = stack["mon"], stack["front"]
    source = grafana_archive.data_source(mon, "vmcluster", PASSWORD)
    assert (source["name"], source["type"], source["url"], source["isDefault"]) == (
        "VictoriaMetrics cluster", "prometheus",
        f"http://{front.ip}:8481/select/{TENANT}/prometheus", False)
    # what Grafana's Prometheus data source type asks of that URL
    data = http_json(source["url"] + "/api/v1/query?query=vector(1)")
    assert data["status"] == "success"


def test_the_flags_name_every_storage_host(stack, first_runs):
    st1, st2 = stack["storage"]
    unit = stack["front"].ssh("systemctl cat vminsert vmselect").stdout
    assert f"-storageNode={st1.ip}:8400,{st2.ip}:8400" in unit
    assert f"-storageNode={st1.ip}:8401,{st2.ip}:8401" in unit
    config = stack["mon"].ssh("cat /etc/prometheus/prometheus.yml").stdout
    assert f"url: http://{stack['front'].ip}:8480/insert/{TENANT}/prometheus/api/v1/write" \
        in config
    storage = st1.ssh("systemctl cat vmstorage").stdout
    for flag in ("-retentionPeriod=90d", "-storageDataPath=/var/lib/vmstorage",
                 "-vminsertAddr=0.0.0.0:8400", "-vmselectAddr=0.0.0.0:8401"):
        assert flag in storage


def test_each_unit_runs_as_its_own_user_hardened(stack, first_runs):
    scores = {}
    for host, names in units(stack):
        for name in names:
            pid = host.ssh(f"systemctl show -p MainPID --value {name}").stdout.strip()
            assert host.ssh(f"ps -o user= -p {pid}").stdout.strip() == name
            assert f"/usr/local/bin/{name} " in host.ssh(f"systemctl cat {name}").stdout
            scores[f"{host.name}/{name}"] = exposure_level(host, name)
    print("systemd-analyze security exposure:", scores)
    assert all(score <= EXPOSURE_LIMIT for score in scores.values()), scores
    for storage in stack["storage"]:
        assert storage.ssh("stat -c '%a %U' /var/lib/vmstorage").stdout.strip() == \
            "750 vmstorage"


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    assert_rerun_changes_nothing(lambda: deploy(stack),
                                 [*units(stack), (stack["mon"], ["prometheus"])])


def test_switching_everything_off_removes_it_cleanly(stack, first_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack["mon"], ["prometheus", "node_exporter", "grafana"]),
                          *[(st, ["vmstorage", "node_exporter"]) for st in stack["storage"]],
                          (stack["front"], ["vminsert", "vmselect", "node_exporter"])], env=ENV)
