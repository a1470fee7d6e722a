"""Grafana-managed alerting, for teams that alert in Grafana: contact points, the notification policy tree and message templates, provisioned over Grafana's API."""

from __future__ import annotations

from operations.base.schema import Setting

# its settings, in the grafana section of the settings table (server.py adds them)
SETTINGS: tuple[Setting, ...] = ()


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    return []
