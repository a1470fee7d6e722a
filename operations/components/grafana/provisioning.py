"""Grafana's data sources, folder and dashboards, provisioned from the controller over its
HTTP API (operations/components/grafana/api.py), and the admin password kept current.

pyinfra counts an operation that calls a Python function as a change whenever it is
planned: it cannot look inside the function. So whether there is anything to do is
decided at PLAN time, by asking Grafana itself: when it already answers, the client runs
with dry_run=True (the reads of a real run, no writes) and reports what it would create
or update. Nothing to do: no operation is planned, so a second run shows and makes no
change. Something to do: ONE operation is planned, named with how many objects it
changes, which provisions at run time. Grafana not answering at plan time (its first
install): that operation is planned to create everything. `--dry` and the real run plan
from the same Grafana, so the dry run's table is the real run's.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pyinfra import host, logger
from pyinfra.operations import python

from operations.base.inventory import endpoint, hosts_running, secret, settings
from operations.base.schema import SettingsError
from operations.base.templates import shipped_dashboards
from operations.base.tls_auth import grafana_client
from operations.components import vmcluster
from operations.components.grafana import alerting, community
from operations.components.grafana.api import (CREATED, POLICY, UNCHANGED, GrafanaClient,
                                               GrafanaError, ensure_admin_password)
from operations.components.grafana.ownership import DELETED

FOLDER_UID = "monstack"
PROBE_SECONDS = 2       # plan time: is Grafana there at all?
HEALTHY_SECONDS = 60    # run time: Grafana was just (re)started and said ready on its host

DOWN, READY, ROTATE = "down", "ready", "rotate"


@dataclass
class Grafana:
    """One Grafana as the controller found it at plan time. Secrets stay out of the repr:
    it is an argument of the operations planned here, which pyinfra may print."""

    url: str
    user: str
    password: str = field(repr=False)
    previous: str | None = field(default=None, repr=False)
    # DOWN: no answer; READY: the password is accepted; ROTATE: only the previous one is
    state: str = DOWN
    plan: dict = field(default_factory=dict, repr=False)
    notes: list = field(default_factory=list)   # what pruning leaves, and why

    def client(self, password: str | None = None, **kw) -> GrafanaClient:
        return GrafanaClient(self.url, basic_auth=(self.user, password or self.password), **kw)


def grafana_url(s, h) -> str:
    url = s.grafana_url or f"http://{endpoint('grafana', h)}"   # checked: settings_problems
    return url.rstrip("/")


_found: dict[str, Grafana] = {}


def connect(s, h) -> Grafana:
    """Ask Grafana once per host and run whether it answers and which password it takes:
    every refused password counts towards Grafana's failed-login lockout."""
    if h.name in _found:
        return _found[h.name]
    g = Grafana(grafana_url(s, h), s.grafana_admin_user,
                secret(s.grafana_admin_password_secret, "Grafana's admin password", h))
    if s.grafana_admin_password_previous_secret:
        g.previous = secret(s.grafana_admin_password_previous_secret,
                            "Grafana's previous admin password", h)
    with g.client(retries=0, timeout=PROBE_SECONDS) as probe:
        try:
            probe.wait_healthy(timeout=PROBE_SECONDS, interval=0.5)
            answered = True
        except GrafanaError:
            answered = False
        accepted = answered and probe.check_credentials()
    if answered and not accepted and g.previous:
        with g.client(g.previous, retries=0, timeout=PROBE_SECONDS) as old:
            if old.check_credentials():
                g.state = ROTATE
    elif accepted:
        g.state = READY
    if answered and g.state == DOWN:
        tried = s.grafana_admin_password_secret + (
            f" (nor the one in {s.grafana_admin_password_previous_secret})" if g.previous else "")
        raise SettingsError(
            f"host {h.name}: Grafana at {g.url} refuses the password in {tried} for user "
            f"'{g.user}'. Grafana sets admin_password only at its first start, so a "
            "changed password needs one of: grafana_admin_password_previous_secret naming a "
            "secret with the password Grafana has now (the deploy then changes it over the "
            "API), or on the host: `sudo -u grafana <home>/bin/grafana cli --homepath <home> "
            "--config /etc/grafana/grafana.ini admin reset-admin-password <new password>` "
            "(<home>: the --homepath in `systemctl cat grafana`)")
    _found[h.name] = g
    return g


# -- what Grafana should hold --------------------------------------------------------------
def _first(component: str):
    found = sorted(hosts_running(component), key=lambda h: h.name)
    return found[0] if found else None


