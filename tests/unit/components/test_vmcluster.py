"""VictoriaMetrics cluster edition: hosts in the groups vmstorage, vminsert and vmselect
get their units with upstream's flags (every vmstorage host in -storageNode), every
Prometheus writes to every vminsert, Grafana reads from a vmselect, and bad settings stop
the run on the controller.

prometheus.yml is checked by Debian's real promtool; the inventory is a real pyinfra
Inventory; units are read as systemd would.
"""

from __future__ import annotations

import pytest

from harness.units import directives, exec_start_argv
from operations.base import artifacts, install
from operations.components.grafana import provisioning as grafana_provisioning
from operations.components.prometheus import targets
from operations.components import vmcluster
from operations.base.artifacts import ArtifactError
from operations.base.schema import SettingsError
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate
from harness.debian import promtool_accepts, upstream_version
from harness.remote_write import rendered


CLUSTER = {"monitoring": ["mon1"], "vmstorage": ["st1", "st2", "st3"],
           "vminsert": ["front1"], "vmselect": ["front1"]}


def argv(use, host: str, component: str) -> list[str]:
    s = use(host)
    return exec_start_argv(vmcluster.unit(component, s, f"/usr/local/bin/{component}").content())


# -- settings --------------------------------------------------------------------------------
def test_components_ports_groups_and_defaults():
    assert {c: (COMPONENTS[c].port, COMPONENTS[c].group) for c in vmcluster.COMPONENTS} \
        == {"vmstorage": (8482, "vmstorage"), "vminsert": (8480, "vminsert"),
            "vmselect": (8481, "vmselect")}
    order = list(COMPONENTS)
    assert order.index("vmstorage") < order.index("vminsert") < order.index("prometheus")
    assert order.index("vmselect") < order.index("grafana")
    s = validate("h", {})
    assert (s.vmcluster_tenant, s.vmcluster_retention_period, s.vmcluster_replication_factor,
            s.vmcluster_dedup_min_scrape_interval) == (0, "1y", 1, None)
    assert (s.vmstorage_data_dir, s.vmstorage_vminsert_port, s.vmstorage_vmselect_port) == (
        "/var/lib/vmstorage", 8400, 8401)
    for c in vmcluster.COMPONENTS:
        assert s.component(c, "install_method") == "archive"
        assert s.component(c, "version") == RELEASES["victoriametrics_cluster"]["version"]


@pytest.mark.parametrize("data,words", [
    ({"vmstorage_install_method": "package"},
     ["vmstorage_install_method", "no VictoriaMetrics cluster package"]),
    ({"vminsert_install_method": "package"}, ["vminsert_install_method"]),
    ({"vmcluster_retention_period": "12h"}, ["vmcluster_retention_period"]),
    ({"vmcluster_retention_period": "forever"}, ["vmcluster_retention_period"]),
    ({"vmcluster_tenant": -1}, ["vmcluster_tenant", "out of range"]),
    ({"vmcluster_tenant": 4294967296}, ["vmcluster_tenant", "out of range"]),
    ({"vmcluster_replication_factor": 0}, ["vmcluster_replication_factor"]),
    ({"vmcluster_dedup_min_scrape_interval": "1d"}, ["vmcluster_dedup_min_scrape_interval"]),
    ({"vmstorage_vminsert_port": 8482}, ["must differ"]),
    ({"vmstorage_vmselect_port": 8400}, ["must differ"]),
    ({"vmcluster_tenat": 1}, ["did you mean 'vmcluster_tenant'"]),
])
def test_bad_cluster_settings_are_refused(data, words):
    with pytest.raises(SettingsError) as exc:
        validate("h", data)
    for word in words:
        assert word in str(exc.value)


def test_a_tenant_from_the_command_line():
    assert validate("h", {"vmcluster_tenant": "42"}).vmcluster_tenant == 42


# -- units and flags ---------------------------------------------------------------------------
def test_vmstorage_unit(inventory):
    use = inventory(CLUSTER, {"vmcluster_retention_period": "90d",
                              "vmstorage_data_dir": "/srv/vmstorage"})
    assert argv(use, "st1", "vmstorage") == [
        "/usr/local/bin/vmstorage", "-httpListenAddr=0.0.0.0:8482",
        "-storageDataPath=/srv/vmstorage", "-retentionPeriod=90d",
        "-vminsertAddr=0.0.0.0:8400", "-vmselectAddr=0.0.0.0:8401"]
    content = vmcluster.unit("vmstorage", use("st1"), "/usr/local/bin/vmstorage").content()
    for line in ("User=vmstorage", "Group=vmstorage", "ReadWritePaths=/srv/vmstorage",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "SystemCallFilter=mincore"):
        assert line in directives(content)
    assert vmcluster.home("vmstorage", use("st1")) == "/srv/vmstorage"


