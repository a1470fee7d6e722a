"""The Grafana dashboards the components ship: well-formed models, and queries that work.

templates/<component>/<uid>.dashboard.json are plain Grafana dashboard models, uploaded by
operations/components/grafana/api.py (``ensure_dashboard(model, folder_uid)``, keyed by ``uid``).
These tests check them offline:

* structure: valid JSON, uid == file name, unique uids and titles, no server-assigned
  ``id``/``version``, every panel on a provisioned data source (uids ``prometheus`` and
  ``loki``), a gridPos inside the 24-column grid, unique panel ids, units on value panels,
  template variables defined before use;
* PromQL: every expression of a Prometheus panel or template variable, with Grafana's
  variables replaced by concrete values, goes through Debian's real
  ``promtool check rules`` as a recording rule;
* metric names: every metric name in those expressions must be one the deployed
  components actually expose, judged from the string data of Debian's builds (bookworm's,
  Go 1.19, and sid's, Go 1.24 and later) of
  node_exporter, redis_exporter, postgres_exporter, prometheus and alertmanager (see
  ``verify_metric_name`` for the heuristic and RUNTIME_NAMES for names no binary holds),
  or, for cAdvisor, Loki and Alloy, which Debian does not build, in the explicit
  UPSTREAM_NAMES list, checked by hand in their sources; a name with colons
  (level:metric:operations) must be recorded by a shipped recording rule, whose own
  expression's names are checked like the alert rules';
* LogQL: a small structural validator (not a full LogQL parser, see ``check_logql``).

Each checker is itself tested on broken input, so a checker that accepts everything fails.
"""

from __future__ import annotations

import functools
import json
import re
import struct
import subprocess
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

from harness import debian
from operations.base.templates import shipped_rule_sets
from harness.dashboards import (DASHBOARD_FILES, MAY_BE_EMPTY, uid_of, GRAFANA_BUILTINS,
                                VAR_RE, all_panels, dashboards, ds_uid, load, may_be_empty,
                                queries, substitute, unwrap_variable_query, variable_query,
                                variables)

APPS_RULES = shipped_rule_sets()["apps"]


def recorded_names() -> dict[str, str]:
    """Name -> rule set of every series a shipped recording rule records."""
    return {rule["record"]: name for name, path in shipped_rule_sets().items()
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule}

# The deploy provisions exactly these data sources (uid -> type).
DATASOURCES = {"prometheus": "prometheus", "loki": "loki"}
PANEL_TYPES = {"timeseries", "stat", "table", "gauge", "logs", "row", "text"}
VALUE_PANELS = {"timeseries", "stat", "gauge"}  # must say what unit they show
EXPECTED_UIDS = {"monstack-hosts", "monstack-stack", "monstack-redis", "monstack-postgres",
                 "monstack-apps", "monstack-alerts", "monstack-logs", "monstack-containers",
                 "monstack-network",
                 "monstack-mysql", "monstack-nginx", "monstack-haproxy",
                 "monstack-processes", "monstack-systemd", "monstack-pipelines"}

def _ids(paths):
    return [p.name for p in paths]


# ==================================================================== structure

def test_dashboards_exist():
    assert {uid_of(p) for p in DASHBOARD_FILES} == EXPECTED_UIDS


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=_ids(DASHBOARD_FILES))
def test_valid_json_object(path):
    model = json.loads(path.read_text())
    assert isinstance(model, dict)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=_ids(DASHBOARD_FILES))
def test_dashboard_model(path):
    model = load(path)
    assert model.get("uid") == uid_of(path), "uid must equal the file name (ensure_dashboard keys on it)"
    assert len(model["uid"]) <= 40 and re.fullmatch(r"[a-zA-Z0-9_-]+", model["uid"])
    assert isinstance(model.get("title"), str) and model["title"].strip()
    # Grafana assigns these on save, per instance (ensure_dashboard ignores them)
    assert "id" not in model and "version" not in model
    assert "monstack" in model.get("tags", [])
    assert isinstance(model.get("schemaVersion"), int) and 36 <= model["schemaVersion"] <= 41
    assert model.get("time") == {"from": "now-6h", "to": "now"}
    assert model.get("panels"), "a dashboard without panels"


def test_uids_and_titles_unique():
    models = dashboards()
    uids = [m["uid"] for m in models]
    titles = [m["title"] for m in models]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=_ids(DASHBOARD_FILES))
def test_panels(path):
    model = load(path)
    ids = []
    cells: dict[tuple[int, int], int] = {}
    for panel in all_panels(model):
        pid, title = panel.get("id"), panel.get("title")
        assert isinstance(pid, int), f"panel {title!r} has no integer id"
        ids.append(pid)
        assert panel.get("type") in PANEL_TYPES, f"panel {pid}: type {panel.get('type')!r}"
        assert title, f"panel {pid} has no title"
        grid = panel.get("gridPos")
        assert isinstance(grid, dict) and all(isinstance(grid.get(k), int) for k in "hwxy"), \
            f"panel {pid} {title!r}: gridPos {grid!r}"
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["y"] >= 0
        assert grid["x"] + grid["w"] <= 24, f"panel {pid} {title!r} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {pid} {title!r} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = pid
        if panel["type"] in ("row", "text"):
            continue
        ds = panel.get("datasource")
        assert isinstance(ds, dict) and ds.get("uid") in DATASOURCES, \
            f"panel {pid} {title!r}: data source {ds!r}"
        assert ds.get("type") == DATASOURCES[ds["uid"]], f"panel {pid}: {ds!r}"
        if panel["type"] == "logs":
            assert ds["uid"] == "loki", f"logs panel {pid} {title!r} is not on Loki"
        targets = panel.get("targets")
        assert targets, f"panel {pid} {title!r} has no query"
        refs = [t.get("refId") for t in targets]
        assert len(set(refs)) == len(refs) and all(refs), f"panel {pid}: refIds {refs}"
        for t in targets:
            assert ds_uid(t.get("datasource", ds)) == ds["uid"], \
                f"panel {pid}: target {t.get('refId')} on another data source"
            assert t.get("expr", "").strip(), f"panel {pid}: target {t.get('refId')} has no expr"
        if panel["type"] in VALUE_PANELS:
            unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
            assert unit, f"panel {pid} {title!r} sets no unit"
    assert len(set(ids)) == len(ids), f"duplicate panel ids: {sorted(ids)}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=_ids(DASHBOARD_FILES))
def test_template_variables(path):
    """Variables use known data sources, every variable a query uses is defined, and a
    multi-value variable is only used where Grafana's (a|b) expansion works: =~ / !~."""
    model = load(path)
    defined = variables(model)
    for name, var in defined.items():
        assert ds_uid(var.get("datasource")) in DATASOURCES, f"${name}: {var.get('datasource')!r}"
        assert variable_query(var).strip(), f"${name} has no query"
    texts = [(where, expr) for kind in DATASOURCES for uid, where, expr, _ in queries(kind)
             if uid == model["uid"]]
    for where, expr in texts:
        for m in VAR_RE.finditer(expr):
            name = m.group(1) or m.group(2) or m.group(3)
            assert name in defined or name in GRAFANA_BUILTINS, f"{where}: ${name} is not defined"
            if name in defined and defined[name].get("multi"):
                before = expr[:m.start()]
                assert re.search(r'[=!]~\s*"[^"]*$', before), \
                    f"{where}: multi-value ${name} must be used inside a =~ or !~ matcher"


