"""What in Grafana the deploy created: how it is marked when written (api.py's provision()
marks every object of a plan), and what the deploy then removes when the settings no
longer name it (pruning), with the calls it takes (through api.GrafanaClient's transport):
``GET /api/search?type=dash-db`` (hits carry uid, tags and folderUid), ``GET
/api/datasources`` (with jsonData), ``GET /api/folders`` (one level; ``parentUid`` for a
folder's children), ``GET /api/v1/provisioning/alert-rules`` (folderUID of each rule), and
``DELETE /api/dashboards/uid/:uid``, ``DELETE /api/datasources/uid/:uid``, ``DELETE
/api/folders/:uid?forceDeleteRules=false`` (Grafana deletes the folder's dashboards and
subfolders with it; with alert rules in it the call fails instead), ``DELETE
/api/v1/provisioning/contact-points/:uid`` (docs: folder_dashboard_search, data_source,
folder, dashboard, alerting_provisioning).

Objects are marked in what Grafana keeps and returns, and bound to the object's uid so that
a copy someone makes in the UI ("Save as", "Duplicate") is not ours:
* dashboards: the tag "monstack" (so /api/search?tag=monstack finds candidates) and the
  model key ``monstackManaged: <uid>`` (read back with GET; a copy carries the old uid);
* data sources: ``jsonData.monstackManaged: <uid>`` (GET /api/datasources lists jsonData);
* contact points: the setting ``monstackManaged: "<uid>:<fingerprint>"`` (non-secret
  settings come back as stored), the fingerprint being a bcrypt-slowed digest of all its
  settings, secrets included: Grafana shows secrets only as "[REDACTED]", so a changed
  fingerprint is how a changed secret is seen, and re-sent; an unchanged one is not;
* folders: Grafana keeps no free field of a folder that its list returns, so a folder is
  ours by its uid: "monstack" or "monstack-*" (a plan's folders use such uids).

Upgrades: objects that earlier monstack versions created carry no marker; the plan names
those still counted as ours (``plan["legacy"]``, see provisioning.legacy()). The first run
after an upgrade updates every object it names once, marking it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from urllib.parse import quote

# What a call did to an object (GrafanaClient's ensure_* and deletes).
CREATED, UPDATED, UNCHANGED, DELETED = "created", "updated", "unchanged", "deleted"
# What marks an object the deploy created.
MARK_KEY = "monstackManaged"
MARK_TAG = "monstack"
FOLDER_MARK = "monstack"


def marked_datasource(spec: dict) -> dict:
    out = copy.deepcopy(spec)
    out["jsonData"] = {**(out.get("jsonData") or {}), MARK_KEY: out["uid"]}
    return out


def marked_dashboard(model: dict) -> dict:
    out = copy.deepcopy(model)
    tags = list(out.get("tags") or [])
    out["tags"] = tags if MARK_TAG in tags else tags + [MARK_TAG]
    out[MARK_KEY] = out["uid"]
    return out


def marked_contact_point(spec: dict) -> dict:
    out = copy.deepcopy(spec)
    settings = {k: v for k, v in (out.get("settings") or {}).items() if k != MARK_KEY}
    settings[MARK_KEY] = f"{out['uid']}:{settings_fingerprint(out['uid'], settings)}"
    out["settings"] = settings
    return out


def settings_fingerprint(uid: str, settings: dict) -> str:
    """16 hex digits that change with any setting, secrets included. The digest goes
    through bcrypt (a salt from the uid), so it is no fast test of guessed secrets."""
    from operations.base.tls_auth import bcrypt_hash
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(bcrypt_hash(digest, "grafana contact point", uid).encode()
                          ).hexdigest()[:16]


def _our_contact_point(cp: dict) -> bool:
    mark = (cp.get("settings") or {}).get(MARK_KEY)
    return isinstance(mark, str) and mark.startswith(f"{cp.get('uid')}:")


def _our_folder(uid: str) -> bool:
    return uid == FOLDER_MARK or uid.startswith(f"{FOLDER_MARK}-")


def _route_receivers(route: dict) -> set[str]:
    found = {route["receiver"]} if route.get("receiver") else set()
    for child in route.get("routes") or []:
        found |= _route_receivers(child)
    return found


def removals(client, plan: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """What the deploy created and ``plan`` no longer names: [(kind, uid)] in the order
    they are to be deleted (dashboards, folders, data sources, contact points). Only
    reads. Decided from Grafana as it is before the plan is applied and from the plan
    itself, so a dry run and the real run decide alike. What is left although the
    plan no longer names it is said in the second list, in words.

    ``plan["legacy"]``: {kind: uids} counted as ours without a marker (objects that
    earlier monstack versions created before there were markers).
    """
    notes: list[str] = []
    legacy = plan.get("legacy") or {}
    wanted_folders = {f["uid"] for f in plan.get("folders", [])}
    wanted_dashboards = {d["model"]["uid"]: d.get("folder_uid") or ""
                         for d in plan.get("dashboards", [])}
    out: list[tuple[str, str]] = []

    hits = search_dashboards(client)
    gone = set()
    for hit in hits:
        uid = hit.get("uid")
        if uid in wanted_dashboards or not _our_dashboard(client, hit, legacy, notes):
            continue
        gone.add(uid)
        out.append(("dashboard", uid))

    rules = list_alert_rules(client)
    for folder in _our_folders(client):
        uid = folder["uid"]
        if uid in wanted_folders or uid in wanted_dashboards.values():
            continue
        why = _folder_keeps(client, uid, hits, gone, wanted_dashboards, wanted_folders, rules)
        if why:
            notes.append(f"folder {uid} is not in the settings any more but is left: {why}")
            continue
        out.append(("folder", uid))

    wanted_sources = {d["uid"] for d in plan.get("datasources", [])}
    for ds in list_datasources(client):
        uid = ds.get("uid")
        if uid in wanted_sources:
            continue
        ours = (ds.get("jsonData") or {}).get(MARK_KEY) == uid \
            or uid in legacy.get("datasource", ())
        if ours and ds.get("readOnly"):
            notes.append(f"data source {uid} is left: provisioned from a file")
        elif ours:
            out.append(("datasource", uid))

    wanted_points = {c["uid"] for c in plan.get("contact_points", [])}
    points = client.list_contact_points()
    # the tree after this run: the plan's, else Grafana's as it is
    tree = plan.get("policy") or (policy_tree(client) if points else {})
    used = _route_receivers(tree or {})
    kept_names = {c["name"] for c in plan.get("contact_points", [])} | {
        c.get("name") for c in points if not _our_contact_point(c)}
    for cp in points:
        uid = cp.get("uid")
        if uid in wanted_points or not _our_contact_point(cp):
            continue
        if cp.get("name") in used and cp.get("name") not in kept_names:
            notes.append(f"contact point {uid} is left: the notification policy "
                         f"tree still routes to {cp.get('name')!r}")
            continue
        out.append(("contact_point", uid))
    return out, notes


def _our_dashboard(client, hit: dict, legacy: dict, notes: list) -> bool:
    uid = hit.get("uid")
    if uid in legacy.get("dashboard", ()):
        return True
    if MARK_TAG not in (hit.get("tags") or []):
        return False
    model = dashboard_model(client, uid)
    if model is None:
        notes.append(f"dashboard {uid} is left: saved in schema v2, its marker cannot be "
                     "read through the v1 API")
        return False
    return model.get(MARK_KEY) == uid


def _our_folders(client) -> list[dict]:
    """Our folders, children before their parents (each is deleted before its
    parent); our folders nested under ours are looked for, not under others'."""
    out = []

    def walk(folders):
        for folder in folders:
            if _our_folder(folder.get("uid", "")):
                walk(list_folders(client, folder["uid"]))
                out.append(folder)

    walk(list_folders(client))
    return out


