"""Grafana-managed alerting, for teams that alert in Grafana: contact points, the notification
policy tree and message templates, provisioned over Grafana's API (api.py; planned with the
rest in provisioning.py). Off by default: Prometheus' alerts go to Alertmanager either way.

Also here: whether the deploy removes what it created and the settings no longer name
(`grafana_prune`; the rules of what counts as the deploy's are in api.py's docstring).
"""

from __future__ import annotations

import copy
import re

from operations.base.inventory import secret
from operations.base.schema import DURATION_RE, SettingsError, Setting, duration_seconds
from operations.components.grafana.ownership import MARK_KEY

# Grafana's own contact point, in every Grafana: a policy tree may name it too
DEFAULT_RECEIVER = "grafana-default-email"
UID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
# the keys of a route (the root and nested ones) in Grafana's policy tree
ROUTE_KEYS = {"receiver", "group_by", "group_wait", "group_interval", "repeat_interval",
              "routes", "object_matchers", "continue", "mute_time_intervals",
              "active_time_intervals"}
ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")
MATCH_OPERATORS = ("=", "!=", "=~", "!~")

# its settings, in the grafana section of the settings table (server.py adds them)
SETTINGS: tuple[Setting, ...] = (
    Setting("grafana_alerting_enabled", "bool", False, section="grafana", help=(
        "provision Grafana-managed alerting: grafana_contact_points, "
        "grafana_notification_policy, grafana_message_templates (Alertmanager stays the path "
        "of Prometheus' alerts)")),
    Setting("grafana_contact_points", "list", [], section="grafana", help=(
        "Grafana contact points: [{name, type, settings, uid?, disableResolveMessage?}]; a "
        "settings key ending in _secret names a secret (e.g. url_secret: SLACK_URL); uid "
        "default monstack-<name>")),
    Setting("grafana_notification_policy", "dict", None, optional=True, section="grafana",
            help=("Grafana's notification policy tree, in its API form ({receiver, group_by, "
                  "group_wait, routes: [{receiver, object_matchers: [[label, op, value]]}]}); "
                  "unset: Grafana's tree is left as it is")),
    Setting("grafana_message_templates", "dict", {}, section="grafana", help=(
        "Grafana message templates: {name: template text with {{ define }} blocks}")),
    Setting("grafana_alertmanager_external", "bool", False, section="grafana", help=(
        "with alerting on: the Alertmanager data source also receives Grafana-managed alerts "
        "(jsonData.handleGrafanaManagedAlerts)")),
    Setting("grafana_prune", "bool", True, section="grafana", help=(
        "remove data sources, dashboards, folders and contact points the deploy created "
        "and the settings no longer name (never others)")),
)


def contact_point_uid(cp: dict) -> str:
    if cp.get("uid"):
        return cp["uid"]
    return ("monstack-" + re.sub(r"[^a-z0-9]+", "-", str(cp.get("name", "")).lower())
            .strip("-"))[:40]


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    out = []
    on = values["grafana_alerting_enabled"]
    for key, given in (("grafana_contact_points", values["grafana_contact_points"]),
                       ("grafana_notification_policy", values["grafana_notification_policy"]),
                       ("grafana_message_templates", values["grafana_message_templates"]),
                       ("grafana_alertmanager_external",
                        values["grafana_alertmanager_external"])):
        if given and not on:
            out.append(f"{key} is set but grafana_alerting_enabled is false: turn it on, or "
                       f"leave {key} unset")
    points = values["grafana_contact_points"]
    names, uids = set(), []
    for n, cp in enumerate(points, start=1):
        where = f"grafana_contact_points entry {n}"
        if not isinstance(cp, dict) or not isinstance(cp.get("name"), str) or not cp["name"] \
                or not isinstance(cp.get("type"), str) or not cp["type"]:
            out.append(f"{where}: needs a name and a type (a mapping); got {cp!r}")
            continue
        where = f"grafana_contact_points {cp['name']!r}"
        unknown = set(cp) - {"name", "type", "settings", "uid", "disableResolveMessage"}
        if unknown:
            out.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        uid = contact_point_uid(cp)
        if not UID_RE.fullmatch(uid):
            out.append(f"{where}: uid {uid!r} must be 1-40 letters, digits, - or _")
        uids.append(uid)
        names.add(cp["name"])
        settings = cp.get("settings", {})
        if not isinstance(settings, dict):
            out.append(f"{where}: settings must be a mapping; got {settings!r}")
            continue
        for key, value in settings.items():
            if key in (MARK_KEY, f"{MARK_KEY}_secret"):
                out.append(f"{where}: the setting {MARK_KEY} is the deploy's own")
            elif key.endswith("_secret") and (not isinstance(value, str) or not value):
                out.append(f"{where}: {key} names a secret (its name, a string); got "
                           f"{value!r}")
    twice = sorted({u for u in uids if uids.count(u) > 1})
    if twice:
        out.append(f"grafana_contact_points: uids {', '.join(twice)} are taken twice (give "
                   "each contact point of the same name its own uid)")
    policy = values["grafana_notification_policy"]
    if policy is not None:
        if not policy.get("receiver"):
            out.append("grafana_notification_policy: the root needs a receiver")
        out += route_problems(policy, "grafana_notification_policy",
                              names | {DEFAULT_RECEIVER})
    for name, text in (values["grafana_message_templates"] or {}).items():
        if not isinstance(name, str) or not name.strip() or "/" in name \
                or not isinstance(text, str) or not text.strip():
            out.append(f"grafana_message_templates: {name!r} needs a name (without /) and a "
                       f"template text")
    return out


