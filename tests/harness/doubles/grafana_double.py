#!/usr/bin/env python3
"""GRAFANA API TEST DOUBLE. This is not Grafana.

An in-memory stand-in for the part of Grafana's HTTP API that operations/components/grafana/api.py
uses, so the client can be tested over real HTTP on 127.0.0.1. It follows the semantics
of the grafana.com HTTP API docs (developers/http_api: data_source, folder, dashboard,
serviceaccount, admin, user, other/health, alerting_provisioning). Where the docs are
silent, the choice made here is marked "double's choice" in a comment.

Listing and removal (folder_dashboard_search, data_source, folder, dashboard docs):
GET /api/search (type, tag, folderUIDs, dashboardUIDs, limit, page), GET /api/datasources,
GET /api/folders (parentUid: one level of nested folders), DELETE /api/datasources/uid/:uid,
DELETE /api/dashboards/uid/:uid, DELETE /api/folders/:uid (takes its dashboards and
subfolders with it; refused while alert rules are in it unless forceDeleteRules=true).

Alerting provisioning (developer-resources/api-reference/http-api/alerting_provisioning):
contact points (POST/PUT answer 202, DELETE 202), the notification policy tree
(GET/PUT/DELETE /api/v1/provisioning/policies, PUT 202, DELETE resets it to the default
tree), message templates (GET list, GET/PUT/DELETE /api/v1/provisioning/templates/:name,
PUT 202 with the stored template and its version, DELETE 204). A fresh Grafana holds the
contact point "grafana-default-email" and a default tree routing to it. Objects written
without the header X-Disable-Provenance carry provenance "api" (read-only in Grafana's UI);
with it (any value: Grafana checks presence), none, and GET then omits the field. A write
taking an object from "api" back to none is refused (double's choice of status: 409).

Grafana 13 (developer-resources/api-reference/http-api/dashboard and apis): a dashboard
saved in schema v2 (seed one with GrafanaState.add_v2_dashboard) is not served by the
legacy GET /api/dashboards/uid/:uid: HTTP 406 naming the /apis/dashboard.grafana.app path
(the message as Grafana 12.1+ sends it, seen in esnet/gdg#467; the version in it is the
double's choice). /api/search still lists it, with its tags.

Test knobs (fault injection):
  * down_for_seconds: the port is bound but not listening, so connections are refused,
    until that many seconds after start().
  * drop_next(n): the next n requests are read and the connection is closed unanswered.
  * fail_next(n, status): the next n requests get that 5xx status.
  * set_delay(seconds, methods): sleep before answering (a slow server).
  * set_health(database): what /api/health reports ("ok" -> 200, anything else -> 503).
  * request log: ``requests`` / ``writes()`` / ``clear_log()`` to assert what was sent
    (bodies as sent, secrets included: it lives in test memory only; auth is logged as
    "basic:<login>" / "bearer" / "none", never the credential).

Plugins: like Grafana, the double loads plugins once, at start, from its plugins folder
(``plugins_dir=``, or ``[paths] plugins`` of ``--config``'s ini): every plugin.json under
it, and answers GET /api/plugins and /api/plugins/<id>/settings from them.

Standalone (standard library only), e.g. as the grafana-server of a test archive:
    python3 tests/harness/doubles/grafana_double.py --port 3000 --admin-password-file F
Unknown arguments (real grafana-server flags) are ignored.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import pickle
import re
import secrets
import signal
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ROLE_RANK = {"Viewer": 1, "Editor": 2, "Admin": 3}
REDACTED = "[REDACTED]"
# Contact point settings Grafana stores encrypted and shows as "[REDACTED]" (per notifier
# type; a short list is enough for tests).
SECURE_CONTACT_SETTINGS = {
    "slack": {"url", "token"},
    "webhook": {"password", "authorization_credentials"},
    "pagerduty": {"integrationKey"},
    "telegram": {"bottoken"},
}
V2_VERSION = "v2beta1"   # double's choice of the version named in the 406 message
DEFAULT_RECEIVER = "grafana-default-email"
DEFAULT_POLICY = {"receiver": DEFAULT_RECEIVER, "group_by": ["grafana_folder", "alertname"],
                  "provenance": ""}
DATASOURCE_DEFAULTS = {
    "access": "proxy", "url": "", "user": "", "database": "", "basicAuth": False,
    "basicAuthUser": "", "withCredentials": False, "isDefault": False, "jsonData": {},
    "readOnly": False, "typeLogoUrl": "",
}


class ApiError(Exception):
    """Answer with ``status`` and a Grafana-style ``{"message": ...}`` body."""

    def __init__(self, code: int, message: str, **extra):
        super().__init__(message)
        self.status, self.body = code, {"message": message, **extra}


@dataclass
class Principal:
    kind: str            # "basic" or "token"
    login: str
    role: str            # org role
    server_admin: bool = False
    disable_provenance: bool = False   # the request carried X-Disable-Provenance


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict
    body: object
    auth: str            # "basic:<login>", "bearer" or "none"; never the secret
    status: int | None = None   # None: connection dropped by a fault knob


@dataclass
class _Faults:
    drop: int = 0
    fail: int = 0
    fail_status: int = 500
    delay: float = 0.0
    delay_methods: set | None = None
    health: str = "ok"


class GrafanaState:
    """The double's data and the API semantics; no HTTP here."""

    def __init__(self, admin_user: str, admin_password: str):
        self.lock = threading.RLock()
        self.ids = iter(range(1, 1_000_000))
        self.users: dict[int, dict] = {}
        self.datasources: dict[str, dict] = {}
        self.datasource_secrets: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.service_accounts: dict[int, dict] = {}
        self.tokens: dict[int, dict] = {}
        self.contact_points: dict[str, dict] = {}
        self.plugins: dict[str, dict] = {}   # id -> plugin.json (+ "_signature"), at start
        self.templates: dict[str, dict] = {}
        self.alert_rules: list[dict] = []   # seeded by tests: {"uid", "title", "folderUID"}
        self.add_user(admin_user, admin_password, role="Admin", server_admin=True)
        # What a fresh Grafana holds (no provenance: editable in the UI). Double's choice of
        # uid; the name and the default tree are Grafana's.
        self.contact_points["default-email"] = {
            "uid": "default-email", "name": DEFAULT_RECEIVER, "type": "email",
            "settings": {"addresses": "<example@email.com>"}, "disableResolveMessage": False,
            "provenance": ""}
        self.policy: dict = copy.deepcopy(DEFAULT_POLICY)

    def next_id(self) -> int:
        return next(self.ids)

    # ---- persistence: Grafana keeps its objects in <[paths] data>/grafana.db ----------------
    # The double keeps them in a SQLite file of that name too (one row per kind of object,
    # pickled), written after every accepted write: a restart, for a plugin or a changed
    # grafana.ini, keeps data sources, dashboards, accounts and alerting as Grafana does.
    # Like Grafana, the admin user comes from the config only at the first start.
    PERSISTED = ("ids", "users", "datasources", "datasource_secrets", "folders", "dashboards",
                 "service_accounts", "tokens", "contact_points", "templates", "alert_rules",
                 "policy")

    # Grafana's own `dashboard` table too, in its columns (pkg/services/sqlstore/migrations/
    # dashboard_mig.go: folders are rows with is_folder = 1; `data` is the model's JSON), so
    # what reads Grafana's database (the backups' dashboard export) reads the real layout.
    # The double itself reads only double_state back.
    DASHBOARD_TABLE = (
        "CREATE TABLE IF NOT EXISTS dashboard (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
        "version INTEGER NOT NULL, slug TEXT NOT NULL, title TEXT NOT NULL, data TEXT NOT NULL, "
        "org_id INTEGER NOT NULL, created DATETIME NOT NULL, updated DATETIME NOT NULL, "
        "updated_by INTEGER NULL, created_by INTEGER NULL, gnet_id INTEGER NULL, "
        "plugin_id TEXT NULL, folder_id INTEGER NOT NULL DEFAULT 0, "
        "is_folder INTEGER NOT NULL DEFAULT 0, has_acl INTEGER NOT NULL DEFAULT 0, "
        "uid TEXT NULL, is_public INTEGER NOT NULL DEFAULT 0, folder_uid TEXT NULL, "
        "deleted DATETIME NULL, api_version TEXT NULL)")

    def dashboard_rows(self) -> list[tuple]:
        """Every folder and dashboard as a row of Grafana's `dashboard` table (org 1)."""
        rows = []
        for uid, f in self.folders.items():
            rows.append((f["id"], 1, slug(f["title"]), f["title"],
                         json.dumps({"title": f["title"], "uid": uid}), 1,
                         f.get("created", ""), f.get("updated", ""), 1, uid,
                         f.get("parentUid") or None, None))
        for uid, d in self.dashboards.items():
            model = d["model"]
            rows.append((model["id"], model["version"], slug(model["title"]), model["title"],
                         json.dumps(model), 1, d["created"], d["updated"], 0, uid,
                         d["folderUid"] or None, d.get("apiVersion")))
        return rows

    def save(self, path: str) -> None:
        with self.lock, sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS double_state "
                       "(name TEXT PRIMARY KEY, value BLOB NOT NULL)")
            db.executemany("INSERT OR REPLACE INTO double_state VALUES (?, ?)",
                           [(name, pickle.dumps(getattr(self, name)))
                            for name in self.PERSISTED])
            db.execute(self.DASHBOARD_TABLE)
            db.execute("DELETE FROM dashboard")
            db.executemany(
                "INSERT INTO dashboard (id, version, slug, title, data, org_id, created, "
                "updated, is_folder, uid, folder_uid, api_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.dashboard_rows())

    def load(self, path: str) -> bool:
        """The objects of an earlier start, if `path` holds them."""
        if not os.path.exists(path):
            return False
        with self.lock, sqlite3.connect(path) as db:
            rows = db.execute("SELECT name, value FROM double_state").fetchall()
        for name, value in rows:
            if name in self.PERSISTED:
                setattr(self, name, pickle.loads(value))
        return bool(rows)

    # ---- users and auth -----------------------------------------------------------------

    def add_user(self, login: str, password: str, *, role: str = "Viewer",
                 server_admin: bool = False) -> int:
        uid = self.next_id()
        self.users[uid] = {"id": uid, "login": login, "email": f"{login}@localhost",
                           "name": login, "password": password, "role": role,
                           "isGrafanaAdmin": server_admin}
        return uid

    def user_by_login(self, login: str) -> dict | None:
        return next((u for u in self.users.values()
                     if login in (u["login"], u["email"])), None)

    def authenticate(self, header: str | None) -> Principal:
        # Messages as Grafana sends them for a missing header, bad basic credentials and a
        # bad token.
        if not header:
            raise ApiError(401, "Unauthorized")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                login, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise ApiError(401, "Invalid Basic Auth Header")
            user = self.user_by_login(login)
            if user is None or user["password"] != password:
                raise ApiError(401, "Invalid username or password")
            return Principal("basic", user["login"], user["role"], user["isGrafanaAdmin"])
        if scheme.lower() == "bearer":
            token = next((t for t in self.tokens.values() if t["key"] == value), None)
            if token is None:
                raise ApiError(401, "Invalid API key")
            account = self.service_accounts[token["serviceAccountId"]]
            return Principal("token", account["login"], account["role"])
        raise ApiError(401, "Unauthorized")

    # ---- data sources -------------------------------------------------------------------

    def datasource_view(self, ds: dict) -> dict:
        view = copy.deepcopy(ds)
        view["secureJsonFields"] = {k: True for k in self.datasource_secrets.get(ds["uid"], {})}
        return view

    def get_datasource(self, uid: str) -> dict:
        if uid not in self.datasources:
            raise ApiError(404, "Data source not found")
        return self.datasource_view(self.datasources[uid])

    def _check_datasource_name_free(self, name: str, own_uid: str | None) -> None:
        if any(d["name"] == name and d["uid"] != own_uid for d in self.datasources.values()):
            raise ApiError(409, "data source with the same name already exists")

    def _apply_default_flag(self, uid: str) -> None:
        # Double's choice (Grafana behaviour, not in the HTTP docs): one default at a time.
        if self.datasources[uid].get("isDefault"):
            for other in self.datasources.values():
                if other["uid"] != uid:
                    other["isDefault"] = False

    def create_datasource(self, body: dict) -> dict:
        for key in ("name", "type"):
            if not body.get(key):
                raise ApiError(400, f"bad request data: {key} is required")
        uid = body.get("uid") or secrets.token_hex(7)
        if uid in self.datasources:
            raise ApiError(409, "data source with the same uid already exists")
        self._check_datasource_name_free(body["name"], None)
        ds = {**copy.deepcopy(DATASOURCE_DEFAULTS), "id": self.next_id(), "uid": uid,
              "orgId": 1, "version": 1}
        ds.update({k: copy.deepcopy(v) for k, v in body.items()
                   if k not in ("id", "uid", "secureJsonData", "secureJsonFields", "version")})
        self.datasources[uid] = ds
        self.datasource_secrets[uid] = dict(body.get("secureJsonData") or {})
        self._apply_default_flag(uid)
        view = self.datasource_view(ds)
        return {"datasource": view, "id": ds["id"], "message": "Datasource added",
                "name": ds["name"]}

    def update_datasource(self, uid: str, body: dict) -> dict:
        if uid not in self.datasources:
            raise ApiError(404, "Data source not found")
        if body.get("name"):
            # Double's choice: same 409 as on create when renaming onto another's name.
            self._check_datasource_name_free(body["name"], uid)
        ds = self.datasources[uid]
        ds.update({k: copy.deepcopy(v) for k, v in body.items()
                   if k not in ("id", "uid", "orgId", "secureJsonData", "secureJsonFields",
                                "version")})
        ds["version"] += 1
        # Keys not sent keep their stored secret (double's choice; the client always sends).
        self.datasource_secrets[uid].update(body.get("secureJsonData") or {})
        self._apply_default_flag(uid)
        return {"datasource": self.datasource_view(ds), "id": ds["id"],
                "message": "Datasource updated", "name": ds["name"]}

    def list_datasources(self) -> list:
        return [self.datasource_view(d) for d in sorted(self.datasources.values(),
                                                        key=lambda d: d["name"].lower())]

    def delete_datasource(self, uid: str) -> dict:
        ds = self.datasources.get(uid)
        if ds is None:
            raise ApiError(404, "Data source not found")
        if ds.get("readOnly"):
            raise ApiError(403, "Cannot delete read-only data source")
        del self.datasources[uid]
        self.datasource_secrets.pop(uid, None)
        return {"message": "Data source deleted", "id": ds["id"]}

    # ---- folders ------------------------------------------------------------------------

    def folder_view(self, folder: dict) -> dict:
        view = {k: v for k, v in folder.items() if k != "parentUid"}
        view["url"] = f"/dashboards/f/{folder['uid']}/{slug(folder['title'])}"
        if folder.get("parentUid"):
            view["parentUid"] = folder["parentUid"]
        return view

    def get_folder(self, uid: str) -> dict:
        if uid not in self.folders:
            raise ApiError(404, "folder not found")
        return self.folder_view(self.folders[uid])

    def create_folder(self, body: dict, who: Principal) -> dict:
        title = (body.get("title") or "").strip()
        if not title:
            raise ApiError(400, "folder title cannot be empty")
        uid = body.get("uid") or secrets.token_hex(7)
        parent = body.get("parentUid") or None
        if parent and parent not in self.folders:
            raise ApiError(400, "parent folder not found")   # double's choice of status
        if uid in self.folders or any(f["title"] == title and f.get("parentUid") == parent
                                      for f in self.folders.values()):
            raise ApiError(409, "a folder with the same name or uid already exists")
        now = now_iso()
        self.folders[uid] = {"id": self.next_id(), "uid": uid, "title": title,
                             "parentUid": parent, "version": 1, "createdBy": who.login,
                             "created": now, "updatedBy": who.login, "updated": now}
        return self.folder_view(self.folders[uid])

    def update_folder(self, uid: str, body: dict, who: Principal) -> dict:
        folder = self.folders.get(uid)
        if folder is None:
            raise ApiError(404, "folder not found")
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            raise ApiError(412, "The folder has been changed by someone else",
                           status="version-mismatch")
        if body.get("title"):
            folder["title"] = body["title"]
        folder.update(version=folder["version"] + 1, updatedBy=who.login, updated=now_iso())
        return self.folder_view(folder)

    def move_folder(self, uid: str, body: dict) -> dict:
        folder = self.folders.get(uid)
        if folder is None:
            raise ApiError(404, "folder not found")
        parent = body.get("parentUid") or None
        if parent and parent not in self.folders:
            raise ApiError(404, "parent folder not found")
        if parent and (parent == uid or uid in self.folder_ancestors(parent)):
            raise ApiError(400, "cannot move a folder under itself")
        folder["parentUid"] = parent
        return self.folder_view(folder)

    def list_folders(self, query: dict) -> list:
        parent = first(query, "parentUid", "") or None
        limit = int(first(query, "limit", "1000"))
        page = int(first(query, "page", "1"))
        found = sorted((f for f in self.folders.values() if f.get("parentUid") == parent),
                       key=lambda f: f["title"].lower())
        out = [{"id": f["id"], "uid": f["uid"], "title": f["title"],
                **({"parentUid": parent} if parent else {})} for f in found]
        return out[(page - 1) * limit: page * limit]

    def folder_tree(self, uid: str) -> list[str]:
        """uid and every folder under it."""
        out = [uid]
        for child in [f["uid"] for f in self.folders.values() if f.get("parentUid") == uid]:
            out += self.folder_tree(child)
        return out

    def delete_folder(self, uid: str, query: dict) -> dict:
        folder = self.folders.get(uid)
        if folder is None:
            raise ApiError(404, "folder not found")
        tree = set(self.folder_tree(uid))
        force = first(query, "forceDeleteRules", "false").lower() == "true"
        if not force and any(r.get("folderUID") in tree for r in self.alert_rules):
            # double's choice of status and words
            raise ApiError(400, "folder cannot be deleted: folder contains alert rules")
        self.alert_rules = [r for r in self.alert_rules if r.get("folderUID") not in tree]
        for dash_uid in [u for u, d in self.dashboards.items() if d["folderUid"] in tree]:
            del self.dashboards[dash_uid]   # Grafana deletes a folder's dashboards with it
        for folder_uid in tree:
            del self.folders[folder_uid]
        return {"title": folder["title"], "message": "Folder deleted", "id": folder["id"]}

    def folder_ancestors(self, uid: str) -> list[str]:
        chain = []
        while (uid := self.folders[uid].get("parentUid")):
            chain.append(uid)
        return chain

    # ---- dashboards ---------------------------------------------------------------------

    def get_dashboard(self, uid: str) -> dict:
        entry = self.dashboards.get(uid)
        if entry is None:
            raise ApiError(404, "Dashboard not found")
        if entry.get("apiVersion") == "v2":
            raise ApiError(406, "dashboard api version not supported, use "
                                f"/apis/dashboard.grafana.app/{V2_VERSION}/namespaces/default/"
                                f"dashboards/{uid} instead")
        model = entry["model"]
        folder = self.folders.get(entry["folderUid"])
        meta = {"url": f"/d/{uid}/{slug(model['title'])}", "slug": slug(model["title"]),
                "folderUid": entry["folderUid"], "folderId": folder["id"] if folder else 0,
                "folderTitle": folder["title"] if folder else "General",
                "version": model["version"], "created": entry["created"],
                "updated": entry["updated"], "canSave": True, "isStarred": False}
        return {"dashboard": copy.deepcopy(model), "meta": meta}

    def save_dashboard(self, body: dict) -> dict:
        dashboard = body.get("dashboard")
        if not isinstance(dashboard, dict) or not (dashboard.get("title") or "").strip():
            raise ApiError(400, "Dashboard title cannot be empty")
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in self.folders:
            raise ApiError(400, "folder not found")   # double's choice of status
        uid = dashboard.get("uid") or secrets.token_hex(7)
        existing = self.dashboards.get(uid)
        if existing and not body.get("overwrite") \
                and dashboard.get("version") != existing["model"]["version"]:
            raise ApiError(412, "The dashboard has been changed by someone else",
                           status="version-mismatch")
        # Older docs: "A dashboard with the same name in the folder already exists". Double's
        # choice: refused even with overwrite (Grafana may instead take the other one over).
        for other_uid, other in self.dashboards.items():
            if other_uid != uid and other["folderUid"] == folder_uid \
                    and other["model"]["title"].lower() == dashboard["title"].lower():
                raise ApiError(412, "A dashboard with the same name in the folder already "
                                    "exists", status="name-exists")
        model = copy.deepcopy(dashboard)
        model.update(id=existing["model"]["id"] if existing else self.next_id(), uid=uid,
                     version=existing["model"]["version"] + 1 if existing else 1)
        now = now_iso()
        self.dashboards[uid] = {"model": model, "folderUid": folder_uid,
                                "created": existing["created"] if existing else now,
                                "updated": now}
        return {"id": model["id"], "uid": uid, "url": f"/d/{uid}/{slug(model['title'])}",
                "status": "success", "version": model["version"], "slug": slug(model["title"])}

    def add_v2_dashboard(self, uid: str, title: str, folder_uid: str = "",
                         tags: list | None = None) -> None:
        """Seed a dashboard as Grafana 13 keeps one saved in schema v2 (from its UI)."""
        now = now_iso()
        self.dashboards[uid] = {"model": {"id": self.next_id(), "uid": uid, "title": title,
                                          "tags": list(tags or []), "version": 1},
                                "folderUid": folder_uid, "created": now, "updated": now,
                                "apiVersion": "v2"}

    def delete_dashboard(self, uid: str) -> dict:
        entry = self.dashboards.get(uid)
        if entry is None:
            raise ApiError(404, "Dashboard not found")
        del self.dashboards[uid]
        title = entry["model"]["title"]
        return {"title": title, "message": f"Dashboard {title} deleted",
                "id": entry["model"]["id"]}

    def search(self, query: dict) -> list:
        kind = first(query, "type", None)
        text = first(query, "query", "").lower()
        tags = set(query.get("tag") or [])
        folders = set(query.get("folderUIDs") or [])
        uids = set(query.get("dashboardUIDs") or [])
        limit = min(int(first(query, "limit", "1000")), 5000)
        page = int(first(query, "page", "1"))
        hits = []
        if kind in (None, "dash-folder") and not tags:
            for f in self.folders.values():
                if text in f["title"].lower() and (not uids or f["uid"] in uids) \
                        and (not folders or (f.get("parentUid") or "general") in folders):
                    hits.append({"id": f["id"], "uid": f["uid"], "title": f["title"],
                                 "uri": f"db/{slug(f['title'])}",
                                 "url": f"/dashboards/f/{f['uid']}/{slug(f['title'])}",
                                 "slug": "", "type": "dash-folder", "tags": [],
                                 "isStarred": False})
        if kind in (None, "dash-db"):
            for uid, entry in self.dashboards.items():
                model = entry["model"]
                folder = self.folders.get(entry["folderUid"])
                if text not in model["title"].lower() or not tags <= set(model.get("tags") or []) \
                        or (uids and uid not in uids) \
                        or (folders and (entry["folderUid"] or "general") not in folders):
                    continue
                hit = {"id": model["id"], "uid": uid, "title": model["title"],
                       "uri": f"db/{slug(model['title'])}",
                       "url": f"/d/{uid}/{slug(model['title'])}", "slug": "",
                       "type": "dash-db", "tags": list(model.get("tags") or []),
                       "isStarred": False}
                if folder:
                    hit.update(folderId=folder["id"], folderUid=folder["uid"],
                               folderTitle=folder["title"],
                               folderUrl=f"/dashboards/f/{folder['uid']}/{slug(folder['title'])}")
                hits.append(hit)
        hits.sort(key=lambda h: h["title"].lower())
        return hits[(page - 1) * limit: page * limit]

    # ---- service accounts ---------------------------------------------------------------

    def search_service_accounts(self, query: dict) -> dict:
        text = first(query, "query", "").lower()
        per_page = int(first(query, "perpage", "1000"))
        page = int(first(query, "page", "1"))
        hits = [self.service_account_view(a) for a in self.service_accounts.values()
                if text in a["name"].lower()]
        return {"totalCount": len(hits), "page": page, "perPage": per_page,
                "serviceAccounts": hits[(page - 1) * per_page: page * per_page]}

    def service_account_view(self, account: dict) -> dict:
        tokens = sum(1 for t in self.tokens.values() if t["serviceAccountId"] == account["id"])
        return {**account, "tokens": tokens}

    def create_service_account(self, body: dict) -> dict:
        name = (body.get("name") or "").strip()
        if not name:
            raise ApiError(400, "required value Name must not be empty")
        if any(a["name"] == name for a in self.service_accounts.values()):
            raise ApiError(400, "service account already exists")   # double's choice
        account = {"id": self.next_id(), "name": name, "login": f"sa-{slug(name)}",
                   "orgId": 1, "isDisabled": bool(body.get("isDisabled")),
                   "role": body.get("role") or "Viewer"}
        self.service_accounts[account["id"]] = account
        return dict(account)

    def account(self, account_id: int) -> dict:
        if account_id not in self.service_accounts:
            raise ApiError(404, "service account not found")
        return self.service_accounts[account_id]

    def list_tokens(self, account_id: int) -> list:
        self.account(account_id)
        return [{"id": t["id"], "name": t["name"], "role": self.account(account_id)["role"],
                 "created": t["created"], "expiration": None, "secondsUntilExpiration": 0,
                 "hasExpired": False}
                for t in self.tokens.values() if t["serviceAccountId"] == account_id]

    def create_token(self, account_id: int, body: dict) -> dict:
        self.account(account_id)
        name = (body.get("name") or "").strip()
        if not name:
            raise ApiError(400, "token name is required")
        if any(t["name"] == name and t["serviceAccountId"] == account_id
               for t in self.tokens.values()):
            raise ApiError(409, "service account token with given name already exists")
        token = {"id": self.next_id(), "name": name, "serviceAccountId": account_id,
                 "key": f"glsa_{secrets.token_urlsafe(24)}", "created": now_iso()}
        self.tokens[token["id"]] = token
        return {"id": token["id"], "name": name, "key": token["key"]}

    def delete_token(self, account_id: int, token_id: int) -> dict:
        # Grafana's route: DELETE /api/serviceaccounts/:serviceAccountId/tokens/:tokenId
        self.account(account_id)
        token = self.tokens.get(token_id)
        if token is None or token["serviceAccountId"] != account_id:
            raise ApiError(404, "service account token not found")
        del self.tokens[token_id]
        return {"message": "Service account token deleted"}

    # ---- users (admin API) --------------------------------------------------------------

    def lookup_user(self, query: dict) -> dict:
        user = self.user_by_login(first(query, "loginOrEmail", ""))
        if user is None:
            raise ApiError(404, "user not found")
        return {k: v for k, v in user.items() if k not in ("password", "role")} | {"orgId": 1}

    def set_password(self, user_id: int, body: dict) -> dict:
        if user_id not in self.users:
            raise ApiError(404, "user not found")
        if not body.get("password"):
            raise ApiError(400, "bad request data: password is required")
        self.users[user_id]["password"] = body["password"]
        return {"message": "User password updated"}

    # ---- contact points -----------------------------------------------------------------

    def contact_point_view(self, cp: dict) -> dict:
        view = without_empty_provenance(copy.deepcopy(cp))
        hidden = SECURE_CONTACT_SETTINGS.get(cp["type"], set())
        view["settings"] = {k: (REDACTED if k in hidden else v)
                            for k, v in cp["settings"].items()}
        return view

    def list_contact_points(self, query: dict) -> list:
        name = first(query, "name", None)
        return [self.contact_point_view(cp) for cp in self.contact_points.values()
                if name is None or cp["name"] == name]

    def _validated_contact_point(self, body: dict, uid: str, old: dict | None) -> dict:
        for key in ("name", "type"):
            if not body.get(key):
                raise ApiError(400, f"invalid contact point: {key} is required")
        if not isinstance(body.get("settings"), dict):
            raise ApiError(400, "invalid contact point: settings are required")
        settings = dict(body["settings"])
        for key, value in settings.items():
            if value == REDACTED and old is not None and key in old["settings"]:
                settings[key] = old["settings"][key]   # "[REDACTED]" sent back keeps the secret
        return {"uid": uid, "name": body["name"], "type": body["type"], "settings": settings,
                "disableResolveMessage": bool(body.get("disableResolveMessage"))}

    def create_contact_point(self, body: dict, who: Principal) -> dict:
        uid = body.get("uid") or secrets.token_hex(7)
        if uid in self.contact_points:
            raise ApiError(400, "a contact point with this uid already exists")  # double's
        self.contact_points[uid] = {**self._validated_contact_point(body, uid, None),
                                    "provenance": provenance(who, None)}
        return self.contact_point_view(self.contact_points[uid])

    def update_contact_point(self, uid: str, body: dict, who: Principal) -> dict:
        old = self.contact_points.get(uid)
        if old is None:
            raise ApiError(404, "contact point not found")   # double's choice (docs: 202/400)
        self.contact_points[uid] = {**self._validated_contact_point(body, uid, old),
                                    "provenance": provenance(who, old)}
        return {"message": "contactpoint updated"}

    def delete_contact_point(self, uid: str, who: Principal) -> dict:
        cp = self.contact_points.get(uid)
        if cp is None:
            return {"message": "contactpoint deleted"}   # double's choice: as if deleted
        provenance(who, cp)
        others = [c for c in self.contact_points.values()
                  if c["name"] == cp["name"] and c["uid"] != uid]
        if not others and cp["name"] in route_receivers(self.policy):
            # double's choice of status; Grafana refuses to remove a receiver still in use
            raise ApiError(409, f"contact point '{cp['name']}' is currently used by a "
                                "notification policy")
        del self.contact_points[uid]
        return {"message": "contactpoint deleted"}

    # ---- notification policy tree --------------------------------------------------------

    def get_policy(self) -> dict:
        return without_empty_provenance(copy.deepcopy(self.policy))

    def put_policy(self, body: dict, who: Principal) -> dict:
        if not isinstance(body, dict) or not body.get("receiver"):
            raise ApiError(400, "invalid object specification: root route must specify a "
                                "default receiver")
        names = {c["name"] for c in self.contact_points.values()}
        for receiver in route_receivers(body):
            if receiver not in names:
                raise ApiError(400, f"invalid object specification: receiver '{receiver}' "
                                    "does not exist")
        try:
            stored = stored_route(body)
        except ValueError as err:
            raise ApiError(400, f"invalid object specification: {err}")
        stored.pop("provenance", None)
        stored["provenance"] = provenance(who, self.policy)
        self.policy = stored
        return {"message": "policies updated"}

    def reset_policy(self, who: Principal) -> dict:
        self.policy = copy.deepcopy(DEFAULT_POLICY)
        return {"message": "policies reset"}

    # ---- message templates --------------------------------------------------------------

    def template_view(self, tmpl: dict) -> dict:
        return without_empty_provenance(copy.deepcopy(tmpl))

    def list_templates(self) -> list:
        # double's choice: [] without templates (some older Grafana answered 404)
        return [self.template_view(t) for t in sorted(self.templates.values(),
                                                      key=lambda t: t["name"])]

    def get_template(self, name: str) -> dict:
        if name not in self.templates:
            raise ApiError(404, "template not found")
        return self.template_view(self.templates[name])

    def put_template(self, name: str, body: dict, who: Principal) -> dict:
        text = body.get("template")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "invalid object specification: template must not be empty")
        if text.count("{{") != text.count("}}"):
            raise ApiError(400, "invalid template: unbalanced action delimiters")  # double's
        old = self.templates.get(name)
        if old is not None and body.get("version") and body["version"] != old["version"]:
            raise ApiError(409, "provided version does not match the current version")
        self.templates[name] = {"name": name, "template": text,
                                "provenance": provenance(who, old),
                                "version": secrets.token_hex(8)}
        return self.template_view(self.templates[name])

    def delete_template(self, name: str, who: Principal) -> None:
        if name in self.templates:
            provenance(who, self.templates[name])
            del self.templates[name]

    # ---- plugins ------------------------------------------------------------------------
    # The shapes of Grafana's PluginListItem and PluginSetting (pkg/api/dtos/plugins.go):
    # only the plugins of the plugins folder are listed, not Grafana's core ones (double's
    # choice); no update check (latestVersion "", hasUpdate false).

    def _plugin_common(self, meta: dict) -> dict:
        plugin_type = meta.get("type", "")
        # Docs: an app plugin is off until enabled (autoEnabled apps aside)
        enabled = plugin_type != "app" or bool(meta.get("autoEnabled"))
        return {"name": meta.get("name", meta["id"]), "type": plugin_type, "id": meta["id"],
                "enabled": enabled, "pinned": enabled and plugin_type == "app",
                "info": copy.deepcopy(meta.get("info") or {}),
                "dependencies": copy.deepcopy(meta.get("dependencies") or {}),
                "latestVersion": "", "hasUpdate": False, "defaultNavUrl": "",
                "state": meta.get("state", ""), "signature": meta["_signature"],
                "signatureType": "", "signatureOrg": ""}

    def list_plugins(self, query: dict) -> list:
        wanted_type = first(query, "type", "")
        return [self._plugin_common(meta) for _, meta in sorted(self.plugins.items())
                if not wanted_type or meta.get("type") == wanted_type]

    def plugin_settings(self, plugin_id: str) -> dict:
        meta = self.plugins.get(plugin_id)
        if meta is None:
            raise ApiError(404, "Plugin not found, no installed plugin with that id")
        return {**self._plugin_common(meta), "module": f"public/plugins/{plugin_id}/module.js",
                "baseUrl": f"public/plugins/{plugin_id}", "includes": meta.get("includes"),
                "jsonData": {}, "secureJsonFields": {}}