def _folder_keeps(client, uid: str, hits: list, gone: set, wanted: dict,
                  wanted_folders: set, rules: list) -> str:
    """Why folder ``uid`` must stay ("" when it may go)."""
    others = sorted(h["uid"] for h in hits if h.get("folderUid") == uid
                    and h["uid"] not in gone and wanted.get(h["uid"], uid) == uid)
    if others:
        return f"it holds dashboards the deploy did not create: {', '.join(others)}"
    children = [f["uid"] for f in list_folders(client, uid)]
    foreign = sorted(c for c in children if not _our_folder(c))
    if foreign:
        return f"it holds folders the deploy did not create: {', '.join(foreign)}"
    for child in children:   # ours, but kept: then so is this one
        if child in wanted_folders or child in wanted.values():
            return f"its folder {child} is in the settings"
        if _folder_keeps(client, child, hits, gone, wanted, wanted_folders, rules):
            return f"its folder {child} is left"
    if any(r.get("folderUID") == uid for r in rules):
        return "it holds alert rules"
    return ""


# -- the calls (through api.GrafanaClient's transport) -------------------------------------------
def policy_tree(client) -> dict:
    _, body = client._get("/api/v1/provisioning/policies")
    return body or {}


def dashboard_model(client, uid: str) -> dict | None:
    """The stored model of an existing dashboard; None when it is saved in schema v2
    (Grafana 13 answers 406 to the v1 API then)."""
    status, body = client._request("GET", f"/api/dashboards/uid/{quote(uid, safe='')}",
                                   ok=(200, 406))
    return None if status == 406 else (body or {}).get("dashboard") or {}


def list_datasources(client) -> list[dict]:
    _, body = client._get("/api/datasources")
    return body or []


def _every_page(client, path: str, limit: int, params: dict) -> list[dict]:
    """Every item of one of Grafana's paged lists, asked for `limit` to a page."""
    found, page = [], 1
    while True:
        _, body = client._get(path, params={**params, "limit": limit, "page": page})
        found += body or []
        if len(body or []) < limit:
            return found
        page += 1


def search_dashboards(client, **params) -> list[dict]:
    """Every dashboard hit of /api/search (paged), filtered by ``params``."""
    return _every_page(client, "/api/search", 5000, {"type": "dash-db", **params})


def list_folders(client, parent_uid: str | None = None) -> list[dict]:
    return _every_page(client, "/api/folders", 1000,
                       {"parentUid": parent_uid} if parent_uid else {})


def list_alert_rules(client) -> list[dict]:
    _, body = client._get("/api/v1/provisioning/alert-rules")
    return body or []


# kind -> the path its DELETE goes to ({uid}: quoted), what the log calls it, the statuses
# that answer it
_DELETE = {
    "dashboard": ("/api/dashboards/uid/{uid}", "dashboard", (200,)),
    # forceDeleteRules=false: Grafana refuses instead of deleting alert rules in it
    "folder": ("/api/folders/{uid}?forceDeleteRules=false", "folder", (200,)),
    "datasource": ("/api/datasources/uid/{uid}", "data source", (200,)),
    "contact_point": ("/api/v1/provisioning/contact-points/{uid}", "contact point",
                      (200, 202, 204)),
}


def delete(client, kind: str, uid: str) -> str:
    path, what, ok = _DELETE[kind]
    client._write("DELETE", path.format(uid=quote(uid, safe="")), None,
                  f"delete {what} uid={uid}", ok=ok)
    return DELETED