def test_vminsert_and_vmselect_name_every_storage_host(inventory):
    use = inventory(CLUSTER, host_data={"st3": {"vmstorage_vminsert_port": 9400,
                                                "vmstorage_vmselect_port": 9401}})
    assert argv(use, "front1", "vminsert") == [
        "/usr/local/bin/vminsert", "-httpListenAddr=0.0.0.0:8480",
        "-storageNode=st1:8400,st2:8400,st3:9400"]
    assert argv(use, "front1", "vmselect") == [
        "/usr/local/bin/vmselect", "-httpListenAddr=0.0.0.0:8481",
        "-storageNode=st1:8401,st2:8401,st3:9401"]
    for component in ("vminsert", "vmselect"):
        content = vmcluster.unit(component, use("front1"), "/x").content()
        lines = directives(content)
        assert f"User={component}" in lines
        assert not [x for x in lines if x.startswith("ReadWritePaths=")]
        assert vmcluster.home(component, use("front1")) == "/nonexistent"


def test_replication_adds_its_flag_and_dedup_on_the_read_side(inventory):
    use = inventory(CLUSTER, {"vmcluster_replication_factor": 2,
                              "vminsert_extra_flags": ["-maxLabelsPerTimeseries=60"]})
    assert argv(use, "front1", "vminsert")[2:] == [
        "-storageNode=st1:8400,st2:8400,st3:8400", "-replicationFactor=2",
        "-maxLabelsPerTimeseries=60"]
    assert argv(use, "front1", "vmselect")[3:] == ["-replicationFactor=2",
                                                   "-dedup.minScrapeInterval=1ms"]
    assert argv(use, "st1", "vmstorage")[-1] == "-dedup.minScrapeInterval=1ms"


def test_two_vminserts_mean_every_sample_twice_so_dedup(inventory):
    use = inventory({**CLUSTER, "vminsert": ["front1", "front2"]})
    assert argv(use, "front1", "vmselect")[-1] == "-dedup.minScrapeInterval=1ms"
    use2 = inventory(CLUSTER, {"vmcluster_dedup_min_scrape_interval": "15s"})
    assert argv(use2, "front1", "vmselect")[-1] == "-dedup.minScrapeInterval=15s"
    assert argv(use2, "st2", "vmstorage")[-1] == "-dedup.minScrapeInterval=15s"


def test_one_storage_host_one_front_no_dedup(inventory):
    use = inventory({"vmstorage": ["st1"], "vminsert": ["st1"], "vmselect": ["st1"]})
    assert not [a for a in argv(use, "st1", "vmselect") if "dedup" in a]


def test_listen_address_is_used_for_every_port(inventory):
    use = inventory(CLUSTER, host_data={"st1": {"vmstorage_listen_address": "10.0.0.5"}})
    flags = argv(use, "st1", "vmstorage")
    assert "-httpListenAddr=10.0.0.5:8482" in flags
    assert "-vminsertAddr=10.0.0.5:8400" in flags and "-vmselectAddr=10.0.0.5:8401" in flags
    # and the others reach st1 at that address
    assert argv(use, "front1", "vminsert")[2] == \
        "-storageNode=10.0.0.5:8400,st2:8400,st3:8400"


def test_cluster_checks_need_storage_and_enough_of_it(inventory):
    use = inventory({"vminsert": ["front1"]})
    with pytest.raises(SettingsError, match="no host runs vmstorage"):
        vmcluster.check_cluster("vminsert", use("front1"))
    use = inventory(CLUSTER, {"vmcluster_replication_factor": 4})
    with pytest.raises(SettingsError, match=r"replication_factor \(4\) is more than the "
                                            r"number of vmstorage hosts \(3\)"):
        vmcluster.check_cluster("vmselect", use("front1"))
    vmcluster.check_cluster("vmstorage", use("st1"))   # storage alone is fine


