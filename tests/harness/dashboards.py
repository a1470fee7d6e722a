"""Reading the shipped Grafana dashboards: their panels, variables and queries, with
Grafana's variables replaced by values a query engine accepts. Used by the offline
dashboard tests and by the fleet test that runs every query on a real Prometheus."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from operations.base.templates import DASHBOARD_SUFFIX, shipped_dashboards

DASHBOARD_FILES = shipped_dashboards()


def uid_of(path: Path) -> str:
    """The uid a shipped dashboard file is named after: <uid>.dashboard.json."""
    return path.name.removesuffix(DASHBOARD_SUFFIX)

# Grafana's built-in variables (those a query may use without defining them).
GRAFANA_INTERVALS = {"__rate_interval", "__interval", "__range", "__auto"}
GRAFANA_BUILTINS = GRAFANA_INTERVALS | {"__interval_ms", "__range_s", "__range_ms",
                                        "__dashboard", "__from", "__to", "__org", "__user"}

# $name, ${name}, ${name:format}, [[name]]
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


@functools.lru_cache(maxsize=None)
def load(path: Path) -> dict:
    return json.loads(path.read_text())


def dashboards() -> list[dict]:
    return [load(p) for p in DASHBOARD_FILES]


def all_panels(model: dict):
    """Every panel, including those nested in collapsed rows."""
    for panel in model.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def variables(model: dict) -> dict[str, dict]:
    return {v["name"]: v for v in (model.get("templating") or {}).get("list") or []}


def ds_uid(ds) -> str | None:
    return ds.get("uid") if isinstance(ds, dict) else ds


def substitute(expr: str, model: dict, *, all_values: bool = False) -> str:
    """Replace Grafana variables with concrete values a query engine accepts.

    Interval variables become ``5m``; dashboard variables become ``.*`` (they are used as
    regexes), or with ``all_values`` the variable's "All" value, what Grafana sends when
    everything is selected."""
    defined = variables(model)

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GRAFANA_INTERVALS:
            return "5m"
        if name in ("__interval_ms", "__range_ms"):
            return "300000"
        if name == "__range_s":
            return "300"
        if all_values and name in defined and defined[name].get("allValue"):
            return defined[name]["allValue"]
        return ".*"

    return VAR_RE.sub(repl, expr)


def variable_query(var: dict) -> str:
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query") or q.get("expr") or ""
    return q or ""


_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$", re.S)
_LABEL_VALUES_BARE = re.compile(r"^\s*label_values\(\s*([a-zA-Z_]\w*)\s*\)\s*$")
_QUERY_RESULT = re.compile(r"^\s*query_result\((.*)\)\s*$", re.S)


def unwrap_variable_query(q: str) -> str | None:
    """The series selector/expression inside a label_values()/query_result() variable
    query, or None when there is none (``label_values(label)``)."""
    if _LABEL_VALUES_BARE.match(q):
        return None
    for pattern in (_LABEL_VALUES, _QUERY_RESULT):
        m = pattern.match(q)
        if m:
            return m.group(1)
    return q


def queries(kind: str):
    """(dashboard uid, where, raw expression, model) for every query on data source `kind`
    ("prometheus" or "loki"): panel targets and template variable queries."""
    for path in DASHBOARD_FILES:
        model = load(path)
        for panel in all_panels(model):
            for target in panel.get("targets") or []:
                uid = ds_uid(target.get("datasource")) or ds_uid(panel.get("datasource"))
                if uid == kind and target.get("expr"):
                    where = f"panel {panel.get('id')} {panel.get('title')!r} ref {target.get('refId')}"
                    yield model["uid"], where, target["expr"], model
        for name, var in variables(model).items():
            if var.get("type") == "query" and ds_uid(var.get("datasource")) == kind:
                inner = unwrap_variable_query(variable_query(var))
                if inner:
                    yield model["uid"], f"variable ${name}", inner, model



# Panels that may show nothing on a healthy host: dashboard uid -> panel id -> (title,
# reason). Each such panel says so in its description (tests/unit/test_dashboards.py
# checks that each exists with that title and does); the fleet tests that require a
# dashboard to show data leave out exactly these.
# (The filesystem panels leave out overlay, tmpfs, ramfs and squashfs: a container's root
# is an overlayfs, so the fleet gives each host a data disk, tests/harness/fleet.py DISK.)
_NO_SENSORS = "containers and virtual machines have no hardware sensors"
# systemd-nspawn (the test fleet's containers) lets a container call adjtimex only with
# CAP_SYS_TIME, which the fleet does not give (measured: node_exporter run as root in a
# fleet container reports the timex collector failed). node_exporter's unit allows it
# (Unit.reads_clock: ProtectClock=no, adjtimex after ~@privileged), so on a real host
# these panels show data; only the fleet cannot prove it.
_NO_ADJTIMEX = "the container's seccomp filter refuses adjtimex(2), the timex collector's source"
MAY_BE_EMPTY = {
    "monstack-hosts": {
        11: ("Failed systemd units", "no unit has failed (the table; the stat shows 0)"),
        20: ("Clock offset", _NO_ADJTIMEX),
        21: ("Clock synchronised", _NO_ADJTIMEX),
        71: ("Clock offset and error", _NO_ADJTIMEX),
        69: ("Temperatures (hwmon)", _NO_SENSORS),
        70: ("Thermal zones", _NO_SENSORS),
    },
}


def may_be_empty(uid: str, where: str) -> bool:
    """Whether the query at `where` (as queries() names it: "panel <id> '<title>' ref X")
    belongs to a panel of MAY_BE_EMPTY."""
    return any(where.startswith(f"panel {pid} {title!r} ")
               for pid, (title, _) in MAY_BE_EMPTY.get(uid, {}).items())
