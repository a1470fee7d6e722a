"""Controller-side client for Grafana's HTTP API, used to provision Grafana after deploy.

Every ``ensure_*`` method reads first, compares only the fields we manage, and writes only
when something differs. It returns the action: "created", "updated" or "unchanged", so a
second run sends no write at all. With ``dry_run=True`` the same reads are made and the same
action is returned, but no write is sent.

Grafana semantics this relies on (from the grafana.com HTTP API docs,
https://grafana.com/docs/grafana/latest/developers/http_api/):

* data_source: ``GET/PUT /api/datasources/uid/:uid``, ``POST /api/datasources``. Responses
  never contain ``secureJsonData``; they list the secret keys in ``secureJsonFields``.
* folder: ``GET/PUT /api/folders/:uid`` (PUT takes ``version`` or ``overwrite``; 412 with
  ``status=version-mismatch``), ``POST /api/folders`` (409 when it exists),
  ``POST /api/folders/:uid/move`` with ``parentUid`` ("" = root) to change the parent.
* dashboard: ``GET /api/dashboards/uid/:uid`` returns ``{"dashboard", "meta": {"folderUid"}}``.
  ``POST /api/dashboards/db`` with ``overwrite`` and ``folderUid``; omitting the folder moves
  the dashboard to the root. 412 means version-mismatch or name-exists.
* serviceaccount: ``GET /api/serviceaccounts/search?query=`` matches names that *contain* the
  query; ``POST /api/serviceaccounts`` answers 201; ``POST /api/serviceaccounts/:id/tokens``
  returns the token ``key`` once.
* admin / user: ``PUT /api/admin/users/:id/password`` works only with basic auth as a Grafana
  server admin; ``GET /api/users/lookup?loginOrEmail=`` gives the id.
* other: ``GET /api/health`` -> ``{"database": "ok", ...}``, needs no auth.
* alerting_provisioning (developer-resources/api-reference/http-api/alerting_provisioning):
  contact points ``GET/POST /api/v1/provisioning/contact-points``, ``PUT/DELETE .../:uid``
  (202; GET shows secret settings as "[REDACTED]"); the policy tree ``GET/PUT
  /api/v1/provisioning/policies`` (PUT 202, replaces the one tree); message templates
  ``GET/PUT /api/v1/provisioning/templates/:name`` (PUT ``{"template", "version"}``, 202).
  Writes without the header ``X-Disable-Provenance`` give provenance "api" (read-only in
  Grafana's UI; a later write with the header is refused). We never send it: what the
  deploy provisions is changed through the deploy (alerting_calls.py: templates, tree).
* listing and removal (pruning): see ownership.py.

Grafana 13 (checked in its docs, developer-resources/api-reference/http-api/apis/ and
.../dashboard/ of https://grafana.com/docs/grafana/v13.2/; the grafana/grafana repository
could not be read at tag v13.2.3 here): the legacy ``/api`` routes are deprecated for
``/apis/<group>/<version>/namespaces/default/...`` (dashboard.grafana.app) but stay "fully
accessible and operative", so this client keeps ``/api/dashboards/db``, ``/api/folders``,
``/api/search``; folders keep their uids; what we save is schema v1. A dashboard saved in
schema v2 (from the UI) answers ``GET /api/dashboards/uid/:uid`` with 406 naming the /apis
path (esnet/gdg#467, 12.1+): ensure_dashboard() stops saying so rather than overwrite it,
and pruning leaves it alone.

What the deploy created is marked when written (provision(), for every object of a plan)
and found again for pruning: see ownership.py.
"""

from __future__ import annotations

import copy
import logging
import time
import urllib3
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import quote, urlsplit

import requests

from operations.components.grafana import alerting_calls, ownership
from operations.components.grafana.ownership import (marked_contact_point, marked_dashboard,
                                                     marked_datasource)

log = logging.getLogger(__name__)

from operations.components.grafana.ownership import CREATED, UNCHANGED, UPDATED

