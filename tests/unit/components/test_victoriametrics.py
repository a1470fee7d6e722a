"""victoriametrics: a host in the group `victoriametrics` holds the store every Prometheus
then writes to and Grafana reads from.

prometheus.yml is checked by Debian's real promtool; the inventory is a real pyinfra
Inventory; VictoriaMetrics' unit by reading its ExecStart as systemd would.
"""

from __future__ import annotations

import pytest

from harness.debian import promtool_accepts
from harness.remote_write import LONG_TERM, checked_version, rendered, secret_variables  # noqa: F401
from harness.units import directives, exec_start_argv
from operations.base import artifacts, install, inventory as context
from operations.components.grafana import provisioning as grafana_provisioning
from operations.components.prometheus import targets
from operations.components import victoriametrics
from operations.base.artifacts import ArtifactError
from operations.base.schema import SettingsError
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate

# -- the inventory's own store --------------------------------------------------------------------
def test_every_prometheus_writes_to_every_victoriametrics_host(inventory, tmp_path):
    use = inventory({"monitoring": ["mon1", "mon2"], "victoriametrics": ["lts1"]},
                    {"prometheus_remote_write": [LONG_TERM], **checked_version()})
    for mon in ("mon1", "mon2"):
        text, cfg = rendered(use, mon)
        assert [w["url"] for w in cfg["remote_write"]] == [
            "https://lts.example.org/api/v1/write", "http://lts1:8428/api/v1/write"]
        assert cfg["remote_write"][1] == {"url": "http://lts1:8428/api/v1/write",
                                          "name": "victoriametrics-lts1"}
        promtool_accepts(text, tmp_path)
    # and scrapes it
    jobs = {j["name"]: j for j in targets.inventory_jobs()}
    assert jobs["victoriametrics"]["groups"] == [{"targets": ["lts1:8428"],
                                                  "labels": {"host": "lts1"}}]
    assert context.runs("victoriametrics", context.inventory.get_host("lts1"))
    assert not context.runs("victoriametrics", context.inventory.get_host("mon1"))


def test_the_automatic_entries_take_a_queue_config(inventory, tmp_path):
    """Fixed shards: Prometheus then never reshards the queue, which during an outage of
    the store could drop what the old shards held (prometheus/prometheus#12559)."""
    queue = {"min_shards": 2, "max_shards": 2, "max_backoff": "10s"}
    use = inventory({"monitoring": ["mon1"], "victoriametrics": ["lts1"]},
                    {"prometheus_remote_write": [LONG_TERM], **checked_version(),
                     "prometheus_remote_write_victoriametrics_queue_config": queue})
    text, cfg = rendered(use)
    assert cfg["remote_write"][1] == {"url": "http://lts1:8428/api/v1/write",
                                      "name": "victoriametrics-lts1", "queue_config": queue}
    assert cfg["remote_write"][0]["queue_config"] == LONG_TERM["queue_config"]   # its own
    promtool_accepts(text, tmp_path)


@pytest.mark.parametrize("queue,words", [
    ({"max_shard": 3}, ["unknown key 'max_shard'"]),
    ({"min_shards": 4, "max_shards": 2}, ["min_shards (4) is above max_shards (2)"]),
    ({"min_shards": 0}, ["whole numbers above 0"]),
    ({"max_shards": "many"}, ["whole numbers above 0"]),
    ("{min_shards: 2", ["prometheus_remote_write_victoriametrics_queue_config"]),
])
def test_bad_queue_configs_are_refused(queue, words):
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"prometheus_remote_write_victoriametrics_queue_config": queue})
    for word in words:
        assert word in str(exc.value)
    with pytest.raises(SettingsError):   # the same rules for a user's entry
        validate("mon1", {"prometheus_remote_write": [{**LONG_TERM, "queue_config": queue}]})


def test_the_automatic_entry_can_be_turned_off(inventory):
    use = inventory({"monitoring": ["mon1"], "victoriametrics": ["lts1"]},
                    {"prometheus_remote_write_victoriametrics": False})
    _, cfg = rendered(use)
    assert "remote_write" not in cfg


