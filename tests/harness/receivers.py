"""Alertmanager receivers for unit tests: every receiver type, the secrets they name, and
`host_settings`, validated Settings whose secrets the real secret() looks up."""

from __future__ import annotations

import pytest

from harness.settings import settings_builder

SECRET_VARS = ("MONSTACK_T_SLACK_URL", "MONSTACK_T_TG_TOKEN", "MONSTACK_T_PD_KEY",
               "MONSTACK_T_SMTP_PW", "MONSTACK_T_HOOK_URL")
SLACK_URL = "https://hooks.slack.com/services/T000/B000/slack-secret-value-1"
TG_TOKEN = "123456:telegram-secret-value-2"
PD_KEY = "pagerduty-secret-value-3"
SMTP_PW = "smtp-secret-value-4"


@pytest.fixture
def host_settings(monkeypatch, tmp_path):
    """Build Settings for host h1 with validate() and make context.secret() see them.

    secret() asks context.settings() for the current pyinfra host's secrets_file; the
    one thing replaced is that lookup, so the real secret() (environment first, then
    the secrets file) is what runs."""
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    return settings_builder(monkeypatch, tmp_path)


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