def _hosts_dashboard() -> dict:
    return next(m for m in dashboards() if m["uid"] == "monstack-hosts")


def test_hosts_dashboard_has_community_depth():
    """The hosts dashboard covers what operators look for on a host, in rows: at least 40
    panels with queries, and the series of each area among its queries."""
    model = _hosts_dashboard()
    panels = [p for p in all_panels(model) if p["type"] != "row"]
    rows = [p["title"] for p in all_panels(model) if p["type"] == "row"]
    assert len(panels) >= 40, len(panels)
    assert len(rows) >= 8, rows
    # every panel sits under a row: none above the first one
    first_row = min(p["gridPos"]["y"] for p in all_panels(model) if p["type"] == "row")
    assert all(p["gridPos"]["y"] > first_row for p in panels)
    names = {n for uid, _, expr in prometheus_exprs() if uid == "monstack-hosts"
             for n in promql_metric_names(expr)}
    areas = {
        "CPU per mode and core, load": {"node_cpu_seconds_total", "node_load1", "node_load5",
                                        "node_load15", "instance:node_num_cpu:sum"},
        "pressure": {"node_pressure_cpu_waiting_seconds_total",
                     "node_pressure_memory_waiting_seconds_total",
                     "node_pressure_io_waiting_seconds_total"},
        "memory": {"node_memory_Cached_bytes", "node_memory_Buffers_bytes",
                   "node_memory_MemAvailable_bytes", "node_memory_SwapTotal_bytes",
                   "node_vmstat_pgmajfault", "node_vmstat_oom_kill"},
        "disk I/O": {"node_disk_reads_completed_total", "node_disk_read_time_seconds_total",
                     "node_disk_io_now",
                     "instance_device:node_disk_io_time_weighted_seconds:rate5m",
                     "instance_device:node_disk_io_time_seconds:rate5m"},
        "filesystems": {"node_filesystem_avail_bytes", "node_filesystem_files_free",
                        "node_filesystem_readonly"},
        "network": {"node_network_receive_bytes_total", "node_network_receive_packets_total",
                    "node_network_receive_errs_total", "node_network_receive_drop_total",
                    "node_netstat_Tcp_RetransSegs", "node_sockstat_TCP_tw"},
        "systemd": {"node_systemd_unit_state", "node_systemd_units"},
        "hardware, time, kernel": {"node_hwmon_temp_celsius", "node_timex_offset_seconds",
                                   "node_entropy_available_bits", "node_filefd_allocated",
                                   "node_context_switches_total", "node_boot_time_seconds"},
    }
    missing = {area: want - names for area, want in areas.items() if want - names}
    assert not missing, missing
    exprs = [e for uid, _, e in prometheus_exprs() if uid == "monstack-hosts"]
    assert any("predict_linear(node_filesystem_avail_bytes" in e for e in exprs)


def test_hosts_dashboard_keeps_what_links_to_it():
    """The alert rules' dashboard annotations name this uid; the title and the dashboards
    link stay as they were."""
    model = _hosts_dashboard()
    assert (model["uid"], model["title"]) == ("monstack-hosts", "Hosts")
    assert [link["type"] for link in model["links"]] == ["dashboards"]
    rules = (REPO / "templates/node_exporter/host.rules.yml").read_text()
    assert "dashboard: monstack-hosts" in rules


def test_panels_that_may_be_empty_say_so():
    """Each panel the fleet tests let be empty exists under that id and title and tells
    the reader in its description when it shows nothing."""
    for uid, entries in MAY_BE_EMPTY.items():
        model = next(m for m in dashboards() if m["uid"] == uid)
        by_id = {p["id"]: p for p in all_panels(model)}
        for pid, (title, reason) in entries.items():
            assert pid in by_id and by_id[pid]["title"] == title, (uid, pid, title)
            text = by_id[pid].get("description", "").lower()
            assert "empty" in text or "nothing" in text, (uid, pid, text)
            if "container" in reason:
                assert "container" in text, (uid, pid, text)
    # the check is by id and title: another panel of the same title is not let off
    assert may_be_empty("monstack-hosts", "panel 11 'Failed systemd units' ref A")
    assert not may_be_empty("monstack-hosts", "panel 3 'Failed systemd units' ref A")
    assert not may_be_empty("monstack-hosts", "panel 4 'CPU busy' ref A")


# ==================================================================== PromQL via promtool

@pytest.fixture(scope="session")
def promtool() -> Path:
    return debian.tool("promtool")


def promtool_check(promtool: Path, exprs: list[str], workdir: Path) -> tuple[bool, str]:
    """Write `exprs` as recording rules check:expr_<n> and run ``promtool check rules``."""
    rules = [{"record": f"check:expr_{n}", "expr": e} for n, e in enumerate(exprs)]
    path = workdir / "dashboard_exprs.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]},
                                   sort_keys=False))
    res = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=300)
    return res.returncode == 0, res.stdout + res.stderr


def prometheus_exprs() -> list[tuple[str, str, str]]:
    """(dashboard uid, where, expression with Grafana variables replaced)."""
    return [(uid, where, substitute(expr, model)) for uid, where, expr, model in queries("prometheus")]


def test_substitute_replaces_every_grafana_variable():
    model = {"templating": {"list": [{"name": "host", "allValue": ".+"}]}}
    expr = 'rate(x{host=~"$host", a=~"${host}", b=~"${host:regex}", c=~"[[host]]"}[$__rate_interval])'
    assert substitute(expr, model) == 'rate(x{host=~".*", a=~".*", b=~".*", c=~".*"}[5m])'
    assert substitute('{h=~"$host"}[$__interval] $__range', model, all_values=True) == \
        '{h=~".+"}[5m] 5m'


def test_unwrap_variable_query():
    assert unwrap_variable_query('label_values(up{job="node"}, host)') == 'up{job="node"}'
    assert unwrap_variable_query("label_values(host)") is None
    assert unwrap_variable_query('query_result(topk(5, up))') == "topk(5, up)"


def test_prometheus_queries_found():
    found = prometheus_exprs()
    assert len(found) >= 40, found
    assert any(w.startswith("variable") for _, w, _ in found), "variable queries not collected"


def test_promql_parses_with_promtool(promtool, tmp_path):
    found = prometheus_exprs()
    ok, output = promtool_check(promtool, [e for _, _, e in found], tmp_path)
    named = {int(n) for n in re.findall(r"check:expr_(\d+)", output)} or set(range(len(found)))
    index = "\n".join(f"  check:expr_{n} = {found[n][0]} {found[n][1]}: {found[n][2]}"
                      for n in sorted(named))
    assert ok, f"promtool check rules rejected a dashboard expression:\n{output}\n{index}"