def own_site_first(prometheus: list) -> list:
    """With sites (see federation.py): the Prometheus of this Grafana host's own site and
    kind first, so the default data source holds the raw series its dashboards show; a
    global Prometheus holds only what it federates. Without sites: as given."""
    from operations.components.prometheus import federation
    if not any(federation.site_of(h) is not None or federation.is_global(h)
               for h in prometheus):
        return prometheus
    return sorted(prometheus, key=lambda h: (not federation.same_kind(h, host), h.name))


def datasources(s) -> list[dict]:
    """Prometheus (the default), Alertmanager, Loki, Jaeger, Pyroscope and VictoriaMetrics
    of this inventory, then the extras."""
    out = []
    replicas = own_site_first(sorted(hosts_running("prometheus"), key=lambda h: h.name))
    if replicas:   # the dashboards' data source: the first replica
        out.append(_prometheus(replicas[0], "prometheus", "Prometheus", default=True))
    # an HA group: each other replica too, to look at while the first one is down
    out += [_prometheus(h, f"prometheus-{n}", f"Prometheus ({h.name})")
            for n, h in enumerate(replicas[1:], start=2)]
    if am := _first("alertmanager"):
        scheme = "https" if settings(am).tls_enabled else "http"
        out.append(_protected({"uid": "alertmanager", "name": "Alertmanager",
                               "type": "alertmanager",
                               "url": f"{scheme}://{endpoint('alertmanager', am)}",
                               "access": "proxy", "isDefault": False,
                               "jsonData": {"implementation": "prometheus"}}, am))
    if loki := _first("loki"):
        out.append({"uid": "loki", "name": "Loki", "type": "loki",
                    "url": f"http://{endpoint('loki', loki)}", "access": "proxy",
                    "isDefault": False})
    if jaeger := _first("jaeger"):
        out.append(_jaeger(jaeger, loki))
    if pyroscope := _first("pyroscope"):
        out.append({"uid": "pyroscope", "name": "Pyroscope",
                    "type": "grafana-pyroscope-datasource",
                    "url": f"http://{endpoint('pyroscope', pyroscope)}", "access": "proxy",
                    "isDefault": False})
    if vm := _first("victoriametrics"):
        # its query API is Prometheus': Grafana's Prometheus data source type reads it
        out.append({"uid": "victoriametrics", "name": "VictoriaMetrics", "type": "prometheus",
                    "url": f"http://{endpoint('victoriametrics', vm)}", "access": "proxy",
                    "isDefault": False})
    if cluster := vmcluster.query_url(s, hosts_running(vmcluster.SELECT)):
        # vmselect serves Prometheus' query API under /select/<tenant>/prometheus
        out.append({"uid": "vmcluster", "name": "VictoriaMetrics cluster",
                    "type": "prometheus", "url": cluster, "access": "proxy",
                    "isDefault": False})
    out += [_extra_datasource(d) for d in s.grafana_extra_datasources]
    uids = [d["uid"] for d in out]
    if len(set(uids)) != len(uids):
        raise SettingsError(f"grafana_extra_datasources: data source uids must be unique "
                            f"(also against prometheus, alertmanager, loki, jaeger, pyroscope, "
                            f"victoriametrics, vmcluster): {uids}")
    return out


def _jaeger(h, loki) -> dict:
    """Jaeger's query API; with a Loki, trace to logs: a span's logs in Loki, the stream of
    its service (Loki's OTLP endpoint makes service.name the label service_name), lines
    holding its trace id, from a minute before the span to a minute after it."""
    datasource = {"uid": "jaeger", "name": "Jaeger", "type": "jaeger",
                  "url": f"http://{endpoint('jaeger', h)}", "access": "proxy",
                  "isDefault": False}
    if loki:
        datasource["jsonData"] = {"tracesToLogsV2": {
            "datasourceUid": "loki", "tags": [{"key": "service.name", "value": "service_name"}],
            "filterByTraceID": True, "filterBySpanID": False,
            "spanStartTimeShift": "-1m", "spanEndTimeShift": "1m"}}
    return datasource


def _prometheus(h, uid: str, name: str, default: bool = False) -> dict:
    """The data source of the Prometheus on host `h`."""
    # Prometheus serves under the path of its external URL (its route prefix)
    prefix = urlsplit(settings(h).prometheus_web_external_url or "").path.rstrip("/")
    scheme = "https" if settings(h).tls_enabled else "http"
    return _protected({"uid": uid, "name": name, "type": "prometheus",
                       "url": f"{scheme}://{endpoint('prometheus', h)}{prefix}",
                       "access": "proxy", "isDefault": default}, h)


