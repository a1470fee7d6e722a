"""Prometheus' remote_write: the user's `prometheus_remote_write` entries, and one entry to
each VictoriaMetrics host of the inventory.

Entries are checked on the controller (settings.cross_checks), so a typo stops the run
before any host is touched instead of failing `promtool check config` on one host. The
login's password and the bearer token never go into prometheus.yml: each is written to
a file of its own under /etc/prometheus/remote_write (0640 root:prometheus) and the
config names that file (password_file, credentials_file), which Prometheus reads again
on every request.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from operations.base.schema import DURATION_RE

SETTING = "prometheus_remote_write"
SECRETS_DIR = "/etc/prometheus/remote_write"

ENTRY_KEYS = ("url", "name", "remote_timeout", "basic_auth", "bearer_token_secret",
              "queue_config", "write_relabel_configs")
BASIC_AUTH_KEYS = ("username", "password_secret")
# Prometheus' queue_config (sample_age_limit needs Prometheus 2.50 or later)
QUEUE_KEYS = ("capacity", "max_shards", "min_shards", "max_samples_per_send",
              "batch_send_deadline", "min_backoff", "max_backoff", "retry_on_http_429",
              "sample_age_limit")
# the keys Prometheus reads as durations (model.Duration: units y, w, d, h, m, s, ms)
DURATION_KEYS = ("remote_timeout", "batch_send_deadline", "min_backoff", "max_backoff",
                 "sample_age_limit")
RELABEL_KEYS = ("source_labels", "separator", "target_label", "regex", "modulus",
                "replacement", "action")
RELABEL_ACTIONS = ("replace", "keep", "drop", "keepequal", "dropequal", "hashmod",
                   "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase")


def _unknown(where: str, given: dict, known: tuple) -> list[str]:
    return [f"{where}: unknown key {key!r} (known: {', '.join(known)})"
            for key in given if key not in known]


def _duration_problems(where: str, given: dict) -> list[str]:
    return [f"{where}: {key} ({given[key]!r}) is not a duration like 30s, 5m or 1h"
            for key in DURATION_KEYS if key in given
            and not (isinstance(given[key], str) and DURATION_RE.match(given[key]))]


def _relabel_problems(where: str, rules) -> list[str]:
    if not isinstance(rules, list):
        return [f"{where}: expected a list of relabel rules, got {rules!r}"]
    errors = []
    for n, rule in enumerate(rules):
        at = f"{where}[{n}]"
        if not isinstance(rule, dict):
            errors.append(f"{at}: expected a mapping, got {rule!r}")
            continue
        errors += _unknown(at, rule, RELABEL_KEYS)
        if rule.get("action", "replace") not in RELABEL_ACTIONS:
            errors.append(f"{at}: action {rule['action']!r} is not one of "
                          f"{', '.join(RELABEL_ACTIONS)}")
    return errors


def _mapping(known: tuple, shape: str = "a mapping"):
    """A check of one mapping of `known` keys (`shape`: how the error words it): anything
    else is refused alone; a mapping's unknown keys and bad durations come before what the
    check finds."""
    def of_mapping(check):
        @functools.wraps(check)
        def checked(where: str, given) -> list[str]:
            if not isinstance(given, dict):
                return [f"{where}: expected {shape}, got {given!r}"]
            return (_unknown(where, given, known) + _duration_problems(where, given)
                    + check(where, given))
        return checked
    return of_mapping


@_mapping(QUEUE_KEYS)
def queue_problems(where: str, queue: dict) -> list[str]:
    """What is wrong with a queue_config mapping."""
    errors = []
    shards = {k: queue[k] for k in ("min_shards", "max_shards") if k in queue}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shards.values()):
        errors.append(f"{where}: min_shards and max_shards must be whole numbers above 0, "
                      f"got {shards}")
    elif len(shards) == 2 and shards["min_shards"] > shards["max_shards"]:
        errors.append(f"{where}: min_shards ({shards['min_shards']}) is above max_shards "
                      f"({shards['max_shards']})")
    return errors


@_mapping(ENTRY_KEYS, "a mapping {url, ...}")
def _entry_problems(where: str, entry: dict) -> list[str]:
    errors = []
    url = entry.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(f"{where}: url must be an http:// or https:// URL, got {url!r}")
    elif parts.username or parts.password:
        errors.append(f"{where}: url must not hold a login; use basic_auth with "
                      "password_secret")
    if "name" in entry and not (isinstance(entry["name"], str) and entry["name"].strip()):
        errors.append(f"{where}: name must be a non-empty string")
    auth = entry.get("basic_auth")
    if auth is not None:
        if not isinstance(auth, dict):
            errors.append(f"{where}.basic_auth: expected {{username, password_secret}}")
        else:
            errors += _unknown(f"{where}.basic_auth", auth, BASIC_AUTH_KEYS)
            missing = [k for k in BASIC_AUTH_KEYS if not auth.get(k)]
            if missing:
                errors.append(f"{where}.basic_auth: needs {', '.join(missing)} (the password "
                              "comes from a secret, never from the settings)")
    if auth is not None and entry.get("bearer_token_secret"):
        errors.append(f"{where}: basic_auth and bearer_token_secret exclude each other")
    if entry.get("queue_config") is not None:
        errors += queue_problems(f"{where}.queue_config", entry["queue_config"])
    if "write_relabel_configs" in entry:
        errors += _relabel_problems(f"{where}.write_relabel_configs",
                                    entry["write_relabel_configs"])
    return errors


def problems(entries: list) -> list[str]:
    """What is wrong with the entries of prometheus_remote_write, one message each."""
    errors = []
    for n, entry in enumerate(entries):
        errors += _entry_problems(f"{SETTING}[{n}]", entry)
    names = [e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"{SETTING}: the name {name!r} is given twice (Prometheus needs unique "
                      "names)")
    return errors


@dataclass(frozen=True)
class SecretFile:
    """A file on the Prometheus host holding one secret, named by the setting."""

    path: str
    secret_name: str
    purpose: str


def _file_stem(entry: dict, n: int) -> str:
    name = entry.get("name") or f"remote-write-{n + 1}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def config_entries(entries: list[dict], store_urls: dict[str, str] = None,
                   store_queue: dict | None = None) -> tuple[list[dict], list[SecretFile]]:
    """prometheus.yml's remote_write list, and the secret files it names.

    `store_urls`: name -> write URL of the inventory's own long-term stores, appended
    after the user's entries, each with the queue_config `store_queue`."""
    config, secrets = [], []
    for n, entry in enumerate(entries):
        out = {"url": entry["url"]}
        if entry.get("name"):
            out["name"] = entry["name"]
        if entry.get("remote_timeout"):
            out["remote_timeout"] = entry["remote_timeout"]
        stem, where = _file_stem(entry, n), f"remote_write to {entry['url']}"
        if entry.get("basic_auth"):
            path = f"{SECRETS_DIR}/{stem}.password"
            out["basic_auth"] = {"username": entry["basic_auth"]["username"],
                                 "password_file": path}
            secrets.append(SecretFile(path, entry["basic_auth"]["password_secret"],
                                      f"the basic auth password of {where}"))
        if entry.get("bearer_token_secret"):
            path = f"{SECRETS_DIR}/{stem}.token"
            out["authorization"] = {"type": "Bearer", "credentials_file": path}
            secrets.append(SecretFile(path, entry["bearer_token_secret"],
                                      f"the bearer token of {where}"))
        if entry.get("queue_config"):
            out["queue_config"] = dict(entry["queue_config"])
        if entry.get("write_relabel_configs"):
            out["write_relabel_configs"] = [dict(r) for r in entry["write_relabel_configs"]]
        config.append(out)
    for name, url in (store_urls or {}).items():
        config.append({"url": url, "name": name,
                       **({"queue_config": dict(store_queue)} if store_queue else {})})
    return config, secrets
