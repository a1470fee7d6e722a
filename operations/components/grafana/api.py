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
* alerting_provisioning: contact points through ``GET/POST /api/v1/provisioning/contact-points``
  and ``PUT/DELETE .../:uid``; POST, PUT and DELETE answer 202. GET shows secret settings as
  "[REDACTED]". The notification policy tree: ``GET/PUT /api/v1/provisioning/policies``
  (PUT 202; one tree per org, replaced whole). Message templates:
  ``GET/PUT /api/v1/provisioning/templates/:name`` (PUT takes ``{"template", "version"}``,
  answers 202; 404 for a name not there). Writes without the header ``X-Disable-Provenance``
  give the object provenance "api": Grafana's UI then shows it read-only, and a later write
  with the header (taking it back to no provenance) is refused. We never send the header:
  what the deploy provisions is changed through the deploy.
  https://grafana.com/docs/grafana/latest/developer-resources/api-reference/http-api/alerting_provisioning/
* listing and removal (pruning): ``GET /api/search?type=dash-db`` (hits carry uid, tags and
  folderUid), ``GET /api/datasources`` (with jsonData), ``GET /api/folders`` (one level;
  ``parentUid`` for a folder's children), ``GET /api/v1/provisioning/alert-rules``
  (folderUID of each rule), and ``DELETE /api/dashboards/uid/:uid``,
  ``DELETE /api/datasources/uid/:uid``, ``DELETE /api/folders/:uid?forceDeleteRules=false``
  (Grafana deletes the folder's dashboards and subfolders with it; with alert rules in it
  the call fails instead), ``DELETE /api/v1/provisioning/contact-points/:uid``.

Grafana 13 (checked against the docs for 13.x, since the grafana/grafana repository could
not be read at tag v13.2.3 here):
https://grafana.com/docs/grafana/v13.2/developer-resources/api-reference/http-api/apis/ and
https://grafana.com/docs/grafana/v13.2/developer-resources/api-reference/http-api/dashboard/
say Grafana 13 deprecates the legacy ``/api`` routes in favour of
``/apis/<group>/<version>/namespaces/<namespace>/...`` (``dashboard.grafana.app``,
namespace ``default`` for org 1) but keeps them "fully accessible and operative", so this
client stays on ``/api/dashboards/db``, ``/api/folders`` and ``/api/search``; folders keep
their uids. Dashboards we save there are schema v1 (classic JSON). A dashboard someone saved
in schema v2 (Grafana 13's dynamic dashboards) is not served by ``GET
/api/dashboards/uid/:uid``: Grafana answers 406 naming the ``/apis/dashboard.grafana.app``
path (seen from 12.1 on, esnet/gdg#467). ensure_dashboard() then stops with that said,
rather than overwrite a v2 model through the v1 API, and pruning leaves such a dashboard
alone (its marker cannot be read).

What the deploy created is marked when written (provision(), for every object of a plan),
in what Grafana keeps and returns, and bound to the object's uid so that a copy someone
makes in the UI ("Save as", "Duplicate") is not ours:
* dashboards: the tag "monstack" (so /api/search?tag=monstack finds candidates) and the
  model key ``monstackManaged: <uid>`` (read back with GET; a copy carries the old uid);
* data sources: ``jsonData.monstackManaged: <uid>`` (GET /api/datasources lists jsonData);
* contact points: the setting ``monstackManaged: "<uid>:<fingerprint>"`` (non-secret
  settings come back as stored), the fingerprint being a bcrypt-slowed digest of all its
  settings, secrets included: Grafana shows secrets only as "[REDACTED]", so a changed
  fingerprint is how a changed secret is seen, and re-sent; an unchanged one is not;
* folders: Grafana keeps no free field of a folder that its list returns, so a folder is
  ours by its uid: "monstack" or "monstack-*" (a plan's folders use such uids).
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

log = logging.getLogger(__name__)

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"

# Data source keys that describe the object, not our wishes. They are left out of the
# comparison, and we never send them back.
_DATASOURCE_SERVER_KEYS = {"id", "orgId", "version", "typeLogoUrl", "readOnly", "secureJsonFields"}
# Dashboard keys that Grafana sets on every save (docs: POST sets id/uid/version, GET echoes
# them). Nothing else is added to the stored model, so only these are ignored.
_DASHBOARD_SERVER_KEYS = {"id", "version"}
# Contact point GETs show each secret setting as this string.
_REDACTED = "[REDACTED]"
_DEFAULT_MESSAGE = "provisioned by monstack"
# What marks an object the deploy created (see the module's docstring).
MARK_KEY = "monstackManaged"
MARK_TAG = "monstack"
FOLDER_MARK = "monstack"
DELETED = "deleted"
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
                raise self._fail(
                    f"dashboard uid={uid} is stored in Grafana's dashboard schema v2 (saved "
                    f"from Grafana's UI), which the v1 API this deploy writes cannot read "
                    f"(Grafana said: {err.grafana_message}). Delete it in Grafana, or save it "
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

    # ---- contact points (alerting provisioning) -----------------------------------------

    def list_contact_points(self) -> list[dict]:
        _, body = self._get("/api/v1/provisioning/contact-points")
        return body or []

    def ensure_contact_point(self, spec: dict, *, rotate_secrets: bool = False) -> str:
        """Create or update contact point ``spec["uid"]`` (name, type, settings,
        disableResolveMessage). Secret settings come back as "[REDACTED]", so as with data
        sources only their presence is compared; ``rotate_secrets=True`` forces a PUT."""
        uid = _require(spec, "uid", "contact point")
        for value in (spec.get("settings") or {}).values():
            self._remember_secret(value)
        current = next((cp for cp in self.list_contact_points() if cp.get("uid") == uid), None)
        if current is None:
            self._write("POST", "/api/v1/provisioning/contact-points", spec,
                        f"create contact point uid={uid}", ok=(200, 202))
            return CREATED
        if not rotate_secrets and not _contact_point_differs(spec, current):
            return UNCHANGED
        self._write("PUT", f"/api/v1/provisioning/contact-points/{_seg(uid)}", spec,
                    f"update contact point uid={uid}", ok=(200, 202))
        return UPDATED

    # ---- message templates and the notification policy tree -----------------------------

    def get_template(self, name: str) -> dict | None:
        status, body = self._get(f"/api/v1/provisioning/templates/{_seg(name)}",
                                 allow_404=True)
        return None if status == 404 else body

    def ensure_template(self, name: str, template: str) -> str:
        """Message template (group) ``name`` with the text ``template``."""
        current = self.get_template(name)
        if current is not None and current.get("template") == template:
            return UNCHANGED
        body = {"template": template}
        if current is not None and current.get("version"):
            body["version"] = current["version"]   # 409 if someone saved in between
        verb = "create" if current is None else "update"
        self._write("PUT", f"/api/v1/provisioning/templates/{_seg(name)}", body,
                    f"{verb} message template {name!r}", ok=(200, 202))
        return CREATED if current is None else UPDATED

    def get_policy_tree(self) -> dict:
        _, body = self._get("/api/v1/provisioning/policies")
        return body or {}

    def ensure_policy_tree(self, tree: dict) -> str:
        """The notification policy tree (there is one; PUT replaces it whole)."""
        if _route_normal(self.get_policy_tree()) == _route_normal(tree):
            return UNCHANGED
        self._write("PUT", "/api/v1/provisioning/policies", tree,
                    "replace the notification policy tree", ok=(200, 202))
        return UPDATED

    # ---- listing and removal (pruning) ----------------------------------------------------

    def list_datasources(self) -> list[dict]:
        _, body = self._get("/api/datasources")
        return body or []

    def search_dashboards(self, **params) -> list[dict]:
        """Every dashboard hit of /api/search (paged), filtered by ``params``."""
        hits, page = [], 1
        while True:
            _, body = self._get("/api/search", params={"type": "dash-db", "limit": 5000,
                                                      "page": page, **params})
            hits += body or []
            if len(body or []) < 5000:
                return hits
            page += 1

    def list_folders(self, parent_uid: str | None = None) -> list[dict]:
        found, page = [], 1
        while True:
            params = {"limit": 1000, "page": page}
            if parent_uid:
                params["parentUid"] = parent_uid
            _, body = self._get("/api/folders", params=params)
            found += body or []
            if len(body or []) < 1000:
                return found
            page += 1

    def list_alert_rules(self) -> list[dict]:
        _, body = self._get("/api/v1/provisioning/alert-rules")
        return body or []

    def delete_dashboard(self, uid: str) -> str:
        self._write("DELETE", f"/api/dashboards/uid/{_seg(uid)}", None,
                    f"delete dashboard uid={uid}")
        return DELETED

    def delete_folder(self, uid: str) -> str:
        # forceDeleteRules=false: Grafana refuses instead of deleting alert rules in it
        self._write("DELETE", f"/api/folders/{_seg(uid)}?forceDeleteRules=false", None,
                    f"delete folder uid={uid}")
        return DELETED

    def delete_datasource(self, uid: str) -> str:
        self._write("DELETE", f"/api/datasources/uid/{_seg(uid)}", None,
                    f"delete data source uid={uid}")
        return DELETED

    def delete_contact_point(self, uid: str) -> str:
        self._write("DELETE", f"/api/v1/provisioning/contact-points/{_seg(uid)}", None,
                    f"delete contact point uid={uid}", ok=(200, 202, 204))
        return DELETED

    def removals(self, plan: dict) -> list[tuple[str, str]]:
        """What the deploy created and ``plan`` no longer names: [(kind, uid)] in the order
        they are to be deleted (dashboards, folders, data sources, contact points). Only
        reads. Decided from Grafana as it is before the plan is applied and from the plan
        itself, so a dry run and the real run decide alike. What is left although the
        plan no longer names it is said in ``self.notes``.

        ``plan["legacy"]``: {kind: uids} counted as ours without a marker (objects that
        earlier monstack versions created before there were markers).
        """
        self.notes = []
        legacy = plan.get("legacy") or {}
        wanted_folders = {f["uid"] for f in plan.get("folders", [])}
        wanted_dashboards = {d["model"]["uid"]: d.get("folder_uid") or ""
                             for d in plan.get("dashboards", [])}
        out: list[tuple[str, str]] = []

        hits = self.search_dashboards()
        gone = set()
        for hit in hits:
            uid = hit.get("uid")
            if uid in wanted_dashboards or not self._our_dashboard(hit, legacy):
                continue
            gone.add(uid)
            out.append(("dashboard", uid))

        rules = self.list_alert_rules()
        for folder in self._our_folders():
            uid = folder["uid"]
            if uid in wanted_folders or uid in wanted_dashboards.values():
                continue
            why = self._folder_keeps(uid, hits, gone, wanted_dashboards, wanted_folders, rules)
            if why:
                self.notes.append(f"folder {uid} is not in the settings any more but is left: "
                                  f"{why}")
                continue
            out.append(("folder", uid))

        wanted_sources = {d["uid"] for d in plan.get("datasources", [])}
        for ds in self.list_datasources():
            uid = ds.get("uid")
            if uid in wanted_sources:
                continue
            ours = (ds.get("jsonData") or {}).get(MARK_KEY) == uid \
                or uid in legacy.get("datasource", ())
            if ours and ds.get("readOnly"):
                self.notes.append(f"data source {uid} is left: provisioned from a file")
            elif ours:
                out.append(("datasource", uid))

        wanted_points = {c["uid"] for c in plan.get("contact_points", [])}
        points = self.list_contact_points()
        # the tree after this run: the plan's, else Grafana's as it is
        tree = plan.get("policy") or (self.get_policy_tree() if points else {})
        used = _route_receivers(tree or {})
        kept_names = {c["name"] for c in plan.get("contact_points", [])} | {
            c.get("name") for c in points if not _our_contact_point(c)}
        for cp in points:
            uid = cp.get("uid")
            if uid in wanted_points or not _our_contact_point(cp):
                continue
            if cp.get("name") in used and cp.get("name") not in kept_names:
                self.notes.append(f"contact point {uid} is left: the notification policy "
                                  f"tree still routes to {cp.get('name')!r}")
                continue
            out.append(("contact_point", uid))
        return out

    def _our_dashboard(self, hit: dict, legacy: dict) -> bool:
        uid = hit.get("uid")
        if uid in legacy.get("dashboard", ()):
            return True
        if MARK_TAG not in (hit.get("tags") or []):
            return False
        try:
            current = self.get_dashboard(uid)
        except GrafanaError as err:
            if err.status != 406:
                raise
            self.notes.append(f"dashboard {uid} is left: saved in schema v2, its marker "
                              "cannot be read through the v1 API")
            return False
        model = (current or {}).get("dashboard") or {}
        return model.get(MARK_KEY) == uid

    def _our_folders(self) -> list[dict]:
        """Our folders, children before their parents (each is deleted before its
        parent); our folders nested under ours are looked for, not under others'."""
        out = []

        def walk(folders):
            for folder in folders:
                if _our_folder(folder.get("uid", "")):
                    walk(self.list_folders(folder["uid"]))
                    out.append(folder)

        walk(self.list_folders())
        return out

    def _folder_keeps(self, uid: str, hits: list, gone: set, wanted: dict,
                      wanted_folders: set, rules: list) -> str:
        """Why folder ``uid`` must stay ("" when it may go)."""
        others = sorted(h["uid"] for h in hits if h.get("folderUid") == uid
                        and h["uid"] not in gone and wanted.get(h["uid"], uid) == uid)
        if others:
            return f"it holds dashboards the deploy did not create: {', '.join(others)}"
        children = [f["uid"] for f in self.list_folders(uid)]
        foreign = sorted(c for c in children if not _our_folder(c))
        if foreign:
            return f"it holds folders the deploy did not create: {', '.join(foreign)}"
        for child in children:   # ours, but kept: then so is this one
            if child in wanted_folders or child in wanted.values():
                return f"its folder {child} is in the settings"
            if self._folder_keeps(child, hits, gone, wanted, wanted_folders, rules):
                return f"its folder {child} is left"
        if any(r.get("folderUID") == uid for r in rules):
            return "it holds alert rules"
        return ""

    # ---- whole plan ---------------------------------------------------------------------

    def provision(self, plan: dict) -> list[tuple[str, str, str]]:
        """Apply a plan: folders (parents first, in the given order), data sources,
        dashboards, contact points. Returns [(kind, uid, action)].

        plan = {"folders": [{"uid", "title", "parent_uid"?}], "datasources": [spec],
                "dashboards": [{"model": {...}, "folder_uid": ...}],
                "templates": {name: text}, "contact_points": [spec], "policy": tree,
                "service_accounts": [...], "prune": bool, "legacy": {kind: uids}}

        Data sources, dashboards and contact points are marked as the deploy's (see the
        module's docstring) on the way. With ``prune``, what removals() finds is then
        deleted: ("dashboard", uid, "deleted") etc. in the results.

        Stops at the first error with a ProvisionError that lists what was already applied,
        so a partial run is never reported as success.
        """
        steps = [("folder", f["uid"], lambda f=f: self.ensure_folder(
                    f["uid"], f["title"], f.get("parent_uid")))
                 for f in plan.get("folders", [])]
        steps += [("datasource", d["uid"], lambda d=d: self.ensure_datasource(
                    marked_datasource(d)))
                  for d in plan.get("datasources", [])]
        steps += [("dashboard", d["model"]["uid"], lambda d=d: self.ensure_dashboard(
                    marked_dashboard(d["model"]), d.get("folder_uid"),
                    message=d.get("message", _DEFAULT_MESSAGE)))
                  for d in plan.get("dashboards", [])]
        # templates before the contact points using them, those before the tree naming them
        steps += [("template", name, lambda n=name, x=text: self.ensure_template(n, x))
                  for name, text in (plan.get("templates") or {}).items()]
        steps += [("contact_point", c["uid"], lambda c=c: self.ensure_contact_point(
                    marked_contact_point(c)))
                  for c in plan.get("contact_points", [])]
        if plan.get("policy"):
            steps.append((*POLICY, lambda: self.ensure_policy_tree(plan["policy"])))
        steps += [("service_account", a["name"], lambda a=a: self._ensure_account(a))
                  for a in plan.get("service_accounts", [])]
        # what to remove is decided before anything changes (see removals())
        if plan.get("prune"):
            removing = {"dashboard": self.delete_dashboard, "folder": self.delete_folder,
                        "datasource": self.delete_datasource,
                        "contact_point": self.delete_contact_point}
            steps += [(kind, uid, lambda k=kind, u=uid: removing[k](u))
                      for kind, uid in self.removals(plan)]
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
    import hashlib
    import json
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


def _route_normal(route: Any) -> Any:
    """A policy tree as compared: Grafana's provenance and empty fields left out (Grafana
    leaves out what is unset when it answers; what we send unset is the same)."""
    if isinstance(route, dict):
        return {k: _route_normal(v) for k, v in route.items()
                if k != "provenance" and v not in (None, "", [], {}, False)}
    if isinstance(route, list):
        return [_route_normal(v) for v in route]
    return route


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