def provenance(who: Principal, old: dict | None) -> str:
    """The provenance a write gives an object (``old``: as stored, None when new). A write
    with X-Disable-Provenance on an object that has provenance is refused."""
    new = "" if who.disable_provenance else "api"
    if old is not None and old.get("provenance") and not new:
        raise ApiError(409, f"cannot change provenance from '{old['provenance']}' to ''")
    return new


def without_empty_provenance(obj: dict) -> dict:
    # Grafana's provisioning models carry provenance with omitempty
    if not obj.get("provenance"):
        obj.pop("provenance", None)
    return obj


ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")
DURATION_UNITS = (("y", 31536000000, True), ("w", 604800000, True), ("d", 86400000, False),
                  ("h", 3600000, False), ("m", 60000, False), ("s", 1000, False),
                  ("ms", 1, False))


def model_duration(value: str) -> str:
    """A duration as Grafana keeps and answers with it (Prometheus' model.Duration: parsed,
    then written with the largest units; y and w only when they divide it exactly)."""
    parts = re.findall(r"(\d+)(ms|y|w|d|h|m|s)", value or "")
    if not value or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a valid duration string: {value!r}")
    ms = sum(int(n) * dict((u, size) for u, size, _ in DURATION_UNITS)[u] for n, u in parts)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in DURATION_UNITS:
        if (exact and ms % size) or not ms // size:
            continue
        out += f"{ms // size}{unit}"
        ms -= ms // size * size
    return out


