"""The stack's general settings: where artifacts come from, the controller's folders,
secrets, and TLS and basic auth of the whole stack. Each component declares its own
settings (operations/components/); the catalogue (operations/base/catalogue.py) holds
them all, and `python3 -m operations.docs --write` generates group_data/all.py and the
README's tables from it.
"""

from __future__ import annotations

import re
from typing import Any

from operations.base.addresses import scrape_address_problem, url_problem
from operations.base.component import backup_schedule_setting
from operations.base.schema import Setting, secret_setting

GENERAL: list[Setting] = [
    # -- where artifacts come from, the controller's folders, secrets ------------------
    Setting("artifact_mirror", "str", None, optional=True, help=(
        "base URL (http:// or https://) of a flat folder holding upstream release files under their upstream "
        "names (Loki's and Alloy's SHA256SUMS as loki-v<version>-SHA256SUMS and "
        "alloy-v<version>-SHA256SUMS); unset: download from upstream")),
    Setting("artifact_checksums", "dict", {}, help=(
        "file name -> sha256, extending the pinned table (for builds you mirror yourself)")),
    Setting("artifact_cache_dir", "str", "~/.cache/monstack/artifacts", help=(
        "controller folder where archives are downloaded once and verified")),
    Setting("artifact_checksums_from_release", "bool", False, help=(
        "for an archive whose sha256 is neither pinned nor in artifact_checksums (e.g. the "
        "armv7/armv6 builds of 32-bit Raspberry Pis): trust the sha256 that its release's "
        "own checksum file lists (promu's sha256sums.txt, Grafana's <file>.sha256, ...), "
        "read from artifact_mirror (under the upstream name, or "
        "<component>-v<version>-<name> where that name holds no version, e.g. "
        "node_exporter-v1.12.1-sha256sums.txt) or upstream over HTTPS; the first one "
        "trusted is recorded in artifact_cache_dir/sha256-from-release/ and a later "
        "different one refused. It guards against corrupt downloads, not against a "
        "compromised release or mirror (see \"Raspberry Pis\")")),
    Setting("fact_batch_dir", "str", "~/.cache/monstack/facts", optional=True, help=(
        "controller folder remembering which facts each host was asked for (names and "
        "arguments, never values), so the next run asks them all in one round trip per "
        "host; unset (None): one round trip per fact, as plain pyinfra")),
    Setting("apt_timeout", "duration", "10m", help=(
        "longest an apt-get update or install on a host may take (a stalled mirror or "
        "proxy): the step then fails, naming the host and what to check")),
    Setting("connection_lost_after", "duration", "60s", help=(
        "a host that acknowledges nothing for this long in the middle of a run (its network "
        "went away) is given up: its run fails, the other hosts go on, a re-run converges "
        "it; a slow step on a reachable host is not cut short; 0s: wait for ever")),
    Setting("ready_timeouts", "dict", {}, help=(
        "seconds a service may take to answer its readiness check after a (re)start or "
        "reload, by component (defaults: 60, loki 120, grafana 300), for slow hosts; past "
        "it the step fails with the service's last journal lines")),
    Setting("machine_arch", "str", None, optional=True, help=(
        "override the host's `uname -m` for artifact selection (x86_64, aarch64, armv7l, "
        "armv6l, armv8l)")),
    Setting("secrets_file", "str", "secrets.yml", help=(
        "untracked YAML file (relative to where pyinfra runs) with secrets not given as "
        "environment variables")),
    Setting("scrape_address", "str", None, optional=True, help=(
        "address Prometheus uses to reach this host's exporters, an IP address or a host "
        "name (default: its inventory name)")),
    # -- backups ------------------------------------------------------------------------------
    Setting("backup_enabled", "bool", False, section="backups", help=(
        "a systemd timer per kind of data a host holds (Prometheus' TSDB, Alertmanager's "
        "silences and notification log, Grafana's database and dashboards, Loki's index and "
        "rules, the rendered configs) writes a verified backup to backup_dir (see \"Backups "
        "and restore\"). Off by default: it enables Prometheus' admin API (only on loopback "
        "or behind basic auth) and takes disk space, both for the operator to decide")),
    Setting("backup_dir", "str", "/var/backups/monstack", section="backups", help=(
        "host folder of the backups (root only, 0700), one folder per kind; best on another "
        "disk than the data (each Prometheus backup is a full copy of its TSDB)")),
    Setting("backup_keep", "int", 7, minimum=1, maximum=1000, section="backups", help=(
        "verified backups kept per kind; older ones are deleted after each new one")),
    Setting("restore_kind", "str", None, optional=True, section="backups", help=(
        "read by restore.py only: the kind of backup to restore on the --limit host "
        "(prometheus, alertmanager, grafana, loki); see \"Backups and restore\"")),
    Setting("restore_backup", "str", "latest", section="backups", help=(
        "read by restore.py only: the backup to restore, a folder name under "
        "backup_dir/<kind>/ (e.g. prometheus-20260101T020000Z) or `latest`")),
    backup_schedule_setting("configs", "daily", "the rendered configs and rule files "
                            "(/etc/<component> of every component the host runs)"),
    # -- tls and basic auth ---------------------------------------------------------------
    # Settings of the whole stack (every host the same): Prometheus reaches every target of
    # a job with one scheme and one login. Only the certificate and key are per host.
    Setting("tls_enabled", "bool", False, section="tls_and_basic_auth", help=(
        "serve Prometheus, Alertmanager, Pushgateway and the node, postgres, redis and "
        "blackbox exporters over HTTPS; Prometheus, Grafana and the readiness checks verify "
        "them with tls_ca_file")),
    Setting("tls_cert_file", "str", None, optional=True, section="tls_and_basic_auth", help=(
        "controller path of the host's certificate (PEM, chain after it), valid for the "
        "address Prometheus scrapes the host at; {host} is replaced by the inventory name")),
    Setting("tls_key_file", "str", None, optional=True, section="tls_and_basic_auth", help=(
        "controller path of that certificate's private key (PEM, not encrypted); {host} as "
        "above")),
    Setting("tls_ca_file", "str", None, optional=True, section="tls_and_basic_auth", help=(
        "controller path of the CA certificate(s) (PEM) that signed the hosts' "
        "certificates, trusted by Prometheus, Grafana and the readiness checks")),
    Setting("basic_auth_enabled", "bool", False, section="tls_and_basic_auth", help=(
        "require an HTTP basic auth login on those endpoints (a bcrypt hash in each "
        "web.yml); Prometheus, Grafana and the readiness checks log in")),
    Setting("basic_auth_username", "str", "prometheus", section="tls_and_basic_auth",
            help="user name of that login"),
    secret_setting("basic_auth_password_secret",
                   "its password (at most 72 bytes; no line breaks, no spaces at either end)",
                   section="tls_and_basic_auth", default="MONSTACK_BASIC_AUTH_PASSWORD"),
]