@pytest.mark.parametrize("broken", [
    'sum by (job) (rate(http_requests_total[5m])',          # unbalanced parenthesis
    'rate(node_cpu_seconds_total{mode="idle"}[5x])',        # bad duration
    'histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m]))) >',  # dangling operator
    'rate(node_load1)',                                     # rate needs a range vector
])
def test_promtool_checker_rejects_broken_expression(promtool, tmp_path, broken):
    ok, output = promtool_check(promtool, ['up{job="node"}', broken], tmp_path)
    assert not ok, f"the checker accepted {broken!r}:\n{output}"
    assert "check:expr_1" in output or "rule 2" in output, output


# ==================================================================== metric names

PROMQL_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                       "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                   "and", "or", "unless", "offset", "atan2", "inf", "nan", "start", "end"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)")
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]*)"')


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a lexical extraction, good for our queries).

    Strings, label matchers ({...}), ranges ([...]) and label lists of by/without/on/
    ignoring/group_left/group_right are removed; what remains as an identifier and is not
    followed by "(" (a function call), an aggregation operator or a keyword is a metric
    name. {__name__="x"} counts as x."""
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", "{}", text)
    text = re.sub(r"\[[^\[\]]*\]", "[]", text)
    text = _GROUPING.sub(r"\1", text)
    for m in _IDENT.finditer(text):
        word = m.group(1)
        if word in PROMQL_AGGREGATIONS or word in PROMQL_KEYWORDS:
            continue
        if re.match(r"\s*\(", text[m.end():]):
            continue  # function call
        names.add(word)
    return names


def test_metric_name_extraction():
    expr = ('sum by (job, le) (rate(foo_bucket{job=~"a|b", le!="x"}[5m] offset 1h)) '
            '/ on (job) group_left (instance) bar:recorded + ignoring (x) '
            'count_values("value", baz) > bool 2e3 and {__name__="qux"} '
            'or histogram_quantile(0.9, max without (cpu) (node_x)) unless vector(1) * inf')
    assert promql_metric_names(expr) == {"foo_bucket", "bar:recorded", "baz", "qux", "node_x"}
    assert promql_metric_names('100 * (1 - a_b{x="sum(by)"} / c_d)') == {"a_b", "c_d"}
    assert promql_metric_names('time() - node_boot_time_seconds{host=~".*"}') == \
        {"node_boot_time_seconds"}


# --- the allow-list ---------------------------------------------------------------------

# metric name prefix -> component whose Debian binary defines the name
NAMESPACES = {
    "node": "node_exporter",
    "redis": "redis_exporter",
    "pg": "postgres_exporter",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "snmp": "snmp_exporter",
    "mysql": "mysqld_exporter",
    "nginx": "nginx_exporter",
    "namedprocess": "process_exporter",
    "systemd": "systemd_exporter",
}
# Series Prometheus itself attaches to every scrape. scrape.go keeps their names as byte
# slices with a trailing 0xff byte (`[]byte("up" + "\xff")`), stored NUL-padded in the
# binary's .noptrdata section: we look for NUL + name + 0xff there.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                 "scrape_samples_post_metric_relabeling", "scrape_series_added"}
# Series of the rule manager (rules/alerting.go: alertMetricName = "ALERTS").
RULE_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}
# Application metrics are not exposed by anything we deploy: instrumented services do.
# They must be the ones the shipped alert rules (apps.rules.yml) use; a histogram
# `<base>_bucket` counts as used when `<base>_bucket` is in the rules file.
APP_METRICS = {"http_requests_total", "http_request_duration_seconds_bucket"}
# The backups' own metrics: written by the backup script (textfile collector), each name
# a whole line prefix there.
BACKUP_SCRIPT = REPO / "templates/backup/monstack-backup"

# Names the exporters assemble at run time from data they read or from a format string,
# so no binary holds them as literals. Each entry: name -> (component, strings the binary
# must contain, why the name is not in the binary).
def _namespace_up(namespace, component, witness):
    """`<namespace>_up`: the exporter's namespace + 'up', witnessed by `witness`."""
    return {f"{namespace}_up": (
        component, [witness],
        f"namespace '{namespace}' + 'up': the literal 'up' is too short to be evidence")}


def _mysql_global(kind, row):
    """collector/global_status.go and global_variables.go: mysql_global_<kind>_<row> for
    each numeric row of SHOW GLOBAL STATUS/VARIABLES (kind "status" or "variables")."""
    statement = f"SHOW GLOBAL {kind.upper()}"
    return {f"mysql_global_{kind}_{row.lower()}": (
        "mysqld_exporter", [f"global_{kind}".encode(), statement.encode()],
        f"global_{kind}_<row> for each row of {statement} ({row})")}


def _mysql_slave_status(column, since=None):
    """collector/slave_status.go: slave_status_<column> for each column of SHOW SLAVE
    STATUS (MariaDB, MySQL < 8.0.22) or SHOW REPLICA STATUS (MySQL 8.0.22+)."""
    detail = f"{column}, {since}" if since else column
    return {f"mysql_slave_status_{column.lower()}": (
        "mysqld_exporter", [b"slave_status", b"SHOW SLAVE STATUS"],
        f"slave_status_<column> ({detail})")}


RUNTIME_NAMES = {
    "pg_settings_max_connections": (
        "postgres_exporter", [b"pg_settings"],
        "pg_settings_<name> for each numeric row of the pg_settings view"),
    "redis_config_maxclients": (
        "redis_exporter", [b"config_%s", b"maxclients"],
        "config_%s for each CONFIG GET key it exports"),
    **_namespace_up("redis", "redis_exporter", b"redis_exporter"),
    **_namespace_up("pg", "postgres_exporter", b"postgres_exporter"),
    **_namespace_up("mysql", "mysqld_exporter", b"mysqld_exporter"),
    **_namespace_up("nginx", "nginx_exporter", b"nginx-prometheus-exporter"),
    **_mysql_global("status", "Threads_connected"),
    **_mysql_global("status", "Queries"),
    **_mysql_global("status", "Slow_queries"),
    **_mysql_global("variables", "max_connections"),
    **_mysql_slave_status("Seconds_Behind_Master"),
    **_mysql_slave_status("Seconds_Behind_Source", "MySQL 8.0.22+"),
    # collector/thermal_zone_linux.go: BuildFQName(namespace, "thermal_zone", "temp");
    # the tail "temp" is too short to count as evidence by itself
    "node_thermal_zone_temp": (
        "node_exporter", [b"thermal_zone", b"cooling_device"],
        "thermal_zone collector: thermal_zone + temp (a 4-character tail)"),
}