# Data source keys that describe the object, not our wishes. They are left out of the
# comparison, and we never send them back.
_DATASOURCE_SERVER_KEYS = {"id", "orgId", "version", "typeLogoUrl", "readOnly", "secureJsonFields"}
# Dashboard keys that Grafana sets on every save (docs: POST sets id/uid/version, GET echoes
# them). Nothing else is added to the stored model, so only these are ignored.
_DASHBOARD_SERVER_KEYS = {"id", "version"}
_DEFAULT_MESSAGE = "provisioned by monstack"
# A policy tree is one object per org: its kind and name in provision()'s results.
POLICY = ("notification_policy", "root")


class GrafanaError(RuntimeError):
    """A Grafana API call failed. The text names method, URL and Grafana's own message."""

    def __init__(self, text: str, *, method: str | None = None, url: str | None = None,
                 status: int | None = None, grafana_message: str | None = None,
                 attempts: int = 1):
        super().__init__(text)
        self.method, self.url, self.status = method, url, status
        self.grafana_message, self.attempts = grafana_message, attempts


class ProvisionError(GrafanaError):
    """provision() stopped at the first failure; ``applied`` holds what was done before it."""

    def __init__(self, text: str, *, applied: list, failed: tuple, cause: GrafanaError):
        super().__init__(text, method=cause.method, url=cause.url, status=cause.status,
                         grafana_message=cause.grafana_message, attempts=cause.attempts)
        self.applied, self.failed = applied, failed


@dataclass
class ServiceAccountToken:
    """Result of ensure_service_account_token. ``key`` is set only when the token is new."""
    action: str
    service_account_id: int | None
    token_id: int | None
    key: str | None = field(default=None, repr=False)


class _BearerAuth(requests.auth.AuthBase):
    # An AuthBase (not a bare header) so requests never swaps in ~/.netrc credentials.
    def __init__(self, token: str):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<bearer token>"


class _NoAuth(requests.auth.AuthBase):
    # Overrides the session's credentials for one request.
    def __call__(self, request):
        return request