def stored_route(route: dict) -> dict:
    out = copy.deepcopy(route)
    for key in ROUTE_DURATIONS:
        if out.get(key) is not None:
            out[key] = model_duration(out[key])
    out["routes"] = [stored_route(r) for r in out.get("routes") or []] or None
    if out["routes"] is None:
        del out["routes"]
    return out


def route_receivers(route: dict) -> set[str]:
    """Receivers a policy tree names."""
    found = {route["receiver"]} if route.get("receiver") else set()
    for child in route.get("routes") or []:
        found |= route_receivers(child)
    return found


def load_plugins(folder: str | None, allow_unsigned=()) -> dict[str, dict]:
    """The plugins Grafana would load from `folder`: each plugin.json found under it (the
    first one down each branch: nested plugins are not listed, and hidden folders, such as
    a staged `.x.monstack-new`, are skipped: double's choice). A plugin is "valid" when it
    holds a MANIFEST.txt (double's choice: the signature is not checked) and "unsigned"
    otherwise; Grafana's docs: an unsigned plugin is not loaded unless
    [plugins] allow_loading_unsigned_plugins names it. The first of one id wins."""
    found: dict[str, dict] = {}
    if not folder or not os.path.isdir(folder):
        return found
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "plugin.json" not in files:
            continue
        dirs[:] = []
        try:
            with open(os.path.join(root, "plugin.json")) as fh:
                meta = json.load(fh)
        except (OSError, ValueError):
            continue    # Grafana logs and skips a plugin.json it cannot read
        if not isinstance(meta, dict) or not isinstance(meta.get("id"), str):
            continue
        signed = os.path.isfile(os.path.join(root, "MANIFEST.txt"))
        if not signed and meta["id"] not in allow_unsigned:
            continue
        meta["_signature"] = "valid" if signed else "unsigned"
        found.setdefault(meta["id"], meta)
    return found


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def first(query: dict, key: str, default):
    values = query.get(key)
    return values[0] if values else default


