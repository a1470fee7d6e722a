"""alertmanager: the rendered alertmanager.yml, every receiver type and its secrets.

Structure is checked on the parsed YAML, and the file is then given to Debian's amtool
(tests/harness/debian.py), whose route tester also shows which receivers an alert of
each severity really reaches.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness import debian
from harness.programs import run
from harness.receivers import (PD_KEY, SLACK_URL, SMTP, SMTP_PW, TG_TOKEN,  # noqa: F401
                               all_receivers, host_settings, set_all_secrets)
from operations.components.alertmanager import server as alertmanager
from operations.base.schema import SettingsError


@pytest.fixture(scope="session")
def amtool() -> Path:
    return debian.tool("amtool")


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