# node_exporter collectors that name their series after the fields of a kernel file they
# read at run time, so no binary holds the names: meminfo (/proc/meminfo), vmstat
# (/proc/vmstat), netstat (/proc/net/snmp, /proc/net/netstat), sockstat
# (/proc/net/sockstat) and netdev (the columns of /proc/net/dev). Such a name must be
# prefix + FIELD + suffix, with FIELD one the kernel writes (listed here exactly: checked
# by hand in the kernel's Documentation/filesystems/proc.rst and against node_exporter
# 1.5.0 and 1.11.1 scraped on a running Linux 6.x), the collector's name a whole literal
# of the binary, and, where the collector filters fields (vmstat, netstat), FIELD let
# through by the filter's default, which must be a whole literal of that binary: the
# defaults of collector/vmstat_linux.go and netstat_linux.go at v1.5.0 and v1.11.1 (the
# netstat one grew TCPOFOQueue and TCPRcvQDrop between them). A typo of a field is not
# in the list and fails; a field the default filter drops fails for that build.
_NETSTAT_DEFAULT_1_5 = (
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|"
    "OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|"
    "InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|"
    "OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$")
_NETSTAT_DEFAULT_1_11 = _NETSTAT_DEFAULT_1_5.replace(
    "TCPTimeouts)", "TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)")
KERNEL_FIELD_FAMILIES = {
    # collector: (prefix, suffix, fields, default field filters (None: no filter))
    "meminfo": ("node_memory_", "_bytes", {
        "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached",
        "Active", "Inactive", "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages",
        "Mapped", "Shmem", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
        "PageTables", "CommitLimit", "Committed_AS"}, None),
    "vmstat": ("node_vmstat_", "", {
        "pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault", "oom_kill"},
        ("^(oom_kill|pgpg|pswp|pg.*fault).*",)),
    "netstat": ("node_netstat_", "", {
        "Tcp_ActiveOpens", "Tcp_PassiveOpens", "Tcp_CurrEstab", "Tcp_InSegs",
        "Tcp_OutSegs", "Tcp_RetransSegs", "Tcp_InErrs", "Tcp_OutRsts",
        "TcpExt_ListenOverflows", "TcpExt_ListenDrops", "TcpExt_TCPSynRetrans",
        "TcpExt_TCPTimeouts", "TcpExt_TCPOFOQueue", "Udp_InDatagrams", "Udp_OutDatagrams",
        "Udp_InErrors", "Udp_NoPorts", "Udp_RcvbufErrors", "Udp_SndbufErrors"},
        (_NETSTAT_DEFAULT_1_5, _NETSTAT_DEFAULT_1_11)),
    "sockstat": ("node_sockstat_", "", {
        "sockets_used", "TCP_inuse", "TCP_orphan", "TCP_tw", "TCP_alloc", "TCP_mem",
        "UDP_inuse", "UDP_mem", "RAW_inuse", "FRAG_inuse"}, None),
    "netdev": ("node_network_", "_total", {
        f"{way}_{column}" for way in ("receive", "transmit")
        for column in ("bytes", "packets", "errs", "drop", "fifo", "compressed")}
        | {"receive_frame", "receive_multicast", "transmit_colls", "transmit_carrier"},
        None),
}


def kernel_field_name(name: str, suite: str) -> tuple[bool, str] | None:
    """The verdict on a name of KERNEL_FIELD_FAMILIES, or None when no family's
    prefix + suffix fits it."""
    for collector, (prefix, suffix, fields, filters) in KERNEL_FIELD_FAMILIES.items():
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        field = name[len(prefix):len(name) - len(suffix)]
        if field not in fields:
            continue   # perhaps a name of another kind (node_network_up): judged later
        binary = go_binary("node_exporter", suite)
        if not is_literal(binary, collector):
            return False, f"no {collector} collector in the node_exporter binary"
        if filters is None:
            return True, f"{collector} collector: field {field} of the kernel file"
        default = [f for f in filters if is_literal(binary, f)]
        if not default:
            return False, f"none of the known default filters of {collector} is in the binary"
        if not re.search(default[0], field):
            return False, f"{collector}'s default filter of this build drops {field}"
        return True, f"{collector} collector: field {field}, let through by its default filter"
    return None

# Names exposed by components with no Debian build to read (cAdvisor, Loki, Alloy): an
# explicit list, each name checked by hand in the component's source at the version
# upstream_releases.py pins. Exact names only: a typo of any of them is not here and fails.
UPSTREAM_NAMES = {
    # google/cadvisor v0.57.0, metrics/prometheus.go (containerMetrics and the spec
    # descriptors of collectContainersInfo)
    "container_cpu_usage_seconds_total": "cadvisor",
    "container_memory_working_set_bytes": "cadvisor",
    "container_spec_memory_limit_bytes": "cadvisor",
    "container_start_time_seconds": "cadvisor",
    "container_network_receive_bytes_total": "cadvisor",
    "container_network_transmit_bytes_total": "cadvisor",
    # Loki's HTTP request histogram (dskit instrumentation under namespace loki); this
    # _count series with status_code and route is what grafana/loki's own
    # production/loki-mixin/alerts.libsonnet (LokiRequestErrors) alerts on
    "loki_request_duration_seconds_count": "loki",
    # grafana/alloy v1.17.0, internal/component/common/loki/client/metrics.go (loki.write)
    "loki_write_dropped_entries_total": "alloy",
    # grafana/pyroscope v1.21.1, pkg/validation/validate.go (DiscardedProfiles: namespace
    # pyroscope, name discarded_samples_total, labels reason and tenant)
    "pyroscope_discarded_samples_total": "pyroscope",
    # haproxy/haproxy v2.6.0, addons/promex/service-prometheus.c: prefixes
    # haproxy_backend_/_server_ + the names of promex_st_metrics (status,
    # http_requests_total, http_responses_total)
    "haproxy_backend_status": "haproxy",
    "haproxy_server_status": "haproxy",
    "haproxy_backend_http_requests_total": "haproxy",
    "haproxy_backend_http_responses_total": "haproxy",
    # jaegertracing/jaeger v2.20.0, monitoring/jaeger-mixin/generate/main.go: the
    # OpenTelemetry Collector's own counters (otelcol v0.155.0) that Jaeger's mixin charts
    "otelcol_receiver_refused_spans_total": "jaeger",
    "otelcol_exporter_send_failed_spans_total": "jaeger",
}

# Alloy's pipeline metrics (alloy_otlp) as grafana/alloy v1.17.1 exposes them:
# operations/alloy-mixin/rendered/alerts/alloy_otelcol.yaml and
# rendered/dashboards/alloy-opentelemetry.json (the OpenTelemetry Collector's receiver and
# exporter metrics: accepted/refused, sent/send_failed/enqueue_failed per signal, queue
# size and capacity), docs/sources/reference/components/pyroscope/pyroscope.write.md
# (sent and dropped profiles), prometheus/prometheus.remote_write.md (samples). No Alloy binary to read: the exact names, by hand.
ALLOY_PIPELINE_NAMES = {
    **{f"otelcol_receiver_{what}_{item}_total": "otelcol.receiver.otlp"
       for what in ("accepted", "refused")
       for item in ("spans", "metric_points", "log_records")},
    **{f"otelcol_exporter_{what}_{item}_total": "otelcol.exporter.otlphttp"
       for what in ("sent", "send_failed", "enqueue_failed")
       for item in ("spans", "log_records")},
    # the applications' metrics: otelcol.exporter.prometheus (no metrics of its own) ->
    # prometheus.remote_write (docs prometheus/prometheus.remote_write.md, Debug metrics)
    **{f"prometheus_remote_storage_{what}_total": "prometheus.remote_write"
       for what in ("samples", "samples_failed", "samples_retries")},
    "otelcol_exporter_queue_size": "otelcol.exporter.otlphttp",
    "otelcol_exporter_queue_capacity": "otelcol.exporter.otlphttp",
    "pyroscope_write_sent_profiles_total": "pyroscope.write",
    "pyroscope_write_dropped_profiles_total": "pyroscope.write",
}