def route_problems(route, where: str, receivers: set[str]) -> list[str]:
    if not isinstance(route, dict):
        return [f"{where}: a route is a mapping; got {route!r}"]
    out = []
    unknown = set(route) - ROUTE_KEYS
    if unknown:
        out.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (a route has "
                   f"{', '.join(sorted(ROUTE_KEYS))})")
    if route.get("receiver") and route["receiver"] not in receivers:
        out.append(f"{where}: receiver {route['receiver']!r} is no contact point of "
                   f"grafana_contact_points (nor {DEFAULT_RECEIVER})")
    for key in ROUTE_DURATIONS:
        value = route.get(key)
        if value is not None and (not isinstance(value, str) or not DURATION_RE.match(value)
                                  or value == "0"):
            out.append(f"{where}: {key} {value!r} is not a duration like 30s, 5m, 4h")
    for matcher in route.get("object_matchers") or []:
        if not (isinstance(matcher, list) and len(matcher) == 3
                and all(isinstance(m, str) for m in matcher) and matcher[1] in MATCH_OPERATORS):
            out.append(f"{where}: object_matchers takes [label, operator, value] with an "
                       f"operator out of {', '.join(MATCH_OPERATORS)}; got {matcher!r}")
    for n, child in enumerate(route.get("routes") or [], start=1):
        out += route_problems(child, f"{where} routes[{n}]", receivers)
    return out


# -- the plan --------------------------------------------------------------------------------
def model_duration(value: str) -> str:
    """A duration as Grafana answers with it (Prometheus' model.Duration: "300s" -> "5m",
    years and weeks only when they divide it exactly), so the tree compares equal."""
    ms = round(duration_seconds(value) * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in (("y", 31536000000, True), ("w", 604800000, True),
                              ("d", 86400000, False), ("h", 3600000, False),
                              ("m", 60000, False), ("s", 1000, False), ("ms", 1, False)):
        if exact and ms % size:
            continue
        if ms // size:
            out += f"{ms // size}{unit}"
            ms -= ms // size * size
    return out


def policy_tree(route: dict) -> dict:
    out = copy.deepcopy(route)
    for key in ROUTE_DURATIONS:
        if out.get(key):
            out[key] = model_duration(out[key])
    if out.get("routes"):
        out["routes"] = [policy_tree(child) for child in out["routes"]]
    return out


def contact_point(cp: dict) -> dict:
    """One of grafana_contact_points in Grafana's form, secrets read from the store."""
    settings = {}
    for key, value in (cp.get("settings") or {}).items():
        if key.endswith("_secret"):
            key, value = key[: -len("_secret")], secret(value, f"Grafana contact point "
                                                              f"{cp['name']}")
        settings[key] = value
    return {"uid": contact_point_uid(cp), "name": cp["name"], "type": cp["type"],
            "settings": settings,
            "disableResolveMessage": bool(cp.get("disableResolveMessage", False))}


def plan(s, sources: list[dict]) -> dict:
    """The alerting part of the provisioning plan (api.GrafanaClient.provision's keys), and
    the Alertmanager data source made Grafana's external Alertmanager when asked."""
    if not s.grafana_alerting_enabled:
        return {}
    if s.grafana_alertmanager_external:
        am = next((d for d in sources if d["uid"] == "alertmanager"), None)
        if am is None:
            raise SettingsError("grafana_alertmanager_external: there is no Alertmanager in "
                                "the inventory for Grafana to send its alerts to")
        am["jsonData"] = {**(am.get("jsonData") or {}), "handleGrafanaManagedAlerts": True}
    out = {"templates": dict(s.grafana_message_templates or {}),
           "contact_points": [contact_point(cp) for cp in s.grafana_contact_points]}
    if s.grafana_notification_policy:
        out["policy"] = policy_tree(s.grafana_notification_policy)
    return out
