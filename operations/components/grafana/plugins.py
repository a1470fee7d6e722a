"""Grafana's plugins: sha256-verified zips unpacked into its plugins folder; the ones the deploy placed and the settings no longer name are removed."""

from __future__ import annotations

from operations.base.schema import Setting

# its settings, in the grafana section of the settings table (server.py adds them)
SETTINGS: tuple[Setting, ...] = ()


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    return []
