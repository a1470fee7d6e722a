"""Long-term storage: an operator lists remote_write targets (their secrets in files, never
in prometheus.yml) and puts a host in the group `victoriametrics`, whose store every
Prometheus then writes to and Grafana reads from.

prometheus.yml is checked by Debian's real promtool; the inventory is a real pyinfra
Inventory; VictoriaMetrics' unit by reading its ExecStart as systemd would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

from harness.debian import promtool_accepts, upstream_version
from harness.units import directives, exec_start_argv
from operations.base import artifacts, install, inventory as context
from operations.components.grafana import provisioning as grafana_provisioning
from operations.components.prometheus import server as prometheus, targets
from operations.components import victoriametrics
from operations.base.artifacts import ArtifactError
from operations.base.schema import SettingsError
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate

PASSWORD = "lts-password-value-1"
TOKEN = "lts-bearer-token-value-2"
SECRET_VARS = {"T_LTS_PASSWORD": PASSWORD, "T_LTS_TOKEN": TOKEN}

def checked_version() -> dict:
    """Render for the Prometheus whose promtool checks the config (Debian's oldest)."""
    return {"prometheus_version": upstream_version("prometheus")}


LONG_TERM = {"url": "https://lts.example.org/api/v1/write", "name": "lts",
             "remote_timeout": "30s",
             "basic_auth": {"username": "prometheus", "password_secret": "T_LTS_PASSWORD"},
             "queue_config": {"max_shards": 10, "capacity": 20000, "max_backoff": "10s"},
             "write_relabel_configs": [{"source_labels": ["__name__"], "regex": "go_gc_.*",
                                        "action": "drop"}]}
HOSTED = {"url": "http://hosted.example.net:8480/insert/0/prometheus/api/v1/write",
          "bearer_token_secret": "T_LTS_TOKEN"}


@pytest.fixture(autouse=True)
def secret_variables(monkeypatch):
    for var, value in SECRET_VARS.items():
        monkeypatch.setenv(var, value)


def rendered(use, host: str = "mon1") -> tuple[str, dict]:
    s = use(host)
    text = prometheus.config_content(s, targets.inventory_jobs())
    return text, yaml.safe_load(text)


# -- the user's remote_write entries -------------------------------------------------------------
def test_remote_write_entries_are_rendered_with_secrets_in_files(inventory, tmp_path):
    use = inventory({"monitoring": ["mon1"]},
                    {"prometheus_remote_write": [LONG_TERM, HOSTED], **checked_version()})
    text, cfg = rendered(use)
    lts, hosted = cfg["remote_write"]
    assert lts == {
        "url": "https://lts.example.org/api/v1/write", "name": "lts", "remote_timeout": "30s",
        "basic_auth": {"username": "prometheus",
                       "password_file": "/etc/prometheus/remote_write/lts.password"},
        "queue_config": {"max_shards": 10, "capacity": 20000, "max_backoff": "10s"},
        "write_relabel_configs": [{"source_labels": ["__name__"], "regex": "go_gc_.*",
                                   "action": "drop"}]}
    assert hosted == {
        "url": "http://hosted.example.net:8480/insert/0/prometheus/api/v1/write",
        "authorization": {"type": "Bearer",
                          "credentials_file": "/etc/prometheus/remote_write/remote-write-2.token"}}
    for value in (PASSWORD, TOKEN, "T_LTS_PASSWORD", "T_LTS_TOKEN"):
        assert value not in text
    promtool_accepts(text, tmp_path)


def test_secret_files_are_0640_root_prometheus_and_masked(inventory, monkeypatch):
    use = inventory({"monitoring": ["mon1"]},
                    {"prometheus_remote_write": [LONG_TERM, HOSTED]})
    s = use("mon1")
    written, dirs, kept = [], [], []
    monkeypatch.setattr(prometheus, "validated_file", lambda **kw: written.append(kw))
    monkeypatch.setattr(prometheus, "directory", lambda *a: dirs.append(a))
    monkeypatch.setattr(prometheus, "remove_stale", lambda d, wanted, what: kept.append(wanted))
    prometheus.remote_write_secrets(s)
    assert dirs == [("/etc/prometheus/remote_write", "root", "prometheus", "0750")]
    assert [(w["dest"], w["content"], w["user"], w["group"], w["mode"], w["secret"],
             w["secrets"]) for w in written] == [
        ("/etc/prometheus/remote_write/lts.password", PASSWORD + "\n", "root", "prometheus",
         "0640", True, [PASSWORD]),
        ("/etc/prometheus/remote_write/remote-write-2.token", TOKEN + "\n", "root",
         "prometheus", "0640", True, [TOKEN])]
    assert all(PASSWORD not in w["name"] and TOKEN not in w["name"] for w in written)
    assert kept == [{"lts.password", "remote-write-2.token"}]


def test_a_missing_secret_stops_the_plan_naming_it(inventory, monkeypatch):
    use = inventory({"monitoring": ["mon1"]}, {"prometheus_remote_write": [LONG_TERM]})
    monkeypatch.delenv("T_LTS_PASSWORD")
    s = use("mon1")
    monkeypatch.setattr(prometheus, "validated_file", lambda **kw: None)
    monkeypatch.setattr(prometheus, "directory", lambda *a: None)
    with pytest.raises(SettingsError, match="T_LTS_PASSWORD"):
        prometheus.remote_write_secrets(s)


def test_without_remote_write_there_is_no_section_and_no_secret_file(inventory, monkeypatch):
    use = inventory({"monitoring": ["mon1"]})
    text, cfg = rendered(use)
    assert "remote_write" not in cfg
    written, dirs = [], []
    monkeypatch.setattr(prometheus, "validated_file", lambda **kw: written.append(kw))
    monkeypatch.setattr(prometheus, "directory", lambda *a: dirs.append(a))
    monkeypatch.setattr(prometheus, "remove_stale", lambda d, wanted, what: None)
    prometheus.remote_write_secrets(use("mon1"))
    assert written == dirs == []


@pytest.mark.parametrize("entry,words", [
    ({**LONG_TERM, "pasword": "x"}, ["prometheus_remote_write[0]", "unknown key 'pasword'"]),
    ({"url": "http://vm:8428/api/v1/write", "basic_auth": {"username": "p", "password": "x"}},
     ["prometheus_remote_write[0].basic_auth", "unknown key 'password'", "password_secret"]),
    ({"url": "http://vm:8428/api/v1/write", "queue_config": {"max_shard": 3}},
     ["queue_config", "unknown key 'max_shard'"]),
    ({"url": "http://vm:8428/api/v1/write",
      "write_relabel_configs": [{"regex": "go_.*", "action": "dropp"}]},
     ["write_relabel_configs[0]", "'dropp'"]),
    ({"url": "http://vm:8428/api/v1/write", "write_relabel_configs": [{"sorce_labels": []}]},
     ["write_relabel_configs[0]", "unknown key 'sorce_labels'"]),
    ({"url": "vm:8428/api/v1/write"}, ["url must be an http:// or https:// URL"]),
    ({"url": "ftp://vm/api/v1/write"}, ["url must be an http:// or https:// URL"]),
    ({"name": "no url"}, ["url must be an http:// or https:// URL"]),
    ({"url": "https://user:pw@vm/api/v1/write"}, ["must not hold a login"]),
    ({**HOSTED, "basic_auth": {"username": "p", "password_secret": "S"}},
     ["exclude each other"]),
    ("http://vm:8428/api/v1/write", ["expected a mapping"]),
])
def test_bad_remote_write_entries_are_refused_naming_the_key(entry, words):
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"prometheus_remote_write": [entry]})
    for word in words:
        assert word in str(exc.value)


def test_remote_write_names_must_be_unique():
    with pytest.raises(SettingsError, match="'lts' is given twice"):
        validate("mon1", {"prometheus_remote_write": [LONG_TERM, {**HOSTED, "name": "lts"}]})


def test_remote_write_from_the_command_line_is_read_as_yaml():
    s = validate("mon1", {"prometheus_remote_write":
                          "[{url: 'http://vm1:8428/api/v1/write', name: vm1}]"})
    assert s.prometheus_remote_write == [{"url": "http://vm1:8428/api/v1/write", "name": "vm1"}]


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