# -- Prometheus, Grafana, scraping ----------------------------------------------------------------
def test_every_prometheus_writes_to_every_vminsert(inventory, tmp_path):
    use = inventory({**CLUSTER, "monitoring": ["mon1", "mon2"], "vminsert": ["front1", "front2"]},
                    # the version of the promtool that checks it below
                    {"vmcluster_tenant": 7,
                     "prometheus_version": upstream_version("prometheus")})
    for mon in ("mon1", "mon2"):
        text, cfg = rendered(use, mon)
        assert cfg["remote_write"] == [
            {"url": "http://front1:8480/insert/7/prometheus/api/v1/write",
             "name": "vminsert-front1"},
            {"url": "http://front2:8480/insert/7/prometheus/api/v1/write",
             "name": "vminsert-front2"}]
        promtool_accepts(text, tmp_path)


def test_single_node_and_cluster_coexist(inventory):
    use = inventory({**CLUSTER, "victoriametrics": ["lts1"]})
    _, cfg = rendered(use)
    assert [w["name"] for w in cfg["remote_write"]] == ["victoriametrics-lts1",
                                                        "vminsert-front1"]
    sources = {d["uid"]: d for d in grafana_provisioning.datasources(use("mon1"))}
    assert sources["victoriametrics"]["url"] == "http://lts1:8428"
    assert sources["vmcluster"]["url"] == "http://front1:8481/select/0/prometheus"


def test_the_automatic_entries_can_be_turned_off(inventory):
    use = inventory(CLUSTER, {"prometheus_remote_write_victoriametrics": False})
    _, cfg = rendered(use)
    assert "remote_write" not in cfg


def test_grafana_reads_the_cluster_at_the_first_vmselect(inventory):
    use = inventory({**CLUSTER, "vmselect": ["sel2", "sel1"]}, {"vmcluster_tenant": 3})
    sources = {d["uid"]: d for d in grafana_provisioning.datasources(use("mon1"))}
    assert sources["vmcluster"] == {
        "uid": "vmcluster", "name": "VictoriaMetrics cluster", "type": "prometheus",
        "url": "http://sel1:8481/select/3/prometheus", "access": "proxy", "isDefault": False}
    assert "victoriametrics" not in sources


def test_no_cluster_no_data_source_and_no_write(inventory):
    use = inventory({"monitoring": ["mon1"], "vmstorage": ["st1"]})
    assert "vmcluster" not in [d["uid"] for d in grafana_provisioning.datasources(use("mon1"))]
    _, cfg = rendered(use)
    assert "remote_write" not in cfg


def test_prometheus_scrapes_the_three(inventory):
    inventory(CLUSTER)("mon1")   # the jobs as the Prometheus on mon1 sees them
    jobs = {j["name"]: j["groups"] for j in targets.inventory_jobs()}
    assert [g["targets"] for g in jobs["vmstorage"]] == [["st1:8482"], ["st2:8482"],
                                                         ["st3:8482"]]
    assert jobs["vminsert"] == [{"targets": ["front1:8480"], "labels": {"host": "front1"}}]
    assert jobs["vmselect"] == [{"targets": ["front1:8481"], "labels": {"host": "front1"}}]


# -- the release archive -----------------------------------------------------------------------
def test_one_tarball_three_binaries_no_package():
    spec = RELEASES["victoriametrics_cluster"]
    assert spec["binaries"] == {"vminsert": "vminsert-prod", "vmselect": "vmselect-prod",
                                "vmstorage": "vmstorage-prod"}
    assert spec["top_dir"] is None and spec["debian_package"] is None
    with pytest.raises(SettingsError, match="no distribution package"):
        install.debian_package("victoriametrics_cluster")


def test_the_cluster_tarball_needs_an_operator_checksum():
    version = RELEASES["victoriametrics_cluster"]["version"]
    name = f"victoria-metrics-linux-arm64-v{version}-cluster.tar.gz"
    assert not [n for n in CHECKSUMS if n.startswith("victoria-metrics")]
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve("victoriametrics_cluster", version, "aarch64", None, {})
    assert name in str(exc.value) and "artifact_checksums" in str(exc.value)
    a = artifacts.resolve("victoriametrics_cluster", version, "aarch64", None, {name: "ef" * 32})
    assert a.url == ("https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/"
                     f"v{version}/{name}")
    with pytest.raises(ArtifactError, match="no build for architecture 'armv7l'"):
        artifacts.resolve("victoriametrics_cluster", version, "armv7l", None, {})
