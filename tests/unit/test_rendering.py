"""Rendered configuration: alertmanager.yml, prometheus.yml and the hardened systemd unit.

Structure is checked on the parsed YAML, and the files are then given to the real
checkers a host would use: Debian's amtool and promtool (tests/harness/debian.py), and
systemd-analyze when this machine has it. amtool's route tester also shows which
receivers an alert of each severity really reaches.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

from harness import debian
from operations.components.alertmanager import server as alertmanager
from operations.base import inventory as context
from operations.components.prometheus import federation, server as prometheus
from operations.base.services import Unit
from operations.base.schema import SettingsError
from operations.stack import validate
from harness.units import directives, exec_start_argv
from harness.fake_host import FakeHost

SECRET_VARS = ("MONSTACK_T_SLACK_URL", "MONSTACK_T_TG_TOKEN", "MONSTACK_T_PD_KEY",
               "MONSTACK_T_SMTP_PW", "MONSTACK_T_HOOK_URL")
SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-secret-value-1"
TG_TOKEN = "123456:telegram-secret-value-2"
PD_KEY = "pagerduty-secret-value-3"
SMTP_PW = "smtp-secret-value-4"


@pytest.fixture(scope="session")
def amtool() -> Path:
    return debian.tool("amtool")


@pytest.fixture(scope="session")
def promtool() -> Path:
    return debian.tool("promtool")


@pytest.fixture
def host_settings(monkeypatch, tmp_path):
    """Build Settings for host h1 with validate() and make context.secret() see them.

    secret() asks context.settings() for the current pyinfra host's secrets_file; the
    one thing replaced is that lookup, so the real secret() (environment first, then
    the secrets file) is what runs."""
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(context, "_secrets_files", {})

    def build(data: dict):
        s = validate("h1", {"secrets_file": str(tmp_path / "secrets.yml"), **data})
        monkeypatch.setattr(context, "settings", lambda h=None: s)
        return s

    return build


def all_receivers() -> list[dict]:
    return [
        {"name": "ops-slack", "type": "slack", "webhook_url_secret": "MONSTACK_T_SLACK_URL",
         "channel": "#alerts", "severities": ["critical"]},
        {"name": "ops-mail", "type": "email", "to": "ops@example.org",
         "severities": ["warning", "info"]},
        {"name": "ops-telegram", "type": "telegram", "bot_token_secret": "MONSTACK_T_TG_TOKEN",
         "chat_id": -1001234567890},
        {"name": "oncall", "type": "pagerduty", "routing_key_secret": "MONSTACK_T_PD_KEY",
         "severities": ["critical"]},
        {"name": "audit-hook", "type": "webhook", "url": "http://127.0.0.1:9/hook",
         "severities": ["critical", "warning", "info", "none"]},
    ]


SMTP = {"smarthost": "mail.example.org:587", "from": "alertmanager@example.org",
        "auth_username": "alertmanager", "auth_password_secret": "MONSTACK_T_SMTP_PW"}


def set_all_secrets(monkeypatch):
    monkeypatch.setenv("MONSTACK_T_SLACK_URL", SLACK_URL)
    monkeypatch.setenv("MONSTACK_T_TG_TOKEN", TG_TOKEN)
    monkeypatch.setenv("MONSTACK_T_PD_KEY", PD_KEY)
    monkeypatch.setenv("MONSTACK_T_SMTP_PW", SMTP_PW)


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60,
                          **kw)


def amtool_check(amtool: Path, path: Path) -> None:
    res = run([amtool, "check-config", path])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def amtool_route(amtool: Path, path: Path, **labels) -> list[str]:
    res = run([amtool, "config", "routes", "test", f"--config.file={path}",
               *(f"{k}={v}" for k, v in labels.items())])
    assert res.returncode == 0, res.stdout + res.stderr
    return sorted(res.stdout.strip().split(","))


# -- alertmanager ------------------------------------------------------------------------
def test_alertmanager_every_receiver_type(host_settings, monkeypatch, tmp_path, amtool):
    set_all_secrets(monkeypatch)
    s = host_settings({"alertmanager_receivers": json.dumps(all_receivers()),
                       "alertmanager_smtp": SMTP,
                       "alertmanager_group_by": "[alertname, instance]",
                       "alertmanager_group_interval": "1h30m"})
    text = alertmanager.config_content(s)
    cfg = yaml.safe_load(text)

    assert cfg["global"]["smtp_smarthost"] == "mail.example.org:587"
    assert cfg["global"]["smtp_from"] == "alertmanager@example.org"
    assert cfg["global"]["smtp_auth_username"] == "alertmanager"
    assert cfg["global"]["smtp_auth_password"] == SMTP_PW
    assert cfg["global"]["smtp_require_tls"] is True

    route = cfg["route"]
    assert route["receiver"] == "blackhole"
    assert route["group_by"] == ["alertname", "instance"]
    assert route["group_interval"] == "1h30m"
    assert (route["group_wait"], route["repeat_interval"]) == ("30s", "4h")
    assert [r["receiver"] for r in route["routes"]] == [
        "ops-slack", "ops-mail", "ops-telegram", "oncall", "audit-hook"]
    for r in route["routes"]:
        assert r["continue"] is True
    by_route = {r["receiver"]: r["matchers"] for r in route["routes"]}
    assert by_route["ops-slack"] == ['severity=~"critical"']
    assert by_route["ops-mail"] == ['severity=~"warning|info"']
    assert by_route["ops-telegram"] == ['severity=~"critical|warning"']  # the default

    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert list(receivers) == ["blackhole", "ops-slack", "ops-mail", "ops-telegram",
                               "oncall", "audit-hook"]
    assert receivers["blackhole"] == {"name": "blackhole"}
    (slack,) = receivers["ops-slack"]["slack_configs"]
    assert slack == {"send_resolved": True, "api_url": SLACK_URL, "channel": "#alerts"}
    (mail,) = receivers["ops-mail"]["email_configs"]
    assert mail == {"send_resolved": True, "to": "ops@example.org"}
    (tg,) = receivers["ops-telegram"]["telegram_configs"]
    assert tg == {"send_resolved": True, "bot_token": TG_TOKEN, "chat_id": -1001234567890}
    (pd,) = receivers["oncall"]["pagerduty_configs"]
    assert pd == {"send_resolved": True, "routing_key": PD_KEY}
    (hook,) = receivers["audit-hook"]["webhook_configs"]
    assert hook == {"send_resolved": True, "url": "http://127.0.0.1:9/hook"}
    for r in cfg["receivers"][1:]:
        assert set(r) == {"name", next(k for k in r if k.endswith("_configs"))}
    assert "_secret" not in text and "MONSTACK_T_" not in text

    (inhibit,) = cfg["inhibit_rules"]
    assert inhibit == {"source_matchers": ['severity="critical"'],
                       "target_matchers": ['severity="warning"'],
                       "equal": ["alertname", "instance"]}

    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    amtool_check(amtool, path)
    # Alertmanager's own routing: every receiver that asked for a severity gets it
    assert amtool_route(amtool, path, alertname="X", severity="critical") == [
        "audit-hook", "oncall", "ops-slack", "ops-telegram"]
    assert amtool_route(amtool, path, alertname="X", severity="warning") == [
        "audit-hook", "ops-mail", "ops-telegram"]
    assert amtool_route(amtool, path, alertname="X", severity="info") == [
        "audit-hook", "ops-mail"]
    assert amtool_route(amtool, path, alertname="X", severity="none") == ["audit-hook"]
    assert amtool_route(amtool, path, alertname="X") == ["blackhole"]


@pytest.mark.parametrize("suite", ["bookworm", "sid"])   # amtool 0.25 and 0.33
def test_telegram_chat_id_given_as_text_is_rendered_as_a_number(host_settings, monkeypatch,
                                                                tmp_path, suite):
    set_all_secrets(monkeypatch)
    # as `--data alertmanager_receivers=...` or a YAML file with quotes hands it over
    s = host_settings({"alertmanager_receivers": [
        {"name": "ops-telegram", "type": "telegram", "bot_token_secret": "MONSTACK_T_TG_TOKEN",
         "chat_id": "-1001234567890"}]})
    text = alertmanager.config_content(s)
    (tg,) = yaml.safe_load(text)["receivers"][1]["telegram_configs"]
    assert tg["chat_id"] == -1001234567890
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    amtool_check(debian.tool("amtool", suite), path)


@pytest.mark.parametrize("method,version,refused", [
    ("archive", "0.23.0", True), ("archive", "0.24.0", False), ("package", "0.23.0", False)])
def test_telegram_receivers_need_alertmanager_0_24(host_settings, monkeypatch, method,
                                                   version, refused):
    set_all_secrets(monkeypatch)
    s = host_settings({"alertmanager_install_method": method, "alertmanager_version": version,
                       "alertmanager_receivers": [
                           {"name": "ops-telegram", "type": "telegram", "chat_id": 42,
                            "bot_token_secret": "MONSTACK_T_TG_TOKEN"}]})
    if refused:
        with pytest.raises(SettingsError, match=r"receiver ops-telegram \(telegram\): "
                           r"alertmanager_version 0\.23\.0 has no telegram receivers \(they "
                           r"came with 0\.24\.0\)"):
            alertmanager.config_content(s)
    else:
        assert "telegram_configs" in alertmanager.config_content(s)


@pytest.mark.parametrize("chat_id", ["@ops_channel", "12.5", "", True, "99999999999999999999"])
def test_telegram_chat_id_must_be_an_integer(host_settings, monkeypatch, chat_id):
    set_all_secrets(monkeypatch)
    s = host_settings({"alertmanager_receivers": [
        {"name": "ops-telegram", "type": "telegram", "bot_token_secret": "MONSTACK_T_TG_TOKEN",
         "chat_id": chat_id}]})
    with pytest.raises(SettingsError, match=r"receiver ops-telegram \(telegram\): chat_id must "
                                            r"be an integer"):
        alertmanager.config_content(s)


def test_alertmanager_without_receivers_or_inhibit(host_settings, tmp_path, amtool):
    s = host_settings({"alertmanager_inhibit_warning_when_critical": "false"})
    text = alertmanager.config_content(s)
    cfg = yaml.safe_load(text)
    assert "inhibit_rules" not in cfg
    assert "routes" not in cfg["route"]
    assert cfg["receivers"] == [{"name": "blackhole"}]
    assert not any(k.startswith("smtp_") for k in cfg["global"])
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    amtool_check(amtool, path)
    assert amtool_route(amtool, path, alertname="X", severity="critical") == ["blackhole"]


def test_alertmanager_inhibit_rule_follows_the_setting(host_settings, monkeypatch):
    monkeypatch.setenv("MONSTACK_T_PD_KEY", PD_KEY)
    receivers = [{"name": "oncall", "type": "pagerduty",
                  "routing_key_secret": "MONSTACK_T_PD_KEY"}]
    on = yaml.safe_load(alertmanager.config_content(host_settings(
        {"alertmanager_receivers": receivers})))
    off = yaml.safe_load(alertmanager.config_content(host_settings(
        {"alertmanager_receivers": receivers,
         "alertmanager_inhibit_warning_when_critical": "no"})))
    assert len(on["inhibit_rules"]) == 1
    assert "inhibit_rules" not in off
    assert on["receivers"] == off["receivers"]


def test_secret_from_the_secrets_file(host_settings, tmp_path, monkeypatch):
    (tmp_path / "secrets.yml").write_text(
        "MONSTACK_T_PD_KEY: from-the-file\nMONSTACK_T_HOOK_URL: http://127.0.0.1:9/x\n")
    monkeypatch.setenv("MONSTACK_T_HOOK_URL", "http://127.0.0.1:9/from-env")
    s = host_settings({"alertmanager_receivers": [
        {"name": "oncall", "type": "pagerduty", "routing_key_secret": "MONSTACK_T_PD_KEY"},
        {"name": "hook", "type": "webhook", "url_secret": "MONSTACK_T_HOOK_URL"}]})
    cfg = yaml.safe_load(alertmanager.config_content(s))
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert receivers["oncall"]["pagerduty_configs"][0]["routing_key"] == "from-the-file"
    # the environment wins over the file
    assert receivers["hook"]["webhook_configs"][0]["url"] == "http://127.0.0.1:9/from-env"


def test_missing_secret_names_the_variable_and_leaks_nothing(host_settings, monkeypatch):
    set_all_secrets(monkeypatch)
    monkeypatch.delenv("MONSTACK_T_PD_KEY")
    s = host_settings({"alertmanager_receivers": all_receivers(), "alertmanager_smtp": SMTP})
    with pytest.raises(SettingsError) as exc:
        alertmanager.config_content(s)
    msg = str(exc.value)
    assert "MONSTACK_T_PD_KEY" in msg
    assert "receiver oncall" in msg
    assert "secrets.yml" in msg
    for value in (SLACK_URL, TG_TOKEN, SMTP_PW, PD_KEY):
        assert value not in msg


def test_empty_secret_counts_as_missing(host_settings, monkeypatch):
    monkeypatch.setenv("MONSTACK_T_SMTP_PW", "")
    s = host_settings({"alertmanager_smtp": SMTP})
    with pytest.raises(SettingsError, match="MONSTACK_T_SMTP_PW.*SMTP login"):
        alertmanager.config_content(s)


@pytest.mark.parametrize("receiver,needle", [
    ({"name": "x", "type": "sms", "number": "1"}, "slack, email, telegram"),
    ({"name": "x", "type": "Slack", "webhook_url": "http://127.0.0.1:9/"}, "type"),
    ({"name": "x"}, "needs a name and a type"),
    ({"name": "", "type": "webhook", "url": "http://127.0.0.1:9/"}, "needs a name"),
])
def test_unknown_receiver_type(host_settings, receiver, needle):
    s = host_settings({"alertmanager_receivers": [receiver]})
    with pytest.raises(SettingsError, match=needle):
        alertmanager.config_content(s)


@pytest.mark.parametrize("receiver", [{"type": "webhook", "url": "http://127.0.0.1:9/"},
                                      "ops-slack"])
def test_receiver_without_a_name_is_a_settings_error(host_settings, receiver):
    s = host_settings({"alertmanager_receivers": [receiver]})
    with pytest.raises(SettingsError, match="needs a name"):
        alertmanager.config_content(s)


@pytest.mark.parametrize("receiver,field", [
    ({"name": "s", "type": "slack", "channel": "#a"}, "webhook_url"),
    ({"name": "e", "type": "email"}, "to"),
    ({"name": "t", "type": "telegram", "bot_token": "1:a"}, "chat_id"),
    ({"name": "t", "type": "telegram", "chat_id": 5}, "bot_token"),
    ({"name": "p", "type": "pagerduty"}, "routing_key"),
    ({"name": "w", "type": "webhook"}, "url"),
])
def test_missing_required_receiver_field(host_settings, receiver, field):
    s = host_settings({"alertmanager_receivers": [receiver]})
    with pytest.raises(SettingsError) as exc:
        alertmanager.config_content(s)
    msg = str(exc.value)
    assert f"receiver {receiver['name']}" in msg
    assert f"{field} (or {field}_secret)" in msg


def test_unknown_severity(host_settings):
    s = host_settings({"alertmanager_receivers": [
        {"name": "w", "type": "webhook", "url": "http://127.0.0.1:9/",
         "severities": ["critical", "page"]}]})
    with pytest.raises(SettingsError, match=r"unknown severities \['page'\]"):
        alertmanager.config_content(s)


@pytest.mark.parametrize("smtp", [{"from": "a@example.org"}, {"smarthost": "m:25"}])
def test_incomplete_smtp_is_a_settings_error(host_settings, smtp):
    s = host_settings({"alertmanager_smtp": smtp})
    with pytest.raises(SettingsError, match="alertmanager_smtp"):
        alertmanager.config_content(s)


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


# -- systemd unit --------------------------------------------------------------------------
def make_unit(exec_start=None, **kw) -> Unit:
    args = dict(
        name="prometheus", user="prometheus", description="Prometheus monitoring server",
        documentation="https://prometheus.io/docs/",
        exec_start=exec_start or ["/usr/local/bin/prometheus",
                                  "--config.file=/etc/prometheus/prometheus.yml",
                                  "--storage.tsdb.path=/var/lib/prometheus",
                                  "--web.listen-address=0.0.0.0:9090",
                                  "--cluster.listen-address="],
        write_paths=["/var/lib/prometheus"], reloadable=True)
    args.update(kw)
    return Unit(**args)


def test_unit_hardening(tmp_path):
    content = make_unit().content()
    lines = directives(content)
    for directive in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                      "CapabilityBoundingSet=", "AmbientCapabilities=", "ProtectHome=yes",
                      "PrivateDevices=yes", "RestrictSUIDSGID=yes", "User=prometheus",
                      "Group=prometheus", "ReadWritePaths=/var/lib/prometheus",
                      "ExecReload=/bin/kill -HUP $MAINPID",
                      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
        assert directive in lines, directive
    assert not any(line.startswith("EnvironmentFile=") for line in lines)
    sections = [line for line in lines if line.startswith("[")]
    assert sections == ["[Unit]", "[Service]", "[Install]"]


def test_unit_exec_start_one_flag_per_line():
    unit = make_unit()
    content = unit.content()
    assert exec_start_argv(content) == unit.exec_start
    raw = content.splitlines()
    start = next(i for i, line in enumerate(raw) if line.startswith("ExecStart="))
    assert raw[start] == "ExecStart=/usr/local/bin/prometheus \\"
    assert raw[start + 1] == "    --config.file=/etc/prometheus/prometheus.yml \\"
    assert raw[start + 4] == "    --cluster.listen-address="


def test_unit_without_write_paths_or_reload():
    content = make_unit(write_paths=[], reloadable=False,
                        environment_files=["/etc/default/a", "/etc/default/b"]).content()
    lines = directives(content)
    assert not any(line.startswith("ReadWritePaths") for line in lines)
    assert not any(line.startswith("ExecReload") for line in lines)
    assert "ProtectSystem=strict" in lines
    assert [line for line in lines if line.startswith("EnvironmentFile=")] == [
        "EnvironmentFile=/etc/default/a", "EnvironmentFile=/etc/default/b"]


def test_unit_several_write_paths():
    lines = directives(make_unit(write_paths=["/var/lib/a", "/var/lib/b"]).content())
    assert "ReadWritePaths=/var/lib/a /var/lib/b" in lines


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(not SYSTEMD_ANALYZE,
                                           reason="systemd-analyze is not installed")


def systemd_verify(tmp_path: Path, unit: Unit) -> subprocess.CompletedProcess:
    path = tmp_path / f"monstack-test-{unit.name}.service"
    path.write_text(unit.content())
    return run([SYSTEMD_ANALYZE, "verify", path])


@needs_systemd_analyze
@pytest.mark.parametrize("kw", [{}, {"write_paths": [], "reloadable": False},
                                {"environment_files": ["/etc/hostname"]}])
def test_unit_passes_systemd_analyze_verify(tmp_path, kw):
    # the executable must exist for verify: a real binary stands in for the component's
    unit = make_unit(exec_start=[shutil.which("sleep"), "--web.listen-address=0.0.0.0:9090",
                                 "--cluster.listen-address="], **kw)
    res = systemd_verify(tmp_path, unit)
    assert res.returncode == 0, res.stderr
    assert "monstack-test" not in res.stderr, res.stderr   # no warning about our unit


@needs_systemd_analyze
def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    # the check above can fail: a bad value is reported against our unit file
    unit = make_unit(exec_start=[shutil.which("sleep"), "1"], protect_home="sometimes")
    res = systemd_verify(tmp_path, unit)
    assert "monstack-test" in res.stderr and "sometimes" in res.stderr, res.stderr


def test_unit_exec_start_argument_with_a_space():
    unit = make_unit(exec_start=["/usr/local/bin/prometheus",
                                 "--web.page-title=Ops Prometheus"])
    assert exec_start_argv(unit.content()) == unit.exec_start


@needs_systemd_analyze
def test_unit_exec_start_argument_with_a_percent(tmp_path):
    unit = make_unit(exec_start=[shutil.which("sleep"),
                                 "--web.external-url=https://example.org/a%2Fb"])
    res = systemd_verify(tmp_path, unit)
    assert res.returncode == 0, res.stderr