def _protected(datasource: dict, h) -> dict:
    """`datasource` with the login and CA of its host's TLS and basic auth, if any."""
    extra = grafana_client(h, datasource["uid"])
    if extra:
        datasource.update(basicAuth=extra.get("basicAuth", False),
                          basicAuthUser=extra.get("basicAuthUser", ""),
                          jsonData={**datasource.get("jsonData", {}), **extra["jsonData"]},
                          secureJsonData=extra["secureJsonData"])
    return datasource


def _extra_datasource(spec) -> dict:
    if not isinstance(spec, dict) or not all(spec.get(k) for k in ("uid", "name", "type")):
        raise SettingsError(f"grafana_extra_datasources: each needs uid, name and type; "
                            f"got {spec!r}")
    spec = copy.deepcopy(spec)
    secure = {}
    for key, value in (spec.get("secureJsonData") or {}).items():
        if key.endswith("_secret"):
            key, value = key[: -len("_secret")], secret(value, f"data source {spec['uid']}")
        secure[key] = value
    if secure:
        spec["secureJsonData"] = secure
    return spec


def datasource_uids(model) -> set[str]:
    """Data source uids a dashboard model uses (Grafana's built-in and variables aside)."""
    found = set()
    if isinstance(model, dict):
        ds = model.get("datasource")
        if isinstance(ds, dict) and isinstance(ds.get("uid"), str) \
                and not ds["uid"].startswith(("-- ", "$")):
            found.add(ds["uid"])
        for value in model.values():
            found |= datasource_uids(value)
    elif isinstance(model, list):
        for value in model:
            found |= datasource_uids(value)
    return found


def _load_dashboard(path: Path) -> dict:
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"dashboard {path}: not readable as JSON: {exc}") from None
    if not isinstance(model, dict) or not model.get("uid") or not model.get("title"):
        raise SettingsError(f"dashboard {path}: a dashboard model needs a uid and a title")
    return model


def dashboards(s, available: set[str]) -> list[dict]:
    """Shipped dashboards (those whose data sources exist here), then the user's."""
    models, skipped = {}, []
    for path in shipped_dashboards():
        model = _load_dashboard(path)
        missing = datasource_uids(model) - available
        if missing:  # e.g. the Logs dashboard without a Loki in the inventory
            skipped.append(f"{model['uid']} (needs {', '.join(sorted(missing))})")
            continue
        models[model["uid"]] = model
    if skipped:
        logger.info("Grafana: not provisioned, for want of their data sources: "
                    + ", ".join(skipped))
    if s.grafana_dashboards_dir:
        folder = Path(s.grafana_dashboards_dir).expanduser()
        if not folder.is_dir():
            raise SettingsError(f"grafana_dashboards_dir: {folder} is not a folder on the "
                                "controller")
        for path in sorted(folder.glob("*.json")):
            model = _load_dashboard(path)
            if model["uid"] in models:
                raise SettingsError(f"dashboard {path}: uid {model['uid']!r} is taken by "
                                    "another dashboard")
            models[model["uid"]] = model
    return [{"model": m, "folder_uid": FOLDER_UID} for m in models.values()]


TOKEN_NAME = "monstack-automation"


def token_file(s, h) -> Path:
    return Path(s.grafana_token_dir).expanduser() / f"{h.name}.token"


def _saver(path: Path):
    def save(key: str) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    return save


def service_accounts(s, h) -> list[dict]:
    """The automation service account: created once; its token's key is kept on the
    controller, and a token whose key was lost there is replaced."""
    if not s.grafana_service_account:
        return []
    path = token_file(s, h)
    return [{"name": s.grafana_service_account, "token_name": TOKEN_NAME,
             "have_key": path.is_file(), "save": _saver(path)}]


def wanted(s, h=None) -> dict:
    """The provisioning plan, in GrafanaClient.provision()'s form."""
    sources = datasources(s)
    available = {d["uid"] for d in sources}
    ours = dashboards(s, available)
    plan = {"folders": [{"uid": FOLDER_UID, "title": s.grafana_folder}] + community.folders(s),
            "datasources": sources,
            "dashboards": ours + community.dashboards(s, available, ours),
            "service_accounts": service_accounts(s, h if h is not None else host)}
    plan.update(alerting.plan(s, sources))
    plan.update(prune=s.grafana_prune, legacy=legacy())
    return plan


