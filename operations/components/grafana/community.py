"""Community dashboards from grafana.com, by id and revision: downloaded once on the controller (or read from the mirror or a local folder), sha256-pinned, their data source inputs mapped to ours."""

from __future__ import annotations

from operations.base.schema import Setting

# its settings, in the grafana section of the settings table (server.py adds them)
SETTINGS: tuple[Setting, ...] = ()


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    return []