# ---- routing ----------------------------------------------------------------------------

# (method, path regex, minimum org role, server admin via basic auth only, handler); each
# handler gets (state, principal, path params, query, JSON body). /api/health is separate.
ROUTES = [
    ("GET", r"/api/org", "Viewer", False, lambda s, w, m, q, b: {"id": 1, "name": "Main Org."}),
    ("GET", r"/api/datasources/uid/(?P<uid>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: s.get_datasource(m["uid"])),
    ("GET", r"/api/datasources", "Admin", False, lambda s, w, m, q, b: s.list_datasources()),
    ("DELETE", r"/api/datasources/uid/(?P<uid>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: s.delete_datasource(m["uid"])),
    ("GET", r"/api/folders", "Viewer", False, lambda s, w, m, q, b: s.list_folders(q)),
    ("DELETE", r"/api/folders/(?P<uid>[^/]+)", "Editor", False,
     lambda s, w, m, q, b: s.delete_folder(m["uid"], q)),
    ("GET", r"/api/search", "Viewer", False, lambda s, w, m, q, b: s.search(q)),
    ("DELETE", r"/api/dashboards/uid/(?P<uid>[^/]+)", "Editor", False,
     lambda s, w, m, q, b: s.delete_dashboard(m["uid"])),
    ("POST", r"/api/datasources", "Admin", False, lambda s, w, m, q, b: s.create_datasource(b)),
    ("PUT", r"/api/datasources/uid/(?P<uid>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: s.update_datasource(m["uid"], b)),
    ("GET", r"/api/folders/(?P<uid>[^/]+)", "Viewer", False,
     lambda s, w, m, q, b: s.get_folder(m["uid"])),
    ("POST", r"/api/folders", "Editor", False, lambda s, w, m, q, b: s.create_folder(b, w)),
    ("PUT", r"/api/folders/(?P<uid>[^/]+)", "Editor", False,
     lambda s, w, m, q, b: s.update_folder(m["uid"], b, w)),
    ("POST", r"/api/folders/(?P<uid>[^/]+)/move", "Editor", False,
     lambda s, w, m, q, b: s.move_folder(m["uid"], b)),
    ("GET", r"/api/dashboards/uid/(?P<uid>[^/]+)", "Viewer", False,
     lambda s, w, m, q, b: s.get_dashboard(m["uid"])),
    ("POST", r"/api/dashboards/db", "Editor", False, lambda s, w, m, q, b: s.save_dashboard(b)),
    ("GET", r"/api/serviceaccounts/search", "Admin", False,
     lambda s, w, m, q, b: s.search_service_accounts(q)),
    ("POST", r"/api/serviceaccounts", "Admin", False,
     lambda s, w, m, q, b: (201, s.create_service_account(b))),
    ("GET", r"/api/serviceaccounts/(?P<id>\d+)/tokens", "Admin", False,
     lambda s, w, m, q, b: s.list_tokens(int(m["id"]))),
    ("POST", r"/api/serviceaccounts/(?P<id>\d+)/tokens", "Admin", False,
     lambda s, w, m, q, b: s.create_token(int(m["id"]), b)),
    ("DELETE", r"/api/serviceaccounts/(?P<id>\d+)/tokens/(?P<token>\d+)", "Admin", False,
     lambda s, w, m, q, b: s.delete_token(int(m["id"]), int(m["token"]))),
    # Docs: user lookup and the admin API need basic auth as a Grafana server admin.
    ("GET", r"/api/users/lookup", "Viewer", True, lambda s, w, m, q, b: s.lookup_user(q)),
    ("PUT", r"/api/admin/users/(?P<id>\d+)/password", "Viewer", True,
     lambda s, w, m, q, b: s.set_password(int(m["id"]), b)),
    ("GET", r"/api/plugins", "Viewer", False, lambda s, w, m, q, b: s.list_plugins(q)),
    ("GET", r"/api/plugins/(?P<id>[^/]+)/settings", "Viewer", False,
     lambda s, w, m, q, b: s.plugin_settings(m["id"])),
    ("GET", r"/api/v1/provisioning/contact-points", "Admin", False,
     lambda s, w, m, q, b: s.list_contact_points(q)),
    ("POST", r"/api/v1/provisioning/contact-points", "Admin", False,
     lambda s, w, m, q, b: (202, s.create_contact_point(b, w))),
    ("PUT", r"/api/v1/provisioning/contact-points/(?P<uid>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: (202, s.update_contact_point(m["uid"], b, w))),
    ("DELETE", r"/api/v1/provisioning/contact-points/(?P<uid>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: (202, s.delete_contact_point(m["uid"], w))),
    ("GET", r"/api/v1/provisioning/policies", "Admin", False,
     lambda s, w, m, q, b: s.get_policy()),
    ("PUT", r"/api/v1/provisioning/policies", "Admin", False,
     lambda s, w, m, q, b: (202, s.put_policy(b, w))),
    ("DELETE", r"/api/v1/provisioning/policies", "Admin", False,
     lambda s, w, m, q, b: (202, s.reset_policy(w))),
    ("GET", r"/api/v1/provisioning/templates", "Admin", False,
     lambda s, w, m, q, b: s.list_templates()),
    ("GET", r"/api/v1/provisioning/templates/(?P<name>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: s.get_template(m["name"])),
    ("PUT", r"/api/v1/provisioning/templates/(?P<name>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: (202, s.put_template(m["name"], b, w))),
    ("DELETE", r"/api/v1/provisioning/templates/(?P<name>[^/]+)", "Admin", False,
     lambda s, w, m, q, b: (204, s.delete_template(m["name"], w))),
    ("GET", r"/api/v1/provisioning/alert-rules", "Admin", False,
     lambda s, w, m, q, b: copy.deepcopy(s.alert_rules)),
]
COMPILED_ROUTES = [(meth, re.compile(rx), role, admin, fn) for meth, rx, role, admin, fn in ROUTES]


def authorize(who: Principal, role: str, server_admin_only: bool) -> None:
    # A simplified model of Grafana's default roles; 403 bodies shaped like Grafana's.
    if server_admin_only and (who.kind != "basic" or not who.server_admin):
        raise ApiError(403, "Permission denied")
    if ROLE_RANK[who.role] < ROLE_RANK[role]:
        raise ApiError(403, "You'll need additional permissions to perform this action.",
                       title="Access denied")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like Grafana; every answer has a length
    server_version = "grafana-api-test-double"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms stalls

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def log_message(self, fmt, *args):
        if self.server.double.verbose:
            sys.stderr.write(f"[grafana-double] {self.address_string()} {fmt % args}\n")

    def _serve(self) -> None:
        double: GrafanaDouble = self.server.double
        split = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        entry = LoggedRequest(self.command, split.path, parse_qs(split.query),
                              _decode(raw), _auth_label(self.headers.get("Authorization")))
        double.record(entry)
        fault = double.take_fault(self.command)
        if fault == "drop":
            self.close_connection = True    # no answer at all: the client sees a reset
            return
        if double.faults.delay and (double.faults.delay_methods is None
                                    or self.command in double.faults.delay_methods):
            time.sleep(double.faults.delay)
        if fault == "fail":
            status, body = double.faults.fail_status, {"message": "Internal Server Error"}
        else:
            status, body = double.dispatch(self.command, split.path, entry.query, raw,
                                           self.headers.get("Authorization"),
                                           "X-Disable-Provenance" in self.headers)
        entry.status = status
        self._answer(status, body)

    def _answer(self, status: int, body) -> None:
        data = b"" if status == 204 else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True    # the client gave up (timeout): nothing to do


def _decode(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _auth_label(header: str | None) -> str:
    if not header:
        return "none"
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            return "basic:" + base64.b64decode(value).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return "basic:?"
    return scheme.lower()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that time out and hang up are expected in fault tests; stay quiet.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class GrafanaDouble:
    """GRAFANA API TEST DOUBLE on 127.0.0.1 in a background thread. Not Grafana."""

    def __init__(self, *, admin_user: str = "admin", admin_password: str = "admin",
                 host: str = "127.0.0.1", port: int = 0, down_for_seconds: float = 0.0,
                 verbose: bool = False, plugins_dir: str | None = None,
                 allow_unsigned_plugins=(), state_file: str | None = None):
        self.state = GrafanaState(admin_user, admin_password)
        self.state_file = state_file   # None: objects live in memory only (unit tests)
        self.plugins_dir, self.allow_unsigned_plugins = plugins_dir, tuple(allow_unsigned_plugins)
        self.faults = _Faults()
        self.verbose = verbose
        self.down_for_seconds = down_for_seconds
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._serving = threading.Event()
        self._lifecycle = threading.Lock()
        self._server = _Server((host, port), _Handler, bind_and_activate=False)
        self._server.double = self
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def start(self) -> "GrafanaDouble":
        # Bind now (the port is ours and known), listen later: until listen(), connecting
        # to a bound-only TCP socket is refused, which is what "Grafana still down" looks like.
        self._server.server_bind()
        if self.state_file:
            self.state.load(self.state_file)
        # as Grafana: plugins are read once, at start
        self.state.plugins = load_plugins(self.plugins_dir, self.allow_unsigned_plugins)
        if self.down_for_seconds <= 0:
            self._activate()    # listening before start() returns: no startup race
        self._thread = threading.Thread(target=self._run, name="grafana-double", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        if self.down_for_seconds > 0 and self._stopping.wait(self.down_for_seconds):
            return
        if not self._activate():
            return
        self._server.serve_forever(poll_interval=0.05)

    def _activate(self) -> bool:
        with self._lifecycle:
            if self._stopping.is_set():
                return False
            if not self._serving.is_set():
                self._server.server_activate()
                self._serving.set()
            return True

    def stop(self) -> None:
        with self._lifecycle:
            self._stopping.set()
            serving = self._serving.is_set()
        if serving:
            # Safe even if serve_forever has not started yet: it then exits at once.
            self._server.shutdown()
        if self._thread:
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- fault knobs --------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self.faults.fail, self.faults.fail_status = count, status

    def drop_next(self, count: int) -> None:
        with self._lock:
            self.faults.drop = count

    def set_delay(self, seconds: float, methods: set | None = None) -> None:
        with self._lock:
            self.faults.delay, self.faults.delay_methods = seconds, methods

    def set_health(self, database: str) -> None:
        self.faults.health = database

    def take_fault(self, method: str) -> str | None:
        with self._lock:
            if self.faults.drop > 0:
                self.faults.drop -= 1
                return "drop"
            if self.faults.fail > 0:
                self.faults.fail -= 1
                return "fail"
        return None

    # ---- request log --------------------------------------------------------------------

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ---- API ----------------------------------------------------------------------------

    def health_body(self):
        body = {"commit": "test-double", "database": self.faults.health,
                "version": "0.0.0-test-double"}
        return (200 if self.faults.health == "ok" else 503), body

    def dispatch(self, method: str, path: str, query: dict, raw: bytes, auth: str | None,
                 disable_provenance: bool = False):
        if method == "GET" and path == "/api/health":    # the one call without auth
            return self.health_body()
        route = next(((role, admin, fn, m) for meth, rx, role, admin, fn in COMPILED_ROUTES
                      if meth == method and (m := rx.fullmatch(path))), None)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return 400, {"message": "bad request data"}
        try:
            with self.state.lock:
                who = self.state.authenticate(auth)
                who.disable_provenance = disable_provenance
                if route is None:
                    raise ApiError(404, "Not found")
                role, admin_only, fn, match = route
                authorize(who, role, admin_only)
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                result = fn(self.state, who, params, query, body)
                if method != "GET" and self.state_file:
                    self.state.save(self.state_file)
        except ApiError as err:
            return err.status, err.body
        return result if isinstance(result, tuple) else (200, result)


def _read_password(args) -> str:
    if args.admin_password_file:
        with open(args.admin_password_file) as fh:
            return fh.read().rstrip("\r\n")
    return args.admin_password or os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "admin")


def _plugins_config(config: str | None) -> tuple[str | None, list[str]]:
    """[paths] plugins of a grafana.ini (Grafana's default: <[paths] data>/plugins) and
    [plugins] allow_loading_unsigned_plugins (comma-separated ids)."""
    if not config:
        return None, []
    import configparser
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    ini.read(config)
    data = ini.get("paths", "data", fallback="data")
    folder = ini.get("paths", "plugins", fallback="") or os.path.join(data, "plugins")
    allowed = ini.get("plugins", "allow_loading_unsigned_plugins", fallback="")
    return folder, [p.strip() for p in allowed.split(",") if p.strip()]


def _state_file(config: str | None) -> str | None:
    """<[paths] data>/grafana.db of a grafana.ini, where Grafana keeps its database."""
    if not config:
        return None
    import configparser
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    ini.read(config)
    return os.path.join(ini.get("paths", "data", fallback="data"), "grafana.db")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GRAFANA API TEST DOUBLE (not Grafana)")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--admin-user", default=os.environ.get("GF_SECURITY_ADMIN_USER", "admin"))
    parser.add_argument("--admin-password")
    parser.add_argument("--admin-password-file")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--config", help="grafana.ini: its [paths] plugins folder is read")
    args, _ignored = parser.parse_known_args(argv)   # real grafana-server flags are ignored
    plugins_dir, allow_unsigned = _plugins_config(args.config)
    double = GrafanaDouble(admin_user=args.admin_user, admin_password=_read_password(args),
                           host=args.host, port=args.port, verbose=args.verbose,
                           plugins_dir=plugins_dir, allow_unsigned_plugins=allow_unsigned,
                           state_file=_state_file(args.config))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    double.start()
    print(f"GRAFANA API TEST DOUBLE (not Grafana) listening on {double.url}", flush=True)
    done.wait()
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