# Data sources monstack names itself (datasources()): an earlier version created them
# before objects were marked, so without a marker they still count as the deploy's.
LEGACY_DATASOURCES = frozenset({"prometheus", "alertmanager", "loki", "victoriametrics",
                                "vmcluster", *(f"prometheus-{n}" for n in range(2, 100))})


def legacy() -> dict:
    """What counts as created by the deploy although it carries no marker: objects of
    earlier monstack versions (see api.py's docstring for the markers). The data sources
    monstack names, the shipped dashboards (their uids are monstack's own) and, by its uid,
    the folder "monstack". A user's own dashboards (grafana_dashboards_dir) and extra data
    sources written by an earlier version are marked on this run's update; removed from
    the settings before that, they are left in Grafana."""
    return {"datasource": LEGACY_DATASOURCES,
            "dashboard": frozenset(_load_dashboard(p)["uid"] for p in shipped_dashboards())}


def objects(plan: dict) -> list[tuple[str, str]]:
    """(kind, uid) of everything in a plan, in the order provision() applies them."""
    return ([("folder", f["uid"]) for f in plan["folders"]]
            + [("datasource", d["uid"]) for d in plan["datasources"]]
            + [("dashboard", d["model"]["uid"]) for d in plan["dashboards"]]
            + [("template", name) for name in plan.get("templates") or {}]
            + [("contact_point", c["uid"]) for c in plan.get("contact_points", [])]
            + ([POLICY] if plan.get("policy") else [])
            + [("service_account", a["name"]) for a in plan.get("service_accounts", [])])


# -- plan time ---------------------------------------------------------------------------------
def pending(s, h) -> tuple[Grafana, list[tuple[str, str, str]]]:
    """What provisioning would change on host `h`'s Grafana: [(kind, uid, action)]."""
    g = connect(s, h)
    g.plan = wanted(s, h)
    if g.state == DOWN:
        return g, [(kind, uid, CREATED) for kind, uid in objects(g.plan)]
    # before a planned password change, only the previous password is accepted
    password = g.previous if g.state == ROTATE else g.password
    with g.client(password, dry_run=True) as client:
        results = client.provision(g.plan)
        g.notes = list(client.notes)
    return g, [r for r in results if r[2] != UNCHANGED]


def describe(actions: list[tuple[str, str, str]]) -> str:
    verbs = {"created": "create", "updated": "update", DELETED: "delete"}
    return ", ".join(f"{verbs.get(action, action)} {kind} {uid}" for kind, uid, action in actions)


def install() -> None:
    """Plan the provisioning of this host's Grafana (nothing, when nothing would change)."""
    s = settings()
    g, actions = pending(s, host)
    for note in g.notes:
        host.log(f"Grafana at {g.url}: {note}", logger.info)
    if not actions:
        host.log(f"Grafana at {g.url}: data sources, folder and dashboards are up to date",
                 logger.info)
        return
    if g.state == DOWN:
        host.log(f"Grafana at {g.url} does not answer yet (first install?): everything "
                 "will be created", logger.info)
    host.log(f"Grafana at {g.url}: will {describe(actions)}", logger.info)
    verbs = "create, update or delete" if any(a == DELETED for _, _, a in actions) \
        else "create or update"
    python.call(
        name=f"Provision Grafana: {len(actions)} objects to {verbs}",
        function=provision, grafana=g)


# -- run time (functions of python.call: a False return fails the operation) ---------------
def _failed(h, what: str, err: GrafanaError) -> bool:
    h.log_styled(f"{what} failed (the controller talks to Grafana at grafana_url): {err}",
                 fg="red", log_func=logger.error)
    return False


def provision(state, host, grafana: Grafana) -> bool:
    try:
        with grafana.client() as client:
            client.wait_healthy(timeout=HEALTHY_SECONDS)
            results = client.provision(grafana.plan)
    except GrafanaError as err:
        return _failed(host, "Provisioning Grafana", err)
    done = [r for r in results if r[2] != UNCHANGED]
    host.log(f"Grafana at {grafana.url}: {describe(done) or 'nothing had to change'}",
             logger.info)
    return True


def change_admin_password(state, host, grafana: Grafana) -> bool:
    try:
        with grafana.client() as client:
            client.wait_healthy(timeout=HEALTHY_SECONDS)
        ensure_admin_password(grafana.url, grafana.user, grafana.password, [grafana.previous])
    except GrafanaError as err:
        return _failed(host, "Changing Grafana's admin password", err)
    return True