class GrafanaClient:
    """One Grafana instance, one identity (basic auth or a service-account token)."""

    def __init__(self, base_url: str, *, basic_auth: tuple[str, str] | None = None,
                 token: str | None = None, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.5, max_backoff: float = 8.0, dry_run: bool = False,
                 session: requests.Session | None = None):
        if (basic_auth is None) == (token is None):
            raise ValueError("give exactly one of basic_auth=(user, password) or token=")
        if urlsplit(base_url).password is not None or "@" in urlsplit(base_url).netloc:
            raise ValueError("base_url must not carry credentials; pass basic_auth instead")
        if retries < 0 or timeout <= 0:
            raise ValueError("retries must be >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.timeout, self.retries, self.dry_run = timeout, retries, dry_run
        self.backoff, self.max_backoff = backoff, max_backoff
        self.session = session or requests.Session()
        self._secrets: set[str] = set()
        self.notes: list[str] = []   # what removals() found and left, in words
        if basic_auth is not None:
            user, password = basic_auth
            self.session.auth = (user, password)
            self.auth_kind = f"basic auth as user '{user}'"
            self._remember_secret(password)
        else:
            self.session.auth = _BearerAuth(token)
            self.auth_kind = "service-account token (bearer)"
            self._remember_secret(token)

    def __repr__(self) -> str:
        return f"GrafanaClient({self.base_url!r}, {self.auth_kind}, dry_run={self.dry_run})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.session.close()

    # ---- secrets never leave through messages or logs ------------------------------------

    def _remember_secret(self, value: Any) -> None:
        # Very short strings would mangle ordinary text when masked, and are not secrets.
        if isinstance(value, str) and len(value) >= 3:
            self._secrets.add(value)

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _fail(self, text: str, **kw) -> GrafanaError:
        return GrafanaError(self._scrub(text), **kw)

    # ---- transport ----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                 ok: Iterable[int] = (200,), allow_404: bool = False) -> tuple[int, Any]:
        """Send one call with bounded retries; return (status, decoded body).

        Retried: refused/reset connections, timeouts and 5xx. Never retried: 4xx, which
        a second try cannot fix (and a 401 retried is a brute-force attempt to Grafana).
        A POST whose answer timed out is not retried either: Grafana may have applied it.
        """
        url = self._url(path)
        attempts = 1 + self.retries
        last_reason = ""
        for attempt in range(1, attempts + 1):
            try:
                resp = self.session.request(method, url, json=json, params=params,
                                            timeout=self.timeout)
            except requests.RequestException as exc:
                last_reason = _describe_transport_error(exc)
                if not _may_retry_transport_error(method, exc):
                    if method == "POST" and isinstance(exc, requests.Timeout):
                        last_reason += " (Grafana may have applied it; run again to reconcile)"
                    break
                if attempt == attempts:
                    break
                self._sleep_before_retry(attempt, method, url, last_reason)
                continue
            if resp.status_code >= 500:
                last_reason = f"HTTP {resp.status_code}: {_grafana_message(resp)}"
                if attempt == attempts:
                    raise self._fail(
                        f"{method} {url} failed after {attempt} attempt(s): {last_reason}",
                        method=method, url=url, status=resp.status_code,
                        grafana_message=_grafana_message(resp), attempts=attempt)
                self._sleep_before_retry(attempt, method, url, last_reason)
                continue
            return self._accept(method, url, resp, ok, allow_404, attempt)
        raise self._fail(f"{method} {url} failed after {attempt} attempt(s): {last_reason}",
                         method=method, url=url, attempts=attempt)

    def _accept(self, method: str, url: str, resp: requests.Response, ok: Iterable[int],
                allow_404: bool, attempt: int) -> tuple[int, Any]:
        status = resp.status_code
        if status in ok or (allow_404 and status == 404):
            return status, _json_or_none(resp)
        message = _grafana_message(resp)
        if status == 401:
            text = (f"{method} {url} -> HTTP 401: authentication failed using {self.auth_kind}"
                    f" (Grafana said: {message})")
        elif status == 403:
            text = (f"{method} {url} -> HTTP 403: {self.auth_kind} is not allowed to do this"
                    f" (Grafana said: {message})")
        else:
            text = f"{method} {url} -> HTTP {status}: {message}"
        raise self._fail(text, method=method, url=url, status=status,
                         grafana_message=message, attempts=attempt)

    def _sleep_before_retry(self, attempt: int, method: str, url: str, reason: str) -> None:
        delay = min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
        log.warning(self._scrub(f"{method} {url}: {reason}; retry {attempt}/{self.retries} "
                                f"in {delay:.2f}s"))
        time.sleep(delay)

    def _get(self, path: str, **kw) -> tuple[int, Any]:
        return self._request("GET", path, **kw)

    def _write(self, method: str, path: str, body: Any, what: str, *,
               ok: Iterable[int] = (200,)) -> Any:
        """Send a write, or only log it in dry-run. Bodies are never logged (secrets)."""
        if self.dry_run:
            log.info(self._scrub(f"dry-run: would {method} {path} ({what})"))
            return None
        log.info(self._scrub(f"{method} {path} ({what})"))
        return self._request(method, path, json=body, ok=ok)[1]

    # ---- health and credentials ---------------------------------------------------------

    def wait_healthy(self, timeout: float = 60.0, interval: float = 1.0) -> dict:
        """Poll GET /api/health until database == "ok"; give up after ``timeout`` seconds."""
        url = self._url("/api/health")
        deadline = time.monotonic() + timeout
        last_state = "no answer yet"
        while True:
            remaining = deadline - time.monotonic()
            try:
                # No credentials: /api/health needs none, and a wrong password sent on
                # every poll would count towards Grafana's failed-login lockout.
                resp = self.session.get(url, auth=_NoAuth(),
                                        timeout=max(0.05, min(self.timeout, remaining)))
                body = _json_or_none(resp)
                if resp.status_code == 200 and isinstance(body, dict) \
                        and body.get("database") == "ok":
                    return body
                last_state = f"HTTP {resp.status_code}, body {str(body)[:200]}"
            except requests.RequestException as exc:
                last_state = _describe_transport_error(exc)
            if time.monotonic() + interval > deadline:
                raise self._fail(f"Grafana at {url} did not become healthy within {timeout:g}s"
                                 f" (last: {last_state})", method="GET", url=url)
            time.sleep(interval)

    def check_credentials(self) -> bool:
        """True if our credentials are accepted, False on 401. Other failures raise.

        Uses GET /api/org, which any authenticated identity may read (docs' own
        basic-auth example). Note: Grafana counts failed logins towards its brute-force
        lockout, so do not call this in a loop with wrong passwords.
        """
        status, _ = self._request("GET", "/api/org", ok=(200, 401))
        return status == 200

    # ---- data sources -------------------------------------------------------------------

    def get_datasource(self, uid: str) -> dict | None:
        status, body = self._get(f"/api/datasources/uid/{_seg(uid)}", allow_404=True)
        return None if status == 404 else body

    def ensure_datasource(self, spec: dict, *, rotate_secrets: bool = False) -> str:
        """Create or update the data source ``spec["uid"]``.

        The fields we manage are the keys present in ``spec`` (normally name, type, url,
        access, isDefault, jsonData). Secrets are different: Grafana never returns
        ``secureJsonData``, only ``secureJsonFields`` (which keys are set). So we compare
        secret *presence*: a missing key triggers an update, a changed value cannot be
        seen. That keeps repeated runs write-free; to push a new secret value, pass
        ``rotate_secrets=True`` (one forced update). Every update we send carries the full
        ``secureJsonData`` from the spec, so an update never drops a secret.
        """
        uid = _require(spec, "uid", "data source")
        _require(spec, "name", "data source")
        for value in (spec.get("secureJsonData") or {}).values():
            self._remember_secret(value)
        current = self.get_datasource(uid)
        if current is None:
            self._write("POST", "/api/datasources", spec, f"create data source uid={uid}")
            return CREATED
        if not rotate_secrets and not _datasource_differs(spec, current):
            return UNCHANGED
        if current.get("readOnly"):
            raise self._fail(f"data source uid={uid} differs from the spec but is read-only in "
                             f"Grafana (provisioned from a file); change it there instead",
                             url=self._url(f"/api/datasources/uid/{_seg(uid)}"))
        body = {k: v for k, v in current.items() if k not in _DATASOURCE_SERVER_KEYS}
        body.update(spec)  # PUT replaces the object: send everything, ours on top.
        self._write("PUT", f"/api/datasources/uid/{_seg(uid)}", body,
                    f"update data source uid={uid}")
        return UPDATED

    # ---- folders ------------------------------------------------------------------------

    def get_folder(self, uid: str) -> dict | None:
        status, body = self._get(f"/api/folders/{_seg(uid)}", allow_404=True)
        return None if status == 404 else body

    def ensure_folder(self, uid: str, title: str, parent_uid: str | None = None) -> str:
        """Create the folder, or fix its title (PUT with version) and parent (move)."""
        current = self.get_folder(uid)
        if current is None:
            body = {"uid": uid, "title": title}
            if parent_uid:
                body["parentUid"] = parent_uid
            self._write("POST", "/api/folders", body, f"create folder uid={uid}")
            return CREATED
        action = UNCHANGED
        if current.get("title") != title:
            # The version we just read: if someone saves in between, Grafana answers 412
            # instead of us silently overwriting their change.
            body = {"title": title, "version": current.get("version")}
            self._write("PUT", f"/api/folders/{_seg(uid)}", body, f"retitle folder uid={uid}")
            action = UPDATED
        if (current.get("parentUid") or None) != (parent_uid or None):
            self._write("POST", f"/api/folders/{_seg(uid)}/move", {"parentUid": parent_uid or ""},
                        f"move folder uid={uid} under {parent_uid or 'the root'}")
            action = UPDATED
        return action

    # ---- dashboards ---------------------------------------------------------------------

    def get_dashboard(self, uid: str) -> dict | None:
        try:
            status, body = self._get(f"/api/dashboards/uid/{_seg(uid)}", allow_404=True)
        except GrafanaError as err:
            if err.status == 406:   # Grafana 13: saved in schema v2, see the docstring
                raise self._fail(f"dashboard uid={uid} is stored in dashboard schema v2 (saved "
                                 f"from Grafana's UI), which this deploy's v1 API cannot read "
                                 f"({err.grafana_message}). Delete it in Grafana, or save it "
                                 f"back as a classic (v1) dashboard, and run again",
                                 method="GET", url=err.url, status=406,
                                 grafana_message=err.grafana_message) from None
            raise
        return None if status == 404 else body

    def ensure_dashboard(self, model: dict, folder_uid: str | None = None, *,
                         message: str = _DEFAULT_MESSAGE) -> str:
        """Save the dashboard model (by its uid) into ``folder_uid`` (None = root) if it
        differs from what Grafana stores, ignoring the id and version Grafana assigns."""
        uid = _require(model, "uid", "dashboard")
        current = self.get_dashboard(uid)
        if current is not None:
            same_model = _without(current.get("dashboard") or {}, _DASHBOARD_SERVER_KEYS) \
                == _without(model, _DASHBOARD_SERVER_KEYS)
            same_folder = ((current.get("meta") or {}).get("folderUid") or "") \
                == (folder_uid or "")
            if same_model and same_folder:
                return UNCHANGED
        dashboard = _without(model, _DASHBOARD_SERVER_KEYS)
        dashboard["id"] = None  # uid identifies it; overwrite=true replaces any stored version
        body = {"dashboard": dashboard, "overwrite": True, "message": message}
        if folder_uid:
            body["folderUid"] = folder_uid   # absent = the root folder (docs)
        verb = "create" if current is None else "update"
        answer = self._write("POST", "/api/dashboards/db", body, f"{verb} dashboard uid={uid}")
        if answer is not None and answer.get("uid") != uid:
            raise self._fail(f"POST {self._url('/api/dashboards/db')} saved dashboard under uid "
                             f"{answer.get('uid')!r}, expected {uid!r}", method="POST",
                             url=self._url("/api/dashboards/db"))
        return CREATED if current is None else UPDATED

    # ---- service accounts ---------------------------------------------------------------

    def find_service_account(self, name: str) -> dict | None:
        """Exact-name lookup; the search endpoint matches substrings, so filter here."""
        page = 1
        while True:
            _, body = self._get("/api/serviceaccounts/search",
                                params={"query": name, "perpage": 100, "page": page})
            accounts = body.get("serviceAccounts") or []
            for account in accounts:
                if account.get("name") == name:
                    return account
            if len(accounts) < 100 or page * 100 >= body.get("totalCount", 0):
                return None
            page += 1

    def ensure_service_account_token(self, name: str, token_name: str, *,
                                     role: str = "Admin",
                                     have_key: bool = True) -> ServiceAccountToken:
        """Make sure service account ``name`` has a token called ``token_name``.

        Grafana shows a token's key only in the create response. So ``key`` is set only
        when the token was created by this call; the caller must persist it at once
        (e.g. a 0600 file on the controller, or a vault) before doing anything else. If
        the key is lost, delete the token in Grafana and run again to get a new one.
        """
        account = self.find_service_account(name)
        if account is None:
            if self.dry_run:
                log.info(f"dry-run: would create service account {name!r} and token "
                         f"{token_name!r}")
                return ServiceAccountToken(CREATED, None, None)
            account = self._write("POST", "/api/serviceaccounts",
                                  {"name": name, "role": role, "isDisabled": False},
                                  f"create service account {name!r}", ok=(200, 201))
        account_id = account["id"]
        _, tokens = self._get(f"/api/serviceaccounts/{account_id}/tokens")
        action = CREATED
        for token in tokens or []:
            if token.get("name") == token_name:
                if have_key:
                    return ServiceAccountToken(UNCHANGED, account_id, token.get("id"))
                # the key of an existing token cannot be read back: replace the token
                action = UPDATED
                self._write("DELETE", f"/api/serviceaccounts/{account_id}/tokens/{token['id']}",
                            None, f"replace token {token_name!r} of {name!r}")
                if self.dry_run:
                    return ServiceAccountToken(UPDATED, account_id, None)
        created = self._write("POST", f"/api/serviceaccounts/{account_id}/tokens",
                              {"name": token_name}, f"create token {token_name!r} for {name!r}")
        if created is None:  # dry run
            return ServiceAccountToken(action, account_id, None)
        self._remember_secret(created.get("key"))
        return ServiceAccountToken(action, account_id, created.get("id"), created.get("key"))

    def _ensure_account(self, spec: dict) -> str:
        """A plan's service account: {name, token_name, have_key, save(key)}; `save`
        receives a new token's key at once (it is shown only in the create response)."""
        result = self.ensure_service_account_token(spec["name"], spec["token_name"],
                                                   have_key=spec.get("have_key", True))
        if result.key and spec.get("save"):
            spec["save"](result.key)
        return result.action

    # ---- admin password -----------------------------------------------------------------

    def lookup_user_id(self, login_or_email: str) -> int:
        _, body = self._get("/api/users/lookup", params={"loginOrEmail": login_or_email})
        return body["id"]

    def set_admin_password(self, user_login: str, new_password: str) -> str:
        """Set ``user_login``'s password (needs basic auth as a Grafana server admin).

        Grafana cannot tell us the current password, so this always writes (or, in
        dry-run, reports "updated"); use ensure_admin_password() to decide whether it is
        needed. After it, this client's own credentials may be stale.
        """
        self._remember_secret(new_password)
        user_id = self.lookup_user_id(user_login)
        self._write("PUT", f"/api/admin/users/{user_id}/password", {"password": new_password},
                    f"set password of user {user_login!r}")
        return UPDATED

    # ---- contact points (alerting provisioning: alerting_calls.py) -------------------------

    def list_contact_points(self) -> list[dict]:
        return alerting_calls.list_contact_points(self)

    def ensure_contact_point(self, spec: dict, *, rotate_secrets: bool = False) -> str:
        return alerting_calls.ensure_contact_point(self, spec, rotate_secrets=rotate_secrets)

    # ---- whole plan ---------------------------------------------------------------------

    def provision(self, plan: dict) -> list[tuple[str, str, str]]:
        """Apply a plan: folders (parents first, in the given order), data sources,
        dashboards, contact points. Returns [(kind, uid, action)].

        plan = {"folders": [{"uid", "title", "parent_uid"?}], "datasources": [spec],
                "dashboards": [{"model": {...}, "folder_uid": ...}],
                "templates": {name: text}, "contact_points": [spec], "policy": tree,
                "service_accounts": [...], "prune": bool, "legacy": {kind: uids}}

        Objects are marked as the deploy's on the way; with ``prune``, what
        ownership.removals() finds is then deleted: ("dashboard", uid, "deleted") etc.

        Stops at the first error with a ProvisionError that lists what was already applied,
        so a partial run is never reported as success.
        """
        steps = [("folder", f["uid"], lambda f=f: self.ensure_folder(
                    f["uid"], f["title"], f.get("parent_uid")))
                 for f in plan.get("folders", [])]
        steps += [("datasource", d["uid"], lambda d=d: self.ensure_datasource(marked_datasource(d)))
                  for d in plan.get("datasources", [])]
        steps += [("dashboard", d["model"]["uid"], lambda d=d: self.ensure_dashboard(
                    marked_dashboard(d["model"]), d.get("folder_uid"),
                    message=d.get("message", _DEFAULT_MESSAGE)))
                  for d in plan.get("dashboards", [])]
        # templates before the contact points using them, those before the tree naming them
        steps += [("template", name, lambda n=name, x=text: alerting_calls.ensure_template(
                    self, n, x))
                  for name, text in (plan.get("templates") or {}).items()]
        steps += [("contact_point", c["uid"], lambda c=c: self.ensure_contact_point(
                    marked_contact_point(c)))
                  for c in plan.get("contact_points", [])]
        if plan.get("policy"):
            steps.append((*POLICY, lambda: alerting_calls.ensure_policy_tree(
                self, plan["policy"])))
        steps += [("service_account", a["name"], lambda a=a: self._ensure_account(a))
                  for a in plan.get("service_accounts", [])]
        # what to remove is decided before anything changes (see removals())
        if plan.get("prune"):
            found, self.notes = ownership.removals(self, plan)
            steps += [(kind, uid, lambda k=kind, u=uid: ownership.delete(self, k, u))
                      for kind, uid in found]
        results: list[tuple[str, str, str]] = []
        for kind, uid, apply in steps:
            try:
                results.append((kind, uid, apply()))
            except GrafanaError as err:
                raise ProvisionError(
                    self._scrub(f"provisioning stopped at {kind} {uid!r}: {err}. Already done "
                                f"before the failure: {_describe_applied(results)}; "
                                f"not attempted: {len(steps) - len(results) - 1} item(s)"),
                    applied=results, failed=(kind, uid), cause=err) from err
        return results


def ensure_admin_password(base_url: str, login: str, new_password: str,
                          old_passwords: Iterable[str], **client_kw) -> str:
    """Make ``login``'s Grafana password ``new_password``.

    "unchanged" if the new password already works (one GET, no write); otherwise the
    first old password that works is used to set it ("updated"); GrafanaError if none
    works. Each wrong try is a failed login to Grafana, so keep ``old_passwords`` short.
    """
    with GrafanaClient(base_url, basic_auth=(login, new_password), **client_kw) as client:
        if client.check_credentials():
            return UNCHANGED
    for old in old_passwords:
        with GrafanaClient(base_url, basic_auth=(login, old), **client_kw) as client:
            if client.check_credentials():
                return client.set_admin_password(login, new_password)
    raise GrafanaError(f"{base_url}: neither the configured nor any old password of user "
                       f"'{login}' is accepted; reset it with 'grafana cli admin "
                       f"reset-admin-password' on the host", url=base_url, status=401)


# ---- helpers (pure) ---------------------------------------------------------------------

def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _require(obj: dict, key: str, what: str) -> Any:
    if not obj.get(key):
        raise ValueError(f"{what} needs a {key!r}")
    return obj[key]


def _without(obj: dict, keys: set) -> dict:
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in keys}


def _datasource_differs(spec: dict, current: dict) -> bool:
    for key, wanted in spec.items():
        if key in ("uid", "secureJsonData"):
            continue
        have = current.get(key)
        if key == "jsonData":
            wanted, have = wanted or {}, have or {}
        if have != wanted:
            return True
    present = {k for k, v in (current.get("secureJsonFields") or {}).items() if v}
    return not set(spec.get("secureJsonData") or {}) <= present


def _describe_applied(results: list) -> str:
    if not results:
        return "nothing"
    return ", ".join(f"{kind} {uid!r} {action}" for kind, uid, action in results)


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _grafana_message(resp: requests.Response) -> str:
    body = _json_or_none(resp)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    text = (resp.text or "").strip()
    return text[:200] if text else resp.reason or "no message"


def _describe_transport_error(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused" if _never_reached_server(exc) else "connection dropped"
    return type(exc).__name__


def _never_reached_server(exc: requests.RequestException) -> bool:
    """True when the request cannot have been received (no TCP connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _may_retry_transport_error(method: str, exc: requests.RequestException) -> bool:
    if not isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return False
    # A POST that got through may have been applied; retrying could create it twice.
    return method != "POST" or _never_reached_server(exc)