# Names snmp_exporter takes from the modules of its snmp.yml (upstream's generated ones,
# written by the deploy from the release archive), not from its binary: checked by hand in
# prometheus/snmp_exporter v0.30.1, snmp.yml, module if_mib (the IF-MIB objects' names).
SNMP_MODULE_NAMES = {
    "ifHCInOctets": "if_mib", "ifHCOutOctets": "if_mib", "ifInErrors": "if_mib",
    "ifOutErrors": "if_mib", "ifOperStatus": "if_mib", "ifAdminStatus": "if_mib",
}


# --- reading the Debian binaries ----------------------------------------------------------

# The releases whose builds the names are checked against: the oldest we deploy (Go 1.19's
# linker) and the newest (Go 1.24 and later), which lay out string literals differently.
BINARY_SUITES = (debian.OLDEST, "sid")


def _elf_sections(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Section name -> (virtual address, bytes) of a 64-bit little-endian ELF file."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit LE ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def header(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    strtab = header(shstrndx)
    names = data[strtab[4]:strtab[4] + strtab[5]]
    sections = {}
    for i in range(shnum):
        h = header(i)
        name = names[h[0]:names.index(b"\0", h[0])].decode()
        sections[name] = (h[3], data[h[4]:h[4] + h[5]])
    return sections


# amd64 LEAQ with a RIP-relative operand (REX.W prefix, opcode 8D, ModRM mod=00 rm=101),
# then its 32-bit displacement: how Go code loads the address of a string literal.
_LEA_RIP = re.compile(rb"[\x48\x4c]\x8d[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]")
_DATA_SECTIONS = (".rodata", ".data", ".noptrdata", ".data.rel.ro")


class GoBinary:
    """The read-only data of a Go binary (amd64) and the addresses in it that something
    points at: the targets of the code's RIP-relative LEAQs and the 8-byte pointers of its
    data sections (string headers, slice headers)."""

    def __init__(self, path: Path):
        sections = _elf_sections(path.read_bytes())
        self.rodata_addr, self.rodata = sections[".rodata"]
        self.noptrdata_addr, self.noptrdata = sections[".noptrdata"]
        pointers = self._lea_targets(*sections[".text"])
        for name in _DATA_SECTIONS:
            if name in sections:
                data = sections[name][1]
                pointers.update(q for q, in struct.iter_unpack("<Q", data[:len(data) & ~7]))
        self.pointed_at = {a for a in pointers if self._holds(a)}

    def _holds(self, addr: int) -> bool:
        """Whether `addr` is in .rodata or .noptrdata (or just past their end)."""
        return (self.rodata_addr <= addr <= self.rodata_addr + len(self.rodata)
                or self.noptrdata_addr <= addr <= self.noptrdata_addr + len(self.noptrdata))

    @staticmethod
    def _lea_targets(text_addr: int, text: bytes) -> set[int]:
        targets = set()
        for m in _LEA_RIP.finditer(text):
            disp, = struct.unpack_from("<i", text, m.end())
            targets.add(text_addr + m.end() + 4 + disp)  # relative to the next instruction
        return targets

    def starts_object(self, addr: int) -> bool:
        return addr in self.pointed_at


# Components Debian builds in one release only: that build stands in for every suite
# (systemd_exporter is in sid alone).
ONLY_BUILT_IN = {"systemd_exporter": "sid"}


@functools.lru_cache(maxsize=None)
def go_binary(component: str, suite: str = debian.OLDEST) -> GoBinary:
    """The component's server binary, Debian's build of `suite` (or of the one release
    that builds it, ONLY_BUILT_IN)."""
    suite = ONLY_BUILT_IN.get(component, suite)
    return GoBinary(debian.binaries(component, suite=suite)[component])


def is_literal(binary: GoBinary, text: str) -> bool:
    """Whether `text` is a whole Go string literal in the binary, not just a substring.

    Go's linker stores string literals back to back in .rodata without separators or
    terminators, grouped by length: Go 1.19 sorts each group by content, Go 1.24 and later
    leave it in the order the packages were linked. So the bytes alone do not show where
    a literal begins or ends. The code does: it loads each literal's address with a LEAQ
    (or keeps it in a string header in data), and the next literal begins right where one
    ends. A whole literal therefore starts at an address something points at and ends at
    another such address; a substring of a longer literal (a typo that drops or adds a
    letter, 'seconds_tota') misses one of the two. test_is_literal_tells_whole_literals_
    from_substrings guards this on both layouts."""
    needle = text.encode()
    pos = binary.rodata.find(needle)
    while pos >= 0:
        addr = binary.rodata_addr + pos
        if binary.starts_object(addr) and binary.starts_object(addr + len(needle)):
            return True
        pos = binary.rodata.find(needle, pos + 1)
    return False


def is_scrape_series(binary: GoBinary, name: str) -> bool:
    """scrape.go keeps the names of its per-scrape series as byte slices with a trailing
    0xff byte (`[]byte("up" + "\xff")`) in .noptrdata: NUL-padded with Go 1.19, packed
    back to back with Go 1.24 and later. Either way the slice's data starts at an address
    its slice header points at."""
    needle = name.encode() + b"\xff"
    pos = binary.noptrdata.find(needle)
    while pos >= 0:
        if binary.starts_object(binary.noptrdata_addr + pos):
            return True
        pos = binary.noptrdata.find(needle, pos + 1)
    return False


def verify_metric_name(name: str, suite: str = debian.OLDEST) -> tuple[bool, str]:
    """Whether a component we deploy exposes `name`, judged from its Debian binary of `suite`.

    The heuristic, first match wins:
    1. application metrics (APP_METRICS) must be the names the shipped apps alert rules use;
    2. Prometheus' own per-scrape series (up, scrape_*) must be in the prometheus binary
       followed by the 0xff byte it appends to them (``is_scrape_series``); ALERTS must be
       a whole literal;
    3. names exporters build from run-time data (RUNTIME_NAMES) need their witness string;
       names node_exporter builds from the fields of a kernel file (KERNEL_FIELD_FAMILIES)
       need a listed field, the collector in the binary and, for vmstat and netstat, the
       field let through by the binary's default filter (``kernel_field_name``);
       names of components without a Debian build must be in UPSTREAM_NAMES, exactly;
    4. otherwise the prefix up to the first '_' names the component (NAMESPACES), and in
       that component's binary one of these must hold, where "literal" means a whole
       string literal (``is_literal``), not a substring:
       a. the full name is a literal;
       b. the name without "<namespace>_" is a literal of 4 characters or more (client
          libraries join Namespace and Name at run time; redis_exporter prepends "redis_");
       c. the name splits at an '_' into head and tail, both literals, the tail at least
          5 characters and not "total" alone (Go exporters write a counter's "_total"
          into its name literal: "seconds_total", "notifications_total"), and the head
          (with or without "<namespace>_") at least 3: the BuildFQName(namespace,
          subsystem, name) pattern of node_exporter and Prometheus, and
          postgres_exporter's "<view>_<column>" (pg_stat_database + xact_commit).
    A typo in any part of a name breaks the literal it belongs to, so the name fails.
    Known blind spot: a name assembled from two real literals that the exporter never
    combines passes. Example: pg_stat_database_deadlock (the metric ends in "deadlocks")
    passes because the postgres_exporter binary also holds an unrelated literal
    "deadlock". Truncations of a single literal ("connected_client") do fail.
    """
    if ":" in name:   # level:metric:operations, the result of a recording rule
        recorded = recorded_names()
        return (name in recorded, f"recorded by the shipped rule set {recorded.get(name)}"
                if name in recorded else "no shipped recording rule records it")
    if name.startswith("monstack_backup_"):
        return (re.search(rf'echo "{re.escape(name)}{{kind=', BACKUP_SCRIPT.read_text())
                is not None, "written by the backup script")
    if name in APP_METRICS:
        rules = APPS_RULES.read_text()
        return (re.search(rf"\b{re.escape(name)}\b", rules) is not None,
                "application metric used by apps.rules.yml")
    if name in SCRAPE_SERIES:
        return is_scrape_series(go_binary("prometheus", suite), name), "Prometheus scrape series"
    if name in RULE_SERIES:
        return is_literal(go_binary("prometheus", suite), name), "Prometheus rule series"
    if name in RUNTIME_NAMES:
        component, witnesses, why = RUNTIME_NAMES[name]
        rodata = go_binary(component, suite).rodata
        return (all(w in rodata for w in witnesses), f"built at run time: {why}")
    kernel = kernel_field_name(name, suite)
    if kernel is not None:
        return kernel
    if name in UPSTREAM_NAMES:
        return True, f"{UPSTREAM_NAMES[name]} metric, checked in its source (UPSTREAM_NAMES)"
    if name in SNMP_MODULE_NAMES:
        return True, f"snmp_exporter module {SNMP_MODULE_NAMES[name]} (SNMP_MODULE_NAMES)"
    if name in ALLOY_PIPELINE_NAMES:
        return True, f"Alloy's {ALLOY_PIPELINE_NAMES[name]} (ALLOY_PIPELINE_NAMES)"
    ns = name.split("_", 1)[0]
    if ns not in NAMESPACES or "_" not in name:
        return False, f"no deployed component exposes names starting with {ns!r}"
    binary = go_binary(NAMESPACES[ns], suite)
    rest = name[len(ns) + 1:]
    if is_literal(binary, name):
        return True, "literal"
    if len(rest) >= 4 and is_literal(binary, rest):
        return True, "namespace + literal"
    parts = name.split("_")
    for i in range(2, len(parts)):
        head, tail = "_".join(parts[:i]), "_".join(parts[i:])
        short_head = head[len(ns) + 1:]
        if len(tail) >= 5 and tail != "total" and len(short_head) >= 3 \
                and is_literal(binary, tail) \
                and (is_literal(binary, head) or is_literal(binary, short_head)):
            return True, f"literals {head!r} + {tail!r}"
    return False, f"not found in the {NAMESPACES[ns]} binary"


def dashboard_metric_names() -> dict[str, list[str]]:
    """metric name -> where it is used."""
    names: dict[str, list[str]] = {}
    for uid, where, expr in prometheus_exprs():
        for name in promql_metric_names(expr):
            names.setdefault(name, []).append(f"{uid} {where}")
    return names


@pytest.mark.parametrize("suite", BINARY_SUITES)
def test_metric_names_exist_in_exporters(suite):
    names = dashboard_metric_names()
    assert len(names) >= 30, sorted(names)
    unknown = {}
    for name, used in sorted(names.items()):
        ok, how = verify_metric_name(name, suite)
        if not ok:
            unknown[name] = (how, used)
    assert not unknown, "metric names no deployed component exposes:\n" + "\n".join(
        f"  {n}: {how}; used in {used}" for n, (how, used) in unknown.items())


def shipped_rule_metric_names() -> set[str]:
    names = set()
    for path in shipped_rule_sets().values():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                names |= promql_metric_names(rule["expr"])
    return names


def test_runtime_allow_list_is_used_and_small():
    """Every run-time name is used by a dashboard or a shipped rule (recording rules
    feed the dashboards), so the list cannot rot."""
    used = set(dashboard_metric_names()) | shipped_rule_metric_names()
    assert set(RUNTIME_NAMES) <= used, set(RUNTIME_NAMES) - used
    # mysqld_exporter names nearly all its series after rows of SHOW statements: its
    # seven here (each with the SHOW statement as witness) raised the bound from 10
    assert len(RUNTIME_NAMES) <= 16


def test_upstream_allow_list_is_used_and_small():
    """Every name of UPSTREAM_NAMES is used by a dashboard or a shipped alert rule."""
    used = set(dashboard_metric_names()) | shipped_rule_metric_names()
    assert set(UPSTREAM_NAMES) <= used, set(UPSTREAM_NAMES) - used
    # 12, 2 for Jaeger's and 1 for Pyroscope's (issue 21: no Debian build of either)
    assert len(UPSTREAM_NAMES) <= 15
    assert set(SNMP_MODULE_NAMES) <= used, set(SNMP_MODULE_NAMES) - used
    assert len(SNMP_MODULE_NAMES) <= 10
    assert set(ALLOY_PIPELINE_NAMES) <= used, set(ALLOY_PIPELINE_NAMES) - used


@pytest.mark.parametrize("suite", BINARY_SUITES)
def test_metric_names_of_alert_rules_verify_too(suite):
    """The verifier accepts the names used by the shipped (promtool-tested) alert rules."""
    names = set()
    for path in shipped_rule_sets().values():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                names |= promql_metric_names(rule["expr"])
    verdicts = {n: verify_metric_name(n, suite) for n in sorted(names)}
    bad = {n: how for n, (ok, how) in verdicts.items() if not ok}
    assert not bad, bad


@pytest.mark.parametrize("typo", [
    "node_cpu_second_total",
    "node_cpu_seconds_totals",
    "node_filesystem_avail_byte",
    "node_filesytem_size_bytes",
    "node_disk_read_byte_total",
    "node_memory_MemAvailabe_bytes",
    "node_network_recieve_bytes_total",
    "node_load16",
    "node_systemd_unit_states",
    "node_memory_Cache_bytes",                   # kernel-field families: a field typo,
    "node_memory_Cached",                        # a missing suffix,
    "node_vmstat_pgmajfaults",
    "node_vmstat_pgscan_kswapd",                 # a real field the default filter drops
    "node_netstat_Tcp_RetransSeg",
    "node_netstat_TcpExt_ListenOverflow",
    "node_sockstat_TCP_tws",
    "node_network_receive_error_total",
    "node_network_transmit_drops_total",
    "node_thermal_zone_temps",
    "node_hwmon_temp_celcius",
    "node_pressure_cpu_stalled_seconds_total",   # PSI reports no "full" line for cpu here
    "node_timex_ofset_seconds",
    "redis_connected_client",
    "redis_conected_clients",
    "redis_keyspace_hit_total",
    "redis_memory_used_byte",
    "redis_evicted_key_total",
    "pg_stat_activty_count",
    "pg_stat_database_xact_comit",
    "pg_stat_database_deadlocs",
    "pg_database_size_byte",
    "pg_lock_count",
    "prometheus_tsdb_head_serie",
    "prometheus_rule_evaluation_failure_total",
    "prometheus_config_last_reload_succesful",
    "alertmanager_notification_total",
    "alertmanager_alerts_recieved_total",
    "scrape_duration_second",
    "http_request_total",
    "ALERT",
    "mysqld_up",
    "mysql_global_status_threads_conected",
    "container_memory_working_set_byte",
    "container_cpu_usage_second_total",
    "container_spec_memory_limits_bytes",
    "loki_request_duration_seconds",
    "loki_write_dropped_entry_total",
    "instance:node_cpu_utilisation:rate1m",      # recorded names: only those shipped
    "instance:node_cpu_utilization:rate5m",
    "job:up:avg",
    "ifHCInOctet",
    "ifOperState",
    "snmp_scrape_pdus_return",
    "snmp_scrape_durations_seconds",
])
@pytest.mark.parametrize("suite", BINARY_SUITES)
def test_metric_name_checker_rejects_typos(typo, suite):
    ok, how = verify_metric_name(typo, suite)
    assert not ok, f"the metric name checker accepted the typo {typo!r} ({how})"


def test_kernel_field_names_follow_each_builds_default_filter():
    """netstat's default field filter let TCPOFOQueue through only from 1.6 on: the
    bookworm build (1.5.0) does not expose it, sid's (1.11.1) does."""
    name = "node_netstat_TcpExt_TCPOFOQueue"
    assert verify_metric_name(name, "sid")[0]
    ok, how = verify_metric_name(name, debian.OLDEST)
    assert not ok and "default filter" in how, how


@pytest.mark.parametrize("suite", BINARY_SUITES)
def test_is_literal_tells_whole_literals_from_substrings(suite):
    binary = go_binary("redis_exporter", suite)
    assert is_literal(binary, "connected_clients")
    # a prefix starts where the literal does: only its end gives it away
    assert b"connected_client" in binary.rodata and not is_literal(binary, "connected_client")
    assert b"onnected_clients" in binary.rodata and not is_literal(binary, "onnected_clients")


def _same_length_neighbours(binary: GoBinary, text: str, count: int = 3) -> list[bytes]:
    size, pos = len(text), binary.rodata.find(text.encode())
    return [binary.rodata[pos + k * size:pos + (k + 1) * size] for k in range(-count, count + 1)]


def test_is_literal_reads_the_unsorted_layout_of_newer_go():
    """Go 1.19 sorts literals of one length by content, Go 1.24 and later do not: a check
    that relied on sorted neighbours would miss every literal of the newer builds."""
    old, new = go_binary("redis_exporter", debian.OLDEST), go_binary("redis_exporter", "sid")
    old_run = _same_length_neighbours(old, "connected_clients")
    new_run = _same_length_neighbours(new, "connected_clients")
    assert old_run == sorted(old_run), old_run
    assert new_run != sorted(new_run), new_run
    # the neighbours are whole literals of the same length, each told apart by is_literal
    assert all(is_literal(new, chunk.decode()) for chunk in new_run), new_run
    assert is_literal(new, "connected_clients") and not is_literal(new, "connected_client")


def test_scrape_series_need_their_own_slice():
    """`up` + 0xff must start a byte slice of its own, in both layouts of .noptrdata."""
    for suite in BINARY_SUITES:
        binary = go_binary("prometheus", suite)
        assert is_scrape_series(binary, "up")
        assert b"amples_scraped\xff" in binary.noptrdata
        assert not is_scrape_series(binary, "amples_scraped")


# ==================================================================== LogQL

LOGQL_RANGE_FUNCTIONS = {"count_over_time", "rate", "bytes_over_time", "bytes_rate",
                         "absent_over_time", "sum_over_time", "avg_over_time", "max_over_time",
                         "min_over_time", "first_over_time", "last_over_time",
                         "stdvar_over_time", "stddev_over_time", "quantile_over_time"}
LOGQL_AGGREGATIONS = {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk",
                      "bottomk", "sort", "sort_desc"}
LOGQL_PARSERS = {"json", "logfmt", "unpack", "pattern", "regexp", "line_format",
                 "label_format", "decolorize", "drop", "keep"}
_LOGQL_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<duration>\d+(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h))*)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)
  | (?P<op>\|=|\|~|!=|!~|=~|==|>=|<=|[|=<>{}()\[\],+\-*/%])
