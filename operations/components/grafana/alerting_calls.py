"""Grafana's alerting provisioning calls: contact points, message templates and the
notification policy tree (api.py's GrafanaClient.provision() applies them, through the
client's transport). Reads first, compares, writes only what differs (see api.py's
docstring for the API)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from operations.components.grafana.ownership import CREATED, UNCHANGED, UPDATED, policy_tree

# Contact point GETs show each secret setting as this string.
_REDACTED = "[REDACTED]"


def list_contact_points(client) -> list[dict]:
    _, body = client._get("/api/v1/provisioning/contact-points")
    return body or []

def ensure_contact_point(client, spec: dict, *, rotate_secrets: bool = False) -> str:
    """Create or update contact point ``spec["uid"]`` (name, type, settings,
    disableResolveMessage). Secret settings come back as "[REDACTED]", so as with data
    sources only their presence is compared; ``rotate_secrets=True`` forces a PUT."""
    uid = spec.get("uid")
    if not uid:
        raise ValueError("contact point needs a 'uid'")
    for value in (spec.get("settings") or {}).values():
        client._remember_secret(value)
    current = next((cp for cp in list_contact_points(client) if cp.get("uid") == uid), None)
    if current is None:
        client._write("POST", "/api/v1/provisioning/contact-points", spec,
                    f"create contact point uid={uid}", ok=(200, 202))
        return CREATED
    if not rotate_secrets and not _contact_point_differs(spec, current):
        return UNCHANGED
    client._write("PUT", f"/api/v1/provisioning/contact-points/{quote(uid, safe='')}", spec,
                f"update contact point uid={uid}", ok=(200, 202))
    return UPDATED


def get_template(client, name: str) -> dict | None:
    status, body = client._get(f"/api/v1/provisioning/templates/{quote(name, safe='')}",
                             allow_404=True)
    return None if status == 404 else body

def ensure_template(client, name: str, template: str) -> str:
    """Message template (group) ``name`` with the text ``template``."""
    current = get_template(client, name)
    if current is not None and current.get("template") == template:
        return UNCHANGED
    body = {"template": template}
    if current is not None and current.get("version"):
        body["version"] = current["version"]   # 409 if someone saved in between
    verb = "create" if current is None else "update"
    client._write("PUT", f"/api/v1/provisioning/templates/{quote(name, safe='')}", body,
                f"{verb} message template {name!r}", ok=(200, 202))
    return CREATED if current is None else UPDATED

def ensure_policy_tree(client, tree: dict) -> str:
    """The notification policy tree (there is one; PUT replaces it whole)."""
    if _route_normal(policy_tree(client)) == _route_normal(tree):
        return UNCHANGED
    client._write("PUT", "/api/v1/provisioning/policies", tree,
                "replace the notification policy tree", ok=(200, 202))
    return UPDATED


def _route_normal(route: Any) -> Any:
    """A policy tree as compared: Grafana's provenance and empty fields left out (Grafana
    leaves out what is unset when it answers; what we send unset is the same)."""
    if isinstance(route, dict):
        return {k: _route_normal(v) for k, v in route.items()
                if k != "provenance" and v not in (None, "", [], {}, False)}
    if isinstance(route, list):
        return [_route_normal(v) for v in route]
    return route


def _contact_point_differs(spec: dict, current: dict) -> bool:
    for key in ("name", "type"):
        if spec.get(key) != current.get(key):
            return True
    if bool(spec.get("disableResolveMessage")) != bool(current.get("disableResolveMessage")):
        return True
    wanted, have = spec.get("settings") or {}, current.get("settings") or {}
    if set(wanted) != set(have):
        return True
    return any(have[k] != v and have[k] != _REDACTED for k, v in wanted.items())