def general_problems(values: dict[str, Any]) -> list[str]:
    """Rules between the general settings."""
    errors = address_problems(values) + schedule_problems(values)
    for component, seconds in values["ready_timeouts"].items():
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
            errors.append(f"ready_timeouts: {component}: {seconds!r} is not a number of "
                          "seconds (a whole number, at least 1)")
    if values["tls_enabled"]:
        missing = [k for k in ("tls_cert_file", "tls_key_file", "tls_ca_file") if not values[k]]
        if missing:
            errors.append(f"tls_enabled needs {', '.join(missing)} (controller paths of PEM "
                          "files)")
    # a colon ends the user name in a basic auth header; the rest would break config lines
    if values["basic_auth_enabled"] and not re.fullmatch(r"[^\s:\"\\]+",
                                                          values["basic_auth_username"]):
        errors.append(f"basic_auth_username ({values['basic_auth_username']!r}) must not be "
                      "empty nor hold white space, colons, quotes or backslashes")
    return errors


def address_problems(values: dict[str, Any]) -> list[str]:
    """Where other hosts reach this one, and where the controller downloads from."""
    found = []
    if values["scrape_address"] is not None:
        found.append(scrape_address_problem(values["scrape_address"]))
    if values["artifact_mirror"] is not None:
        # fetched with an HTTP client on the controller: a folder must be served over HTTP
        found.append(url_problem("artifact_mirror", values["artifact_mirror"],
                                 "http://mirror.lan/monstack (serve a folder with "
                                 "`python3 -m http.server`)"))
    return [problem for problem in found if problem]


# systemd.time(7)'s shorthands; anything else must look like [weekday] [date] [time] [zone]
CALENDAR_SHORTHANDS = {"hourly", "daily", "weekly", "monthly", "quarterly", "semiannually",
                       "yearly", "annually"}
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_CALENDAR_TOKENS = [
    re.compile(rf"{_WEEKDAY}(?:(?:\.\.|,){_WEEKDAY})*", re.I),           # weekdays
    re.compile(r"[0-9*][0-9*./,~]*(?:-[0-9*][0-9*./,~]*){1,2}"),          # date
    re.compile(r"[0-9*][0-9*/,]*:[0-9*][0-9*/,]*(?::[0-9*][0-9*./,]*)?"),  # time
    re.compile(r"UTC|[A-Z][A-Za-z_]+/[A-Za-z_/+-]+"),                      # time zone
]


def calendar_problem(key: str, value: str) -> str | None:
    """A conservative check of a systemd OnCalendar value on the controller (the host
    checks it exactly with `systemd-analyze calendar` before the timer is written):
    a shorthand, or up to four tokens in order: weekdays, date, time, time zone."""
    if value.strip().lower() in CALENDAR_SHORTHANDS:
        return None
    tokens, rest = value.split(), list(_CALENDAR_TOKENS)
    ok = 0 < len(tokens) <= 4
    for token in tokens if ok else ():
        while rest and not rest[0].fullmatch(token):
            rest.pop(0)
        if not rest:
            ok = False
            break
        rest.pop(0)
    if ok and not any(":" in t for t in tokens) and not any(
            _CALENDAR_TOKENS[1].fullmatch(t) for t in tokens):
        ok = False   # weekdays alone
    if ok:
        return None
    return (f"{key} ({value!r}) is not a systemd calendar event this deploy takes: use one "
            f"of {', '.join(sorted(CALENDAR_SHORTHANDS))}, or [weekdays] [date] time "
            "[zone] such as `Sun *-*-* 03:00` or `*-*-* 02:30:00 UTC` (see `man "
            "systemd.time`; check one with `systemd-analyze calendar '...'`)")


def schedule_problems(values: dict[str, Any]) -> list[str]:
    """Every backup_<kind>_schedule that is set must be a calendar event."""
    return [problem for key, value in values.items()
            if key.startswith("backup_") and key.endswith("_schedule") and value is not None
            for problem in [calendar_problem(key, value)] if problem]
