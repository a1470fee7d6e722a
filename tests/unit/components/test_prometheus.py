"""prometheus: the rendered prometheus.yml and the flags of its unit; the replicas of an HA
pair label their series and send identical alerts.

Structure is checked on the parsed YAML, and the file is then given to Debian's promtool
(tests/harness/debian.py).
"""

from __future__ import annotations

import glob
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import debian
from harness.programs import run
from harness.fake_host import FakeHost
from harness.fake_host import FakeHost as Host
from harness.peers import inventory  # noqa: F401
from operations.components.prometheus import federation, server as prometheus
from operations.base.schema import SettingsError
from operations.stack import validate


@pytest.fixture(scope="session")
def promtool() -> Path:
    return debian.tool("promtool")

# -- prometheus --------------------------------------------------------------------------
PORTS = {"alertmanager": 9093, "blackbox_exporter": 9115, "prometheus": 9090}


@pytest.fixture
def fake_inventory(monkeypatch):
    running = {"alertmanager": [FakeHost("mon2"), FakeHost("mon1")],
               "blackbox_exporter": [FakeHost("probe2"), FakeHost("probe1")]}
    monkeypatch.setattr(prometheus, "hosts_running", lambda c: list(running.get(c, [])))
    monkeypatch.setattr(prometheus, "endpoint", lambda c, h: f"{h.name}:{PORTS[c]}")
    monkeypatch.setattr(prometheus, "host", FakeHost("mon1"))
    # every host without a site, none global: one Prometheus scraping everything
    monkeypatch.setattr(federation, "settings", lambda h: validate(h.name, {}))
    monkeypatch.setattr(prometheus, "listen_address", lambda c, h=None: f"0.0.0.0:{PORTS[c]}")
    return running


INVENTORY_JOBS = [
    {"name": "node", "comment": "host metrics", "component": "node_exporter",
     "honor_labels": False, "groups": [{"targets": ["web1:9100"], "labels": {"host": "web1"}}]},
    {"name": "pushgateway", "comment": "pushed batch-job metrics", "component": "pushgateway",
     "honor_labels": True, "groups": [{"targets": ["mon1:9091"], "labels": {"host": "mon1"}}]},
]
USER_JOBS = [
    {"job_name": "shop", "targets": ["shop1:8080", "shop2:8080"], "metrics_path": "/admin/metrics",
     "scheme": "https", "labels": {"team": "web", "tier": "1"}, "scrape_interval": "30s"},
    {"job_name": "worker", "targets": ["worker1:9000"]},
]
RAW_JOBS = [{"job_name": "federate", "honor_labels": True, "metrics_path": "/federate",
             "params": {"match[]": ['{job="node"}']},
             "static_configs": [{"targets": ["other-prom:9090"]}]}]


def prometheus_settings(**extra):
    return validate("mon1", {
        "prometheus_external_labels": '{"cluster": "eu-1", "replica": "yes", "env": "1.10"}',
        "prometheus_retention_size": "10GB",
        "prometheus_scrape_jobs": json.dumps(USER_JOBS),
        "prometheus_extra_scrape_configs": RAW_JOBS,
        "blackbox_exporter_targets": ["https://example.org/health"],
        **extra})


def promtool_check(promtool: Path, path: Path) -> subprocess.CompletedProcess:
    return run([promtool, "check", "config", path])


# The last release that takes its retention only as flags, and the first that reads it from
# prometheus.yml (config/config.go and cmd/prometheus/main.go at v3.8.0).
BEFORE_RETENTION_IN_CONFIG, RETENTION_IN_CONFIG = "3.7.3", "3.8.0"