""", re.X)


class LogQLError(ValueError):
    pass


def _logql_tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _LOGQL_TOKEN.match(expr, pos)
        if not m:
            raise LogQLError(f"cannot read {expr[pos:pos + 20]!r} (unterminated string?)")
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    return s[1:-1] if s.startswith("`") else json.loads(s)


def _check_regex(pattern: str, what: str) -> None:
    """LogQLError("<what>: <re's reason>") when `pattern` is no valid regex."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise LogQLError(f"{what}: {exc}") from None


class _LogQLParser:
    """Recursive descent over the LogQL subset our dashboards use:

        query     := log_query | metric
        log_query := selector pipeline*
        selector  := '{' matcher (',' matcher)* '}'
        matcher   := label ('=' | '!=' | '=~' | '!~') string
        pipeline  := ('|=' | '!=' | '|~' | '!~') string | '|' parser [string]
        metric    := term (binop term)*
        term      := number | '(' metric ')' | range_fn | aggregation
        range_fn  := FUNC '(' log_query '[' duration ']' ')'   (range also right after selector)
        aggregation := AGG [grouping] '(' [number ','] metric ')' [grouping]
    """

    def __init__(self, expr: str):
        self.toks = _logql_tokens(expr)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("eof", "")

    def take(self, kind=None, value=None):
        tok = self.peek()
        if (kind and tok[0] != kind) or (value and tok[1] != value):
            raise LogQLError(f"expected {value or kind}, found {tok[1] or 'end of query'!r}")
        self.i += 1
        return tok

    def parse(self) -> str:
        kind = "log" if self.peek()[1] == "{" else "metric"
        self.log_query() if kind == "log" else self.metric()
        if self.peek()[0] != "eof":
            raise LogQLError(f"unexpected {self.peek()[1]!r}")
        return kind

    def selector(self):
        self.take("op", "{")
        matchers = []
        while True:
            label = self.take("ident")[1]
            op = self.take("op")[1]
            if op not in ("=", "!=", "=~", "!~"):
                raise LogQLError(f"bad matcher operator {op!r} after {label}")
            value = _unquote(self.take("string")[1])
            if "~" in op:
                _check_regex(value, f"bad regex {value!r} for {label}")
            matchers.append((label, op, value))
            if self.peek()[1] == ",":
                self.take()
                continue
            self.take("op", "}")
            break
        # Loki refuses selectors whose every matcher also matches the empty string.
        if not any((op == "=" and v) or (op == "=~" and not re.fullmatch(v, ""))
                   for _, op, v in matchers):
            raise LogQLError("the selector needs a matcher that does not match the empty value")

    def pipeline(self):
        while True:
            kind, value = self.peek()
            if value in ("|=", "!=", "|~", "!~"):
                self.take()
                pattern = _unquote(self.take("string")[1])
                if "~" in value:
                    _check_regex(pattern, f"bad line filter regex {pattern!r}")
            elif value == "|":
                self.take()
                stage = self.take("ident")[1]
                if stage not in LOGQL_PARSERS:
                    raise LogQLError(f"unknown pipeline stage {stage!r}")
                if self.peek()[0] == "string":
                    self.take()
            else:
                return

    def log_query(self, allow_range=False) -> bool:
        self.selector()
        ranged = False
        if allow_range and self.peek()[1] == "[":
            self.range()
            ranged = True
        self.pipeline()
        if allow_range and not ranged and self.peek()[1] == "[":
            self.range()
            ranged = True
        return ranged

    def range(self):
        self.take("op", "[")
        self.take("duration")
        self.take("op", "]")

    def grouping(self):
        if self.peek()[1] in ("by", "without"):
            self.take()
            self.take("op", "(")
            while self.peek()[1] != ")":
                self.take("ident")
                if self.peek()[1] == ",":
                    self.take()
            self.take("op", ")")

    def term(self):
        kind, value = self.peek()
        if kind == "number":
            self.take()
        elif value == "(":
            self.take()
            self.metric()
            self.take("op", ")")
        elif kind == "ident" and value in LOGQL_RANGE_FUNCTIONS:
            self.take()
            self.take("op", "(")
            if not self.log_query(allow_range=True):
                raise LogQLError(f"{value}() needs a range such as [5m]")
            self.take("op", ")")
        elif kind == "ident" and value in LOGQL_AGGREGATIONS:
            self.take()
            self.grouping()
            self.take("op", "(")
            if self.peek()[0] == "number" and self.peek(1)[1] == ",":
                self.take()
                self.take()
            self.metric()
            self.take("op", ")")
            self.grouping()
        elif kind == "ident":
            raise LogQLError(f"unknown function {value!r}")
        else:
            raise LogQLError(f"unexpected {value or 'end of query'!r}")

    def metric(self):
        self.term()
        while self.peek()[1] in ("+", "-", "*", "/", "%", ">", "<", ">=", "<=", "==", "!="):
            self.take()
            if self.peek()[1] == "bool":
                self.take()
            self.term()


