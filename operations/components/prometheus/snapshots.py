"""Prometheus' backups: TSDB snapshots through its admin API (POST
/api/v1/admin/tsdb/snapshot, served only with --web.enable-admin-api: cmd/prometheus/main.go
and web/api/v1/api.go at v2.42.0 and v3.14.0; docs/querying/api.md "Snapshot": the
snapshot lands in <data>/snapshots/<name>), moved into backup_dir by the backup script and
checked there with `promtool tsdb list` (cmd/promtool/main.go, same tags)."""

from __future__ import annotations

import ipaddress
import shlex

from operations.base.component import Backup
from operations.base.install import ARCHIVE_BIN_DIR
from operations.base.inventory import local_url, runs, settings
from operations.base.tls_auth import readiness

NAME = "prometheus"
ADMIN_API_FLAG = "--web.enable-admin-api"
SNAPSHOT_PATH = "/api/v1/admin/tsdb/snapshot"


def backs_up(values: dict) -> bool:
    """Do these settings snapshot Prometheus where it runs (so its admin API is on)?"""
    return bool(values["backup_enabled"] and values["backup_prometheus_schedule"] is not None)


def loopback_only(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def admin_api_problems(hosts: list) -> list[str]:
    """The admin API (it can delete series and shut the TSDB down) is enabled only where
    no one else reaches it unauthenticated: Prometheus on loopback, or behind basic auth."""
    return [f"host {h.name}: {problem}" for h in hosts if runs(NAME, h)
            for problem in [admin_api_problem(settings(h).values)] if problem]


def admin_api_problem(values: dict) -> str | None:
    if not backs_up(values) or values["basic_auth_enabled"]:
        return None
    if loopback_only(values["prometheus_listen_address"]):
        return None
    return (f"backup_enabled takes Prometheus snapshots through its admin API, which this "
            f"deploy enables only when no one can use it without a login: Prometheus listens "
            f"on {values['prometheus_listen_address']!r} without basic auth. Set "
            "basic_auth_enabled = True, or prometheus_listen_address = '127.0.0.1', or "
            "back up the rest without Prometheus (backup_prometheus_schedule = None)")


def admin_api_flags(s) -> list[str]:
    return [ADMIN_API_FLAG] if backs_up(s.values) else []


def promtool(s) -> str:
    return (f"{ARCHIVE_BIN_DIR}/promtool" if s.prometheus_install_method == "archive"
            else "/usr/bin/promtool")


def environment(s) -> dict[str, str]:
    """What the backup script needs for a snapshot: the API's URL as this host reaches it
    (with TLS, the name in the certificate), curl's options (the login comes from
    wait-ready's curl config, never the command line) and promtool."""
    url, options = readiness(NAME, local_url(NAME, SNAPSHOT_PATH))
    return {"SNAPSHOT_URL": url, "CURL_ARGS": " ".join(shlex.split(" ".join(options))),
            "PROMTOOL": promtool(s)}


BACKUP = Backup(method="tsdb-snapshot", schedule="daily", data_dir_setting="prometheus_data_dir",
                network=True, writes_data_dir=True, environment=environment)