def test_prometheus_config(fake_inventory, tmp_path, promtool):
    s = prometheus_settings(prometheus_scrape_interval="30s",
                            prometheus_version=BEFORE_RETENTION_IN_CONFIG)
    text = prometheus.config_content(s, INVENTORY_JOBS)
    cfg = yaml.safe_load(text)

    assert cfg["global"] == {
        "scrape_interval": "30s", "scrape_timeout": "10s", "evaluation_interval": "15s",
        # label values stay strings ("yes" is not a YAML bool, "1.10" not a float)
        "external_labels": {"cluster": "eu-1", "replica": "yes", "env": "1.10"}}
    assert cfg["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["mon1:9093", "mon2:9093"]}]}]
    assert cfg["rule_files"] == ["/etc/prometheus/rules/*.yml"]

    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert list(jobs) == ["prometheus", "node", "pushgateway", "blackbox_http", "shop",
                          "worker", "federate"]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["mon1:9090"]}]
    assert jobs["node"] == {"job_name": "node", "file_sd_configs": [
        {"files": ["/etc/prometheus/file_sd/node.yml"]}]}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["file_sd_configs"] == [
        {"files": ["/etc/prometheus/file_sd/pushgateway.yml"]}]

    bb = jobs["blackbox_http"]
    assert bb["metrics_path"] == "/probe" and bb["params"] == {"module": ["http_2xx"]}
    assert bb["static_configs"] == [{"targets": ["https://example.org/health"]}]
    assert bb["relabel_configs"][-1] == {"target_label": "__address__",
                                         "replacement": "probe1:9115"}  # first by name

    assert jobs["shop"] == {
        "job_name": "shop", "metrics_path": "/admin/metrics", "scheme": "https",
        "scrape_interval": "30s",
        "static_configs": [{"targets": ["shop1:8080", "shop2:8080"],
                            "labels": {"team": "web", "tier": "1"}}]}
    assert jobs["worker"] == {"job_name": "worker",
                              "static_configs": [{"targets": ["worker1:9000"]}]}
    assert jobs["federate"] == RAW_JOBS[0]

    # retention is a command-line flag, not part of prometheus.yml
    assert "retention" not in text and "10GB" not in text

    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    # the rule_files glob matches nothing on this machine, and promtool accepts that
    assert glob.glob(cfg["rule_files"][0]) == []
    res = promtool_check(promtool, path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout
    debian.promtool_accepts(text, tmp_path, "sid")   # and promtool 3.5.3 too


def test_prometheus_retention_goes_to_the_config_file_from_3_8(fake_inventory):
    s = prometheus_settings(prometheus_version=RETENTION_IN_CONFIG)
    cfg = yaml.safe_load(prometheus.config_content(s, INVENTORY_JOBS))
    assert cfg["storage"] == {"tsdb": {"retention": {"time": "30d", "size": "10GB"}}}
    argv = prometheus.flags(s, "/usr/local/bin/prometheus")
    assert not [f for f in argv if f.startswith("--storage.tsdb.retention")], argv

    unsized = validate("mon1", {"prometheus_version": RETENTION_IN_CONFIG,
                                "prometheus_retention_time": "90d"})
    cfg = yaml.safe_load(prometheus.config_content(unsized, []))
    assert cfg["storage"] == {"tsdb": {"retention": {"time": "90d"}}}


def test_prometheus_retention_stays_in_flags_before_3_8(fake_inventory):
    for s in (prometheus_settings(prometheus_version=BEFORE_RETENTION_IN_CONFIG),
              # Debian's packages are all older than 3.8, whatever prometheus_version says
              prometheus_settings(prometheus_install_method="package",
                                  prometheus_version=RETENTION_IN_CONFIG)):
        assert "storage" not in yaml.safe_load(prometheus.config_content(s, INVENTORY_JOBS))
        argv = prometheus.flags(s, "/usr/bin/prometheus")
        assert argv[3] == "--storage.tsdb.retention.time=30d"
        assert "--storage.tsdb.retention.size=10GB" in argv


def test_prometheus_before_3_8_refuses_the_retention_block(fake_inventory, tmp_path):
    """Why older versions get flags: sid's promtool 3.5.3 does not know the block."""
    s = prometheus_settings(prometheus_version=RETENTION_IN_CONFIG)
    with pytest.raises(AssertionError, match="retention"):
        debian.promtool_accepts(prometheus.config_content(s, INVENTORY_JOBS), tmp_path, "sid")


def test_prometheus_config_minimal(fake_inventory, tmp_path, promtool):
    fake_inventory.clear()   # no Alertmanager, no blackbox exporter anywhere
    s = validate("mon1", {"blackbox_exporter_targets": ["https://example.org/"],
                          "prometheus_version": debian.upstream_version("prometheus")})
    text = prometheus.config_content(s, [])
    cfg = yaml.safe_load(text)
    assert "external_labels" not in cfg["global"]
    assert cfg["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": []}]}]
    assert [j["job_name"] for j in cfg["scrape_configs"]] == ["prometheus"]
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    res = promtool_check(promtool, path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_prometheus_flags(fake_inventory):
    s = prometheus_settings(prometheus_web_external_url="https://mon.example.org/prometheus",
                            prometheus_extra_flags='["--log.level=debug"]',
                            prometheus_version=BEFORE_RETENTION_IN_CONFIG)
    argv = prometheus.flags(s, "/usr/local/bin/prometheus")
    assert argv[0] == "/usr/local/bin/prometheus"
    assert "--storage.tsdb.retention.size=10GB" in argv
    assert "--storage.tsdb.retention.time=30d" in argv
    assert "--web.external-url=https://mon.example.org/prometheus" in argv
    assert "--web.listen-address=0.0.0.0:9090" in argv
    assert "--storage.tsdb.path=/var/lib/prometheus" in argv
    assert argv[-1] == "--log.level=debug"

    plain = prometheus.flags(validate("mon1", {"prometheus_version": BEFORE_RETENTION_IN_CONFIG}),
                             "/usr/local/bin/prometheus")
    assert not any(f.startswith(("--storage.tsdb.retention.size", "--web.external-url"))
                   for f in plain)


MISLABELLED = {"job_name": "legacy", "targets": ["legacy1:8080"],
               "fallback_scrape_protocol": "PrometheusText0.0.4"}


def test_a_user_job_may_name_its_fallback_scrape_protocol(fake_inventory, tmp_path):
    """For a target that sends a wrong Content-Type, which Prometheus 3 refuses to guess."""
    s = validate("mon1", {"prometheus_scrape_jobs": [MISLABELLED], "prometheus_version": "3.5.3"})
    text = prometheus.config_content(s, [])
    jobs = {j["job_name"]: j for j in yaml.safe_load(text)["scrape_configs"]}
    assert jobs["legacy"]["fallback_scrape_protocol"] == "PrometheusText0.0.4"
    debian.promtool_accepts(text, tmp_path, "sid")   # promtool 3.5.3


def test_a_fallback_scrape_protocol_prometheus_does_not_know_is_refused(fake_inventory):
    s = validate("mon1", {"prometheus_version": "3.5.3", "prometheus_scrape_jobs": [
        {**MISLABELLED, "fallback_scrape_protocol": "text/plain"}]})
    with pytest.raises(SettingsError, match=r"job legacy: fallback_scrape_protocol must be one "
                                            r"of PrometheusProto, .*; got 'text/plain'"):
        prometheus.config_content(s, [])


@pytest.mark.parametrize("older", [{"prometheus_version": "2.53.3"},
                                   {"prometheus_install_method": "package"}])
def test_a_fallback_scrape_protocol_needs_prometheus_3(fake_inventory, older):
    s = validate("mon1", {"prometheus_scrape_jobs": [MISLABELLED], **older})
    with pytest.raises(SettingsError, match="job legacy: fallback_scrape_protocol needs "
                                            "Prometheus 3.0 or later"):
        prometheus.config_content(s, [])


def test_promtool_2_refuses_the_fallback_scrape_protocol(fake_inventory, tmp_path):
    """Why 2.x is refused on the controller: its promtool does not know the key."""
    s = validate("mon1", {"prometheus_scrape_jobs": [MISLABELLED], "prometheus_version": "3.5.3"})
    with pytest.raises(AssertionError, match="fallback_scrape_protocol"):
        debian.promtool_accepts(prometheus.config_content(s, []), tmp_path, "trixie")


@pytest.mark.parametrize("job", [
    {"targets": ["a:1"]}, {"job_name": "x"}, {"job_name": "x", "targets": []}, "x:1"])
def test_user_scrape_job_needs_name_and_targets(fake_inventory, job):
    s = validate("mon1", {"prometheus_scrape_jobs": [job]})
    with pytest.raises(SettingsError, match="prometheus_scrape_jobs"):
        prometheus.config_content(s, [])


def test_user_scrape_job_with_a_string_target(fake_inventory):
    s = validate("mon1", {"prometheus_scrape_jobs": [
        {"job_name": "shop", "targets": "shop1:8080"}]})
    try:
        cfg = yaml.safe_load(prometheus.config_content(s, []))
    except SettingsError:
        return  # rejecting it is fine too
    (shop,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "shop"]
    assert shop["static_configs"][0]["targets"] == ["shop1:8080"]


@pytest.mark.parametrize("duration", ["30m1h", "1h1h", "1h 30m"])
def test_durations_prometheus_rejects_are_rejected_by_the_settings(duration):
    with pytest.raises(SettingsError, match="prometheus_scrape_interval"):
        validate("mon1", {"prometheus_scrape_interval": duration})


@pytest.mark.parametrize("duration", [
    "15s", "1m30s", "1h30m", "2d", "1w", "500ms",
])
def test_durations_the_settings_accept_are_valid_for_prometheus(fake_inventory, tmp_path,
                                                                promtool, duration):
    s = validate("mon1", {"prometheus_scrape_interval": duration,
                          "prometheus_scrape_timeout": "100ms",
                          "prometheus_evaluation_interval": duration,
                          "prometheus_version": debian.upstream_version("prometheus")})
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus.config_content(s, []))
    res = promtool_check(promtool, path)
    assert res.returncode == 0, res.stdout + res.stderr