def check_logql(expr: str) -> str:
    """Validate the structure of a LogQL query; return "log" or "metric".

    NOT a full LogQL parser: it accepts the subset described in _LogQLParser (stream
    selector with label matchers, line filters, a few parser stages, range functions,
    aggregations with by/without, arithmetic) and checks balanced brackets, terminated
    strings, matcher operators, that regexes compile (with Python's re, close to Go's RE2
    for simple patterns), that range functions have a [range], and that the selector has
    a matcher that cannot match the empty value (Loki refuses the query otherwise).
    Raises LogQLError."""
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for kind, value in _logql_tokens(expr):
        if kind == "op" and value in "([{":
            stack.append(value)
        elif kind == "op" and value in ")]}":
            if not stack or stack.pop() != pairs[value]:
                raise LogQLError(f"unbalanced {value!r}")
    if stack:
        raise LogQLError(f"unclosed {stack[-1]!r}")
    return _LogQLParser(expr).parse()


def loki_queries():
    """(uid, where, expression with the variables' All values, panel type or 'variable')."""
    out = []
    for path in DASHBOARD_FILES:
        model = load(path)
        for panel in all_panels(model):
            if ds_uid(panel.get("datasource")) != "loki":
                continue
            for t in panel.get("targets") or []:
                out.append((model["uid"], f"panel {panel['id']} {panel['title']!r}",
                            substitute(t["expr"], model, all_values=True), panel["type"]))
        for name, var in variables(model).items():
            if ds_uid(var.get("datasource")) == "loki":
                inner = unwrap_variable_query(variable_query(var))
                if inner:
                    out.append((model["uid"], f"variable ${name}",
                                substitute(inner, model, all_values=True), "variable"))
    return out