def test_grafana_gets_a_victoriametrics_data_source(inventory):
    use = inventory({"monitoring": ["mon1"], "victoriametrics": ["lts1"]})
    sources = {d["uid"]: d for d in grafana_provisioning.datasources(use("mon1"))}
    assert sources["victoriametrics"] == {
        "uid": "victoriametrics", "name": "VictoriaMetrics", "type": "prometheus",
        "url": "http://lts1:8428", "access": "proxy", "isDefault": False}
    assert sources["prometheus"]["isDefault"] is True


def test_no_store_no_data_source(inventory):
    use = inventory({"monitoring": ["mon1"]})
    assert "victoriametrics" not in [d["uid"] for d in
                                     grafana_provisioning.datasources(use("mon1"))]


# -- VictoriaMetrics itself -----------------------------------------------------------------------
def test_victoriametrics_settings():
    c = COMPONENTS["victoriametrics"]
    assert (c.port, c.group, c.enabled) == (8428, "victoriametrics", True)
    s = validate("lts1", {})
    assert s.victoriametrics_install_method == "package"   # no sha256 is pinned
    assert s.victoriametrics_retention_period == "1y"
    assert s.victoriametrics_data_dir == "/var/lib/victoriametrics"
    assert s.victoriametrics_listen_address == "0.0.0.0"
    order = list(COMPONENTS)
    assert order.index("victoriametrics") < order.index("prometheus")


@pytest.mark.parametrize("period", ["1y", "90d", "2w", "24h", "12"])
def test_retention_periods_victoriametrics_takes(period):
    assert validate("lts1", {"victoriametrics_retention_period": period}) \
        .victoriametrics_retention_period == period


@pytest.mark.parametrize("period", ["12h", "30m", "1y2d", "forever", "0", "0d", ""])
def test_retention_periods_it_refuses(period):
    with pytest.raises(SettingsError, match="victoriametrics_retention_period"):
        validate("lts1", {"victoriametrics_retention_period": period})


def test_victoriametrics_unit(inventory):
    use = inventory({"victoriametrics": ["lts1"]},
                    {"victoriametrics_retention_period": "90d",
                     "victoriametrics_data_dir": "/srv/vm",
                     "victoriametrics_extra_flags": ["-dedup.minScrapeInterval=15s"]})
    s = use("lts1")
    content = victoriametrics.unit(s, "/usr/bin/victoria-metrics").content()
    assert exec_start_argv(content) == [
        "/usr/bin/victoria-metrics", "-httpListenAddr=0.0.0.0:8428", "-storageDataPath=/srv/vm",
        "-retentionPeriod=90d", "-dedup.minScrapeInterval=15s"]
    lines = directives(content)
    for line in ("User=victoriametrics", "ReadWritePaths=/srv/vm", "ProtectSystem=strict",
                 "NoNewPrivileges=yes",
                 # 1.145's storage panics when mincore(2) is refused (seen on a fleet host)
                 "SystemCallFilter=mincore"):
        assert line in lines
    # allowed on top of the service set, and the privileged calls still denied after it
    filters = [line for line in lines if line.startswith("SystemCallFilter=")]
    assert filters == ["SystemCallFilter=@system-service", "SystemCallFilter=mincore",
                       "SystemCallFilter=~@privileged"]
    assert victoriametrics.home(s) == "/srv/vm"


def test_package_and_archive_binaries():
    # Debian's package: /usr/bin/victoria-metrics, its own unit masked
    assert install.debian_package("victoriametrics") == "victoria-metrics"
    spec = RELEASES["victoriametrics"]
    # upstream's tarball: victoria-metrics-prod at its root, installed as victoria-metrics
    assert spec["binaries"] == {"victoria-metrics": "victoria-metrics-prod"}
    assert spec["top_dir"] is None


def test_the_archive_needs_an_operator_checksum():
    version = RELEASES["victoriametrics"]["version"]
    name = f"victoria-metrics-linux-amd64-v{version}.tar.gz"
    assert not [n for n in CHECKSUMS if n.startswith("victoria-metrics")]
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve("victoriametrics", version, "x86_64", "http://mirror.invalid", {})
    assert "no sha256 is pinned for any victoriametrics release" in str(exc.value)
    assert name in str(exc.value)
    sha = "cd" * 32
    a = artifacts.resolve("victoriametrics", version, "x86_64", "http://mirror.invalid", {name: sha})
    assert (a.url, a.sha256) == (f"http://mirror.invalid/{name}", sha)