# -- Prometheus HA pair ---------------------------------------------------------------------
JOBS = [{"name": "node", "comment": "host metrics", "component": "node_exporter",
         "honor_labels": False, "groups": [{"targets": ["web1:9100"]}]}]


def rendered(s) -> dict:
    return yaml.safe_load(prometheus.config_content(s, JOBS))


def test_a_single_prometheus_has_no_replica_label_and_relabels_no_alerts(inventory):
    mon = Host("mon1")
    s = inventory(mon, [mon], data={"prometheus_external_labels": {"cluster": "eu-1"}})
    cfg = rendered(s)
    assert cfg["global"]["external_labels"] == {"cluster": "eu-1"}
    assert "alert_relabel_configs" not in cfg["alerting"]
    assert cfg["scrape_configs"][0]["static_configs"] == [{"targets": ["mon1:9090"]}]


def test_each_replica_names_itself_and_drops_that_name_from_its_alerts(inventory, tmp_path):
    a, b = Host("mon1"), Host("mon2")
    s = inventory(b, [a, b], data={"prometheus_external_labels": {"cluster": "eu-1"},
                                   # the version of the promtool that checks it below
                                   "prometheus_version": debian.upstream_version("prometheus")})
    cfg = rendered(s)
    assert cfg["global"]["external_labels"] == {"replica": "mon2", "cluster": "eu-1"}
    # applied after external labels: both replicas send the same alert
    assert cfg["alerting"]["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "replica"}]
    assert cfg["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["mon1:9093", "mon2:9093"]}]}]
    # each replica also watches the other
    assert cfg["scrape_configs"][0]["static_configs"] == [
        {"targets": ["mon1:9090", "mon2:9090"]}]
    debian.promtool_accepts(prometheus.config_content(s, JOBS), tmp_path)


def test_a_replica_upgraded_from_2_42_to_3_5_needs_nothing_the_deploy_does_not_write(
        inventory, tmp_path):
    """tests/e2e/test_ha_alerting.py upgrades HA replicas from Debian 12's Prometheus to
    sid's in one run: the config is rendered for each version and taken by that version's
    promtool (the run checks the new one with the new promtool before any restart), and
    the unit's flags, the same for both, are each binary's own (its --help)."""
    a, b = Host("mon1"), Host("mon2")
    versions = {suite: debian.upstream_version("prometheus", suite=suite)
                for suite in ("bookworm", "sid")}
    assert versions["bookworm"].startswith("2.42.") and versions["sid"].startswith("3.5."), \
        versions
    argv = {}
    for suite, version in versions.items():
        s = inventory(b, [a, b], data={"prometheus_version": version})
        debian.promtool_accepts(prometheus.config_content(s, JOBS), tmp_path, suite)
        argv[suite] = prometheus.flags(s, "/usr/local/bin/prometheus")
        # both are below 3.8: retention stays in the flags, the config has no storage block
        assert "storage" not in rendered(s)
    assert argv["bookworm"] == argv["sid"]
    for suite in versions:
        binary = debian.binaries("prometheus", suite=suite)["prometheus"]
        known = run([binary, "--help"])
        text = known.stdout + known.stderr
        for flag in argv[suite][1:]:
            assert flag.split("=")[0] in text, (suite, flag)


def test_the_replica_label_name_is_a_setting_and_a_value_given_per_host_wins(inventory):
    a, b = Host("mon1"), Host("mon2")
    s = inventory(a, [a, b], data={"prometheus_replica_label": "prometheus_replica"},
                  per_host={"mon1": {"prometheus_external_labels": {"prometheus_replica": "A"}}})
    cfg = rendered(s)
    assert cfg["global"]["external_labels"] == {"prometheus_replica": "A"}
    assert cfg["alerting"]["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "prometheus_replica"}]


@pytest.mark.parametrize("label", ["", "9lives", "replica-name", "a b"])
def test_a_replica_label_that_is_no_label_name_is_refused(label):
    with pytest.raises(SettingsError, match="prometheus_replica_label"):
        validate("mon1", {"prometheus_replica_label": label})