def test_loki_queries_found():
    found = loki_queries()
    assert len(found) >= 4, found
    assert {t for *_, t in found} >= {"logs", "timeseries", "variable"}


def test_logql_structure():
    problems = []
    for uid, where, expr, panel_type in loki_queries():
        try:
            kind = check_logql(expr)
        except LogQLError as exc:
            problems.append(f"{uid} {where}: {exc}: {expr}")
            continue
        want = {"logs": "log", "variable": "log"}.get(panel_type, "metric")
        if kind != want:
            problems.append(f"{uid} {where}: a {panel_type} panel needs a {want} query: {expr}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("good", [
    '{host=~"a|b", unit=~".*"}',
    '{host="x"} |~ "(?i)error" != "debug" | logfmt',
    'sum by (level) (count_over_time({host=~".+"}[5m]))',
    'sum(count_over_time({host="a"} |= "x" [1h])) / 2',
    'topk(5, sum by (unit) (rate({host="a"}[5m])))',
])
def test_logql_checker_accepts(good):
    check_logql(good)


@pytest.mark.parametrize("broken", [
    '{host=~"a"',                                          # unclosed brace
    '{host=~"a"} |~ "(?i)error',                           # unterminated string
    '{host~"a"}',                                          # bad operator
    '{}',                                                  # no matcher
    '{host=~".*", unit=~".*"}',                            # every matcher matches ""
    '{host=~"("}',                                         # bad regex
    'count_over_time({host="a"})',                         # range function without range
    'sum by (level) (count_over_tim({host="a"}[5m]))',     # unknown function
    'sum by (level (count_over_time({host="a"}[5m]))',     # unbalanced parenthesis
    '{host="a"} | jsn',                                    # unknown stage
    'sum(count_over_time({host="a"}[5x]))',                # bad duration
])
def test_logql_checker_rejects(broken):
    with pytest.raises(LogQLError):
        check_logql(broken)
