"""--diff shows rendered config changes; in files holding secrets every secret is masked,
both in what we render and in the live file read from the host (old secrets too)."""

from __future__ import annotations

import json
import subprocess

import pytest

from operations.components.alertmanager import server as alertmanager
from operations.components.grafana import server as grafana
from operations.base.files import masked_lines
from operations.base.facts import SECRET_MASK, MaskedFileContents

from harness.receivers import (PD_KEY, SLACK_URL, SMTP, SMTP_PW, TG_TOKEN,  # noqa: F401
                               all_receivers, host_settings, set_all_secrets)

SECRETS = (SLACK_URL, TG_TOKEN, PD_KEY, SMTP_PW)
OLD_FILE = """\
global:
  smtp_auth_password: old-smtp-password
receivers:
- name: ops-slack
  slack_configs:
  - api_url: https://hooks.slack.com/services/OLD/OLD/old-slack
    channel: '#ops'
"""


def on_host(text: str, tmp_path) -> str:
    """The live file as the host-side fact reports it (the fact's real shell command)."""
    path = tmp_path / "live.yml"
    path.write_text(text)
    out = subprocess.run(MaskedFileContents().command(str(path)), shell=True,
                         capture_output=True, text=True, check=True).stdout
    return "".join(line + "\n" for line in MaskedFileContents().process(out.splitlines()))


def test_every_alertmanager_receiver_secret_is_masked(host_settings, monkeypatch):
    set_all_secrets(monkeypatch)
    s = host_settings({"alertmanager_receivers": json.dumps(all_receivers()),
                       "alertmanager_smtp": SMTP})
    text = alertmanager.config_content(s)
    assert all(value in text for value in SECRETS)  # the real file carries them
    shown = "".join(masked_lines(text))
    assert not [value for value in SECRETS if value in shown]
    assert SECRET_MASK in shown
    # what is not secret stays readable, so the diff is still useful
    assert "ops-slack" in shown and "group_by" in shown


def test_grafana_admin_password_is_masked(host_settings, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "grafana-secret-value-5")
    text = grafana.config_content(host_settings({}))
    assert "grafana-secret-value-5" in text
    assert "grafana-secret-value-5" not in "".join(masked_lines(text))


@pytest.mark.parametrize("line, shown", [
    ("REDIS_PASSWORD=s3cret", f"REDIS_PASSWORD={SECRET_MASK}"),
    ("DATA_SOURCE_NAME=postgresql://exp:pw@127.0.0.1:5432/postgres",
     f"DATA_SOURCE_NAME={SECRET_MASK}"),
    ("admin_password = a b c", f"admin_password = {SECRET_MASK}"),
    ("    bot_token: 1:abc", f"    bot_token: {SECRET_MASK}"),
    ("listen: 0.0.0.0:9093", "listen: 0.0.0.0:9093"),
    ("keys:", "keys:"),
])
def test_secret_looking_keys_are_masked_and_others_kept(line, shown, tmp_path):
    assert masked_lines(line) == [shown + "\n"]
    assert on_host(line + "\n", tmp_path) == shown + "\n"  # the host-side fact agrees


def test_an_old_secret_in_the_live_file_never_leaves_the_host(tmp_path):
    live = on_host(OLD_FILE, tmp_path)
    assert "old-smtp-password" not in live and "old-slack" not in live
    assert "channel: '#ops'" in live


def test_a_secret_value_under_an_innocent_key_is_masked_when_named():
    assert masked_lines("note: hunter2 is here", secrets=["hunter2"]) == [
        f"note: {SECRET_MASK} is here\n"]


def test_a_missing_live_file_is_no_fact(tmp_path):
    out = subprocess.run(MaskedFileContents().command(str(tmp_path / "none")), shell=True,
                         capture_output=True, text=True).stdout
    assert MaskedFileContents().process(out.splitlines()) is None
