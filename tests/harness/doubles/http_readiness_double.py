"""HTTP READINESS TEST DOUBLE: this is NOT Loki, NOT Alloy and NOT cAdvisor.

It stands in for those three programs on the test fleet, where their real release files
cannot be downloaded. It stores no log, ships no log and measures no container. What it
does is what the deploy relies on:

* `loki -version`, `alloy --version` and `cadvisor -version` say TEST DOUBLE and name
  the version the double stands in for (TEST_DOUBLE_PUBLISHED_AS, set by its launcher);
* it takes the command line the deploy's units give the real program, and refuses an
  unknown flag as the real one would (Go's flag package: exit 2; Alloy's cobra: exit 1),
  so a typo in a unit's ExecStart fails the service as it would in production;
* `loki -config.file=F -verify-config` parses F as YAML (a subset: block mappings and
  lists, plain, quoted and JSON-style scalars) and exits 0, or 1 naming the problem;
  `alloy fmt F` checks that F's strings end and its brackets balance, and exits 0 or 1;
  `alloy validate F` does the same check (the real one also checks the components'
  arguments) and exits 0 silently, or 1 with "Error: validation failed";
* running, it listens where the real program would (Loki: server.http_listen_address and
  http_listen_port of its config file; Alloy: --server.http.listen-addr; cAdvisor:
  --listen_ip and --port) and answers its readiness path (/ready, /-/ready, /healthz)
  and /metrics with one trivial metric, monstack_test_double_info;
* where the real program writes (Loki: its path_prefix; Alloy: --storage.path) it writes
  a marker file, so a unit whose sandbox forbids that write fails here too; Alloy
  re-reads its config on SIGHUP, as the real one does;
* Loki accepts OTLP logs (POST /otlp/v1/logs: 204) and stores nothing;
* Alloy's application pipeline (alloy_otlp), from the components of its config: with an
  otelcol.receiver.otlp block it listens on the block's http endpoint and forwards each
  POST /v1/traces, /v1/metrics, /v1/logs body verbatim (same Content-Type and
  Content-Encoding) to the URL of every otelcol.exporter.otlphttp its output reaches
  (through otelcol.processor.batch, which does not batch here: each request is forwarded
  as it comes), with the exporter's otelcol.auth.basic login and tls ca_file. Metrics
  that reach an otelcol.exporter.prometheus are decoded (OTLP protobuf or JSON),
  translated to Prometheus samples as the double reproduces Alloy's converter with its
  defaults (http_request_duration in s -> http_request_duration_seconds_bucket{le},
  _sum, _count; a monotonic cumulative sum -> _total; attribute dots -> underscores;
  job = service.namespace/service.name, instance = service.instance.id, otel_scope_name
  and otel_scope_version labels, target_info per resource; delta temporality dropped;
  gauges, sums and explicit-bucket histograms only) and written as a Prometheus
  remote-write 1.0 request (protobuf WriteRequest, snappy block format with literal
  elements only, the real headers) to every endpoint of the prometheus.remote_write its
  forward_to names, with basic_auth (password_file) and tls_config ca_file; counted as
  prometheus_remote_storage_samples_total / _samples_failed_total (4xx) /
  _samples_retries_total (5xx or no answer: the real one retries from its WAL, the
  double drops) with component_id, remote_name and url. It answers
  the application 200 once the body decodes, as the real receiver does once the data is
  in the pipeline, whether the export then succeeds or not. On the grpc endpoint it
  ONLY ACCEPTS CONNECTIONS (no gRPC is spoken: a gRPC exporter gets no answer). With a
  pyroscope.receive_http block it listens on its http listen_address:listen_port and
  forwards POST /ingest and /push.v1.PusherService/Push (path, query and body) to every
  pyroscope.write endpoint url its forward_to names, answering the backend's status.
  It counts spans, metric points and log records received (refused: a body that does
  not decode), sent and failed per exporter, and profiles sent and dropped, and shows
  them on /metrics under Alloy's own names (otelcol_receiver_accepted_spans_total,
  otelcol_exporter_sent_spans_total, otelcol_exporter_send_failed_spans_total, ...;
  grafana/alloy v1.17.1 operations/alloy-mixin/rendered/alerts/alloy_otelcol.yaml) with
  the label component_id. `alloy validate` also parses the config's blocks and checks
  that every component a reference names is declared and that the arguments the deploy
  relies on are there.

Standard library only (fleet hosts have python3, not PyYAML). It is installed as a
single file named like the real binary: a /bin/sh launcher line that execs python3 on
the file itself, double_common.py's text (the YAML subset, Go's and cobra's command
lines, protobuf, HTTP), then this (see tests/harness/doubles/__init__.py, `launcher`). Run directly:

    python3 http_readiness_double.py loki -config.file=/etc/loki/loki.yaml
"""

import base64
import decimal
import gzip
import hashlib
import json
import os
import ssl
import urllib.error
import urllib.request
import zlib
import re
import signal
import socket
import struct
import sys
import threading
import time

if "DOUBLE_COMMON" not in globals():   # imported, or run directly: not the launcher's one file
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    from double_common import (QuietHandler, UsageError, cobra_flags, encode_bytes,
                               encode_varint, go_flags, http_server, listening_socket,
                               parse_yaml, proto_wire)

PROGRAMS = ("loki", "alloy", "cadvisor")

# Flags each real program has (checked in their sources): name -> takes a value.
LOKI_FLAGS = {"config.file": True, "verify-config": False, "config.expand-env": False,
              "print-config-stderr": False, "log-config-reverse-order": False,
              "log.level": True, "target": True, "version": False}
ALLOY_RUN_FLAGS = {"server.http.listen-addr": True, "server.http.memory-addr": True,
                   "server.http.ui-path-prefix": True, "server.http.enable-pprof": False,
                   "storage.path": True, "disable-reporting": False, "stability.level": True,
                   "config.format": True, "feature.community-components.enabled": False}
CADVISOR_FLAGS = {"listen_ip": True, "port": True, "docker_only": False,
                  "housekeeping_interval": True, "max_housekeeping_interval": True,
                  "disable_metrics": True, "enable_metrics": True,
                  "store_container_labels": False, "whitelisted_container_labels": True,
                  "prometheus_endpoint": True, "url_base_prefix": True, "profiling": False,
                  "max_procs": True, "v": True, "logtostderr": False, "version": False}
# cAdvisor v0.57.0 container.AllMetrics: --disable_metrics refuses anything else
CADVISOR_METRIC_KINDS = {
    "cpu", "sched", "percpu", "memory", "memory_numa", "cpuLoad", "diskIO", "disk",
    "network", "tcp", "advtcp", "udp", "app", "process", "hugetlb", "perf_event",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset", "oom_event", "pressure"}
# `alloy validate` flags (grafana/alloy v1.17.1 internal/alloycli/cmd_validate.go)
ALLOY_VALIDATE_FLAGS = {"config.format": True, "config.bypass-conversion-errors": False,
                        "config.extra-args": True, "stability.level": True,
                        "feature.community-components.enabled": False}
REAL_NAMES = {"loki": "Loki", "alloy": "Alloy", "cadvisor": "cAdvisor"}
READY_PATHS = {"loki": "/ready", "alloy": "/-/ready", "cadvisor": "/healthz"}
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


# -- Alloy's syntax, roughly ---------------------------------------------------------------------
_ALLOY_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|//[^\n]*|/\*.*?\*/|[{}\[\]()]|["`]|/\*',
                          re.S)


def check_alloy(text: str) -> None:
    """Strings and comments terminated, brackets balanced (what `alloy fmt` refuses first)."""
    stack = []
    pairs = {"}": "{", "]": "[", ")": "("}
    for m in _ALLOY_TOKEN.finditer(text):
        tok = m.group()
        line = text.count("\n", 0, m.start()) + 1
        if tok in ('"', "`", "/*"):
            raise ValueError(f"{line}: unterminated string or comment")
        if tok in "{[(":
            stack.append((tok, line))
        elif tok in pairs:
            if not stack or stack.pop()[0] != pairs[tok]:
                raise ValueError(f"{line}: unexpected {tok}")
    if stack:
        raise ValueError(f"{stack[-1][1]}: {stack[-1][0]} is never closed")


# -- Alloy's blocks, parsed ------------------------------------------------------------------------
class Ref(str):
    """A reference to another component's export (otelcol.processor.batch.apps.input)."""


_ALLOY_LEX = re.compile(r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}\[\](),=])
""", re.S | re.X)


def _alloy_tokens(text: str) -> list[tuple[str, str, int]]:
    out, i = [], 0
    while i < len(text):
        m = _ALLOY_LEX.match(text, i)
        if not m:
            raise ValueError(f"{text.count(chr(10), 0, i) + 1}: unexpected {text[i]!r}")
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group(), text.count("\n", 0, i) + 1))
        i = m.end()
    return out


class _AlloyParser:
    def __init__(self, text: str):
        self.toks = _alloy_tokens(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "", -1)

    def take(self, value=None):
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"{tok[2]}: expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def body(self, closing=None) -> dict:
        """Attributes (name -> value) and blocks (name -> [(label, body), ...])."""
        out = {}
        while self.peek()[1] != (closing or "") and self.peek()[0] != "eof":
            kind, name, line = self.take()
            if kind != "ident":
                raise ValueError(f"{line}: expected an attribute or block name, got {name!r}")
            if self.peek()[1] == "=":
                self.take("=")
                if name in out:
                    raise ValueError(f"{line}: attribute {name!r} set twice")
                out[name] = self.expr()
                continue
            label = None
            if self.peek()[0] == "string":
                label = json.loads(self.take()[1])
            self.take("{")
            inner = self.body("}")
            self.take("}")
            out.setdefault(name, Blocks()).append((label, inner))
        if closing is None and self.peek()[0] != "eof":
            raise ValueError(f"{self.peek()[2]}: unexpected {self.peek()[1]!r}")
        return out

    def expr(self):
        kind, value, line = self.take()
        if kind == "string":
            return json.loads(value)
        if kind == "raw":
            return value[1:-1]
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self.peek()[1] == "(":   # a function call: its value is not known here
                self.take("(")
                while self.peek()[1] != ")":
                    self.expr()
                    if self.peek()[1] == ",":
                        self.take(",")
                self.take(")")
                return None
            return Ref(value)
        if value == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return items
        if value == "{":
            obj = {}
            while self.peek()[1] != "}":
                key = self.take()
                obj[json.loads(key[1]) if key[0] == "string" else key[1]] = (
                    self.take("=") and self.expr())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
            return obj
        raise ValueError(f"{line}: unexpected {value!r}")


class Blocks(list):
    """The blocks of one name in a body: [(label, body), ...]."""


def parse_alloy(text: str) -> dict[str, dict]:
    """The components of a config: id (name.label) -> body."""
    check_alloy(text)
    components = {}
    for name, blocks in _AlloyParser(text).body().items():
        if not isinstance(blocks, Blocks):
            raise ValueError(f"top-level attribute {name!r}: only components belong there")
        for label, body in blocks:
            cid = f"{name}.{label}" if label is not None else name
            if cid in components:
                raise ValueError(f"component {cid} declared twice")
            components[cid] = body
    return components


def _refs(value):
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Blocks):
        for _, body in value:
            yield from _refs(body)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs(v)


COMPONENT_NAMESPACES = ("otelcol", "pyroscope", "local", "loki", "discovery", "prometheus")
# what `alloy validate` refuses missing (grafana/alloy v1.17.1 docs: Required "yes")
REQUIRED = {"otelcol.receiver.otlp": ("block", "output"),
            "otelcol.processor.batch": ("block", "output"),
            "otelcol.exporter.otlphttp": ("block", "client"),
            "otelcol.exporter.prometheus": ("attribute", "forward_to"),
            "prometheus.remote_write": ("block", "endpoint"),
            "pyroscope.receive_http": ("attribute", "forward_to"),
            "local.file": ("attribute", "filename")}


def validate_alloy(text: str) -> dict[str, dict]:
    """Parse the config; every reference names a declared component; the arguments the
    deploy relies on are there. Returns the components."""
    components = parse_alloy(text)
    for cid, body in components.items():
        for ref in _refs(body):
            if ref.split(".")[0] in COMPONENT_NAMESPACES and not any(
                    ref.startswith(other + ".") for other in components):
                raise ValueError(f"{cid}: {ref} names no declared component")
        kind = cid.rsplit(".", 1)[0]
        need = REQUIRED.get(kind)
        if need and need[1] not in body:
            raise ValueError(f"{cid}: missing required {need[0]} {need[1]!r}")
        if kind == "otelcol.exporter.otlphttp" and "endpoint" not in _first_block(body, "client"):
            raise ValueError(f"{cid}: client: missing required attribute 'endpoint'")
        if kind in ("pyroscope.write", "prometheus.remote_write"):
            for _, endpoint in body.get("endpoint", []):
                if "url" not in endpoint:
                    raise ValueError(f"{cid}: endpoint: missing required attribute 'url'")
    return components


def _first_block(body: dict, name: str) -> dict:
    blocks = body.get(name) or []
    return blocks[0][1] if blocks else {}


def _component_of(ref: str, components: dict) -> str:
    return next((c for c in components if ref.startswith(c + ".")), ref)


SIGNALS = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}


class Target:
    """Where one exporter sends one signal."""

    def __init__(self, cid: str, url: str, login=None, ca_file=None):
        self.cid, self.url, self.login, self.ca_file = cid, url, login, ca_file

    def context(self):
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None


def _login(auth_ref, components) -> tuple[str, str] | None:
    if not auth_ref:
        return None
    body = components.get(_component_of(auth_ref, components), {})
    client = _first_block(body, "client_auth")
    username = body.get("username", client.get("username", ""))
    password = body.get("password", client.get("password", ""))
    if isinstance(password, Ref):   # local.file.<label>.content: the file, verbatim
        source = components.get(_component_of(password, components), {})
        with open(source["filename"]) as fh:
            password = fh.read()
    return username, password


def otlp_targets(components: dict) -> dict[str, list[Target]]:
    """signal -> the exporters its data reaches from the receivers (through processors)."""
    receivers = [c for c in components if c.startswith("otelcol.receiver.otlp.")]
    out = {sig: [] for sig in SIGNALS}
    for sig in SIGNALS:
        todo = [r for rc in receivers for r in _first_block(components[rc], "output").get(sig, [])]
        seen = set()
        while todo:
            cid = _component_of(todo.pop(0), components)
            if cid in seen:
                continue
            seen.add(cid)
            body = components.get(cid, {})
            if cid.startswith("otelcol.exporter.prometheus.") and sig == "metrics":
                out[sig].append(RemoteWrite(cid, components))
            elif cid.startswith("otelcol.exporter.otlphttp."):
                client = _first_block(body, "client")
                url = body.get(f"{sig}_endpoint") or (
                    client["endpoint"].rstrip("/") + f"/v1/{sig}")
                out[sig].append(Target(cid, url, _login(client.get("auth"), components),
                                          _first_block(client, "tls").get("ca_file")))
            else:
                todo += _first_block(body, "output").get(sig, [])
    return out


# OTLP protobuf: the repeated field holding each level, down to the items counted
# (opentelemetry-proto: collector/*/v1/*_service.proto, trace, metrics and logs .proto)
def _sub(buf: bytes, number: int) -> list[bytes]:
    return [data for n, wire, data in proto_wire(buf) if n == number and wire == 2]


METRIC_DATA = (5, 7, 9, 10, 11)   # gauge, sum, histogram, exponential_histogram, summary
JSON_LEVELS = {"traces": ("resourceSpans", "scopeSpans", "spans"),
               "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
               "logs": ("resourceLogs", "scopeLogs", "logRecords")}


def count_items(sig: str, body: bytes, content_type: str) -> int:
    """Spans, metric data points or log records in an OTLP/HTTP request body."""
    if "json" in content_type:
        outer, inner, leaf = JSON_LEVELS[sig]
        items = [x for r in json.loads(body).get(outer, [])
                 for s in r.get(inner, []) for x in s.get(leaf, [])]
        if sig != "metrics":
            return len(items)
        return sum(len(m[k].get("dataPoints", [])) for m in items for k in
                   ("gauge", "sum", "histogram", "exponentialHistogram", "summary") if k in m)
    total = 0
    for resource in _sub(body, 1):
        for scope in _sub(resource, 2):
            for item in _sub(scope, 2):
                if sig != "metrics":
                    total += 1
                    continue
                total += sum(len(_sub(data, 1)) for number, wire, data in proto_wire(item)
                             if number in METRIC_DATA and wire == 2)
    return total




# -- otelcol.exporter.prometheus -> prometheus.remote_write ------------------------------------
# The double's reproduction of what Alloy does with applications' OTLP metrics (grafana/alloy
# v1.17.1 internal/component/otelcol/exporter/prometheus/internal/convert/convert.go with the
# component's defaults: add_metric_suffixes, include_target_info and include_scope_labels
# on, resource_to_telemetry_conversion off; names as opentelemetry-collector-contrib
# pkg/translator/prometheus BuildCompliantName makes them), then a Prometheus remote-write
# 1.0 request (prompb.WriteRequest, snappy) to every endpoint of prometheus.remote_write.
# It covers gauges, sums and explicit-bucket histograms; exponential histograms, summaries
# and exemplars are left out (the example service sends none).
def _message(buf: bytes) -> dict:
    """number -> [values] of a message's fields."""
    out: dict[int, list] = {}
    for number, _, value in proto_wire(buf):
        out.setdefault(number, []).append(value)
    return out


def _one(fields: dict, number: int, default=None):
    values = fields.get(number)
    return values[-1] if values else default


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value or "")


def _double(raw: bytes) -> float:
    return struct.unpack("<d", raw)[0]


def _fixed64s(values: list) -> list[int]:
    """A repeated fixed64: packed (one length-delimited run) or one field each."""
    out = []
    for v in values:
        out += [struct.unpack_from("<Q", v, k)[0] for k in range(0, len(v), 8)]
    return out


def _doubles(values: list) -> list[float]:
    out = []
    for v in values:
        out += [struct.unpack_from("<d", v, k)[0] for k in range(0, len(v), 8)]
    return out


def _any_value(buf: bytes) -> str:
    """AnyValue as text (the converter's AsString): strings, bools, ints, doubles."""
    f = _message(buf)
    if 1 in f:
        return _text(_one(f, 1))
    if 2 in f:
        return "true" if _one(f, 2) else "false"
    if 3 in f:
        v = _one(f, 3)
        return str(v - (1 << 64) if v >= 1 << 63 else v)
    if 4 in f:
        return repr(_double(_one(f, 4)))
    return ""


def _attributes(values: list) -> dict[str, str]:
    out = {}
    for kv in values:
        f = _message(kv)
        out[_text(_one(f, 1, b""))] = _any_value(_one(f, 2, b""))
    return out


CUMULATIVE = 2   # AggregationTemporality: 1 delta, 2 cumulative


def _number_point(buf: bytes) -> dict:
    f = _message(buf)
    if 4 in f:
        value = _double(_one(f, 4))
    else:
        value = float(struct.unpack("<q", _one(f, 6, b"\0" * 8))[0])
    return {"attributes": _attributes(f.get(7, [])),
            "time_unix_nano": struct.unpack("<Q", _one(f, 3, b"\0" * 8))[0], "value": value}


def _histogram_point(buf: bytes) -> dict:
    f = _message(buf)
    return {"attributes": _attributes(f.get(9, [])),
            "time_unix_nano": struct.unpack("<Q", _one(f, 3, b"\0" * 8))[0],
            "count": struct.unpack("<Q", _one(f, 4, b"\0" * 8))[0],
            "sum": _double(_one(f, 5)) if 5 in f else None,
            "bucket_counts": _fixed64s(f.get(6, [])),
            "explicit_bounds": _doubles(f.get(7, []))}


def decode_metrics(body: bytes) -> list[dict]:
    """An OTLP ExportMetricsServiceRequest (protobuf) as resources -> scopes -> metrics
    (opentelemetry-proto collector/metrics/v1/metrics_service.proto, metrics/v1/metrics.proto)."""
    resources = []
    for rm in _message(body).get(1, []):
        rf = _message(rm)
        resource = {"attributes": _attributes(_message(_one(rf, 1, b"")).get(1, [])),
                    "scopes": []}
        for sm in rf.get(2, []):
            sf = _message(sm)
            scope = _message(_one(sf, 1, b""))
            metrics = []
            for raw in sf.get(2, []):
                mf = _message(raw)
                metric = {"name": _text(_one(mf, 1, b"")), "unit": _text(_one(mf, 3, b""))}
                if 5 in mf:
                    data = _message(_one(mf, 5))
                    metric.update(kind="gauge", points=[_number_point(p) for p in data.get(1, [])])
                elif 7 in mf:
                    data = _message(_one(mf, 7))
                    metric.update(kind="sum", temporality=_one(data, 2, 0),
                                  monotonic=bool(_one(data, 3, 0)),
                                  points=[_number_point(p) for p in data.get(1, [])])
                elif 9 in mf:
                    data = _message(_one(mf, 9))
                    metric.update(kind="histogram", temporality=_one(data, 2, 0),
                                  points=[_histogram_point(p) for p in data.get(1, [])])
                else:
                    metric.update(kind="other", points=[])
                metrics.append(metric)
            resource["scopes"].append({"name": _text(_one(scope, 1, b"")),
                                       "version": _text(_one(scope, 2, b"")),
                                       "metrics": metrics})
        resources.append(resource)
    return resources


def _json_attributes(items: list) -> dict[str, str]:
    out = {}
    for kv in items or []:
        value = kv.get("value") or {}
        for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
            if key in value:
                v = value[key]
                out[kv["key"]] = (("true" if v else "false") if key == "boolValue"
                                  else str(v))
                break
        else:
            out[kv["key"]] = ""
    return out


def decode_metrics_json(body: bytes) -> list[dict]:
    """The same from OTLP/JSON (camelCase fields, 64-bit integers as strings)."""
    def number(p):
        value = float(p["asDouble"]) if "asDouble" in p else float(p.get("asInt", 0))
        return {"attributes": _json_attributes(p.get("attributes")),
                "time_unix_nano": int(p.get("timeUnixNano", 0)), "value": value}

    def histogram(p):
        return {"attributes": _json_attributes(p.get("attributes")),
                "time_unix_nano": int(p.get("timeUnixNano", 0)), "count": int(p.get("count", 0)),
                "sum": float(p["sum"]) if "sum" in p else None,
                "bucket_counts": [int(c) for c in p.get("bucketCounts", [])],
                "explicit_bounds": [float(b) for b in p.get("explicitBounds", [])]}

    resources = []
    for rm in json.loads(body).get("resourceMetrics", []):
        resource = {"attributes": _json_attributes((rm.get("resource") or {}).get("attributes")),
                    "scopes": []}
        for sm in rm.get("scopeMetrics", []):
            metrics = []
            for m in sm.get("metrics", []):
                metric = {"name": m.get("name", ""), "unit": m.get("unit", "")}
                if "gauge" in m:
                    metric.update(kind="gauge", points=[number(p) for p in m["gauge"].get("dataPoints", [])])
                elif "sum" in m:
                    metric.update(kind="sum", temporality=int(m["sum"].get("aggregationTemporality", 0)),
                                  monotonic=bool(m["sum"].get("isMonotonic")),
                                  points=[number(p) for p in m["sum"].get("dataPoints", [])])
                elif "histogram" in m:
                    metric.update(kind="histogram",
                                  temporality=int(m["histogram"].get("aggregationTemporality", 0)),
                                  points=[histogram(p) for p in m["histogram"].get("dataPoints", [])])
                else:
                    metric.update(kind="other", points=[])
                metrics.append(metric)
            scope = sm.get("scope") or {}
            resource["scopes"].append({"name": scope.get("name", ""),
                                       "version": scope.get("version", ""), "metrics": metrics})
        resources.append(resource)
    return resources


# UCUM units -> the words of Prometheus names (pkg/translator/prometheus unitMap, perUnitMap)
UNIT_WORDS = {"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
              "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
              "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
              "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters",
              "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
              "Cel": "celsius", "Hz": "hertz", "%": "percent"}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week",
                  "mo": "month", "y": "year"}


def _unit_word(unit: str, table: dict) -> str:
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()   # annotations ({request}) name nothing
    if not unit or unit == "1":
        return ""
    return table.get(unit, unit)


def prometheus_name(metric: dict) -> str:
    """BuildCompliantName with suffixes: the name's words, then the unit's (s: seconds,
    a/b: a_per_b, {annotation}: nothing), _total for a monotonic sum, _ratio for a gauge
    of unit 1."""
    words = [w for w in re.split(r"[^a-zA-Z0-9:]+", metric["name"]) if w]
    unit, _, per = metric["unit"].partition("/")
    main = [w for w in re.split(r"[^a-zA-Z0-9:]+", _unit_word(unit, UNIT_WORDS)) if w]
    per_word = [w for w in re.split(r"[^a-zA-Z0-9:]+", _unit_word(per, PER_UNIT_WORDS)) if w]
    for w in main:
        if w not in words:
            words.append(w)
    if per_word and "per" not in words:
        words += ["per", *per_word]
    if metric["kind"] == "sum" and metric.get("monotonic"):
        words = [w for w in words if w != "total"] + ["total"]
    if metric["kind"] == "gauge" and metric["unit"] == "1" and "ratio" not in words:
        words.append("ratio")
    name = "_".join(words)
    return f"_{name}" if name[:1].isdigit() else name


def prometheus_label(key: str) -> str:
    """NormalizeLabel: invalid characters (the dots) become _; a leading digit or single
    underscore gets key_ / key."""
    label = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    if label[:1].isdigit():
        return "key_" + label
    if label.startswith("_") and not label.startswith("__"):
        return "key" + label
    return label


IDENTIFYING = ("service.name", "service.namespace", "service.instance.id")


def _format_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): the shortest exact decimal, no exponent."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(decimal.Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def to_samples(resources: list[dict], now_ms: int) -> list[tuple[dict, float, int]]:
    """(labels, value, timestamp ms) of every sample Alloy's converter writes."""
    out = []
    for resource in resources:
        attrs = resource["attributes"]
        job = attrs.get("service.name", "")
        if job and attrs.get("service.namespace"):
            job = f"{attrs['service.namespace']}/{job}"
        base = {"job": job, "instance": attrs.get("service.instance.id", "")}
        info = {"__name__": "target_info", **base}
        for key, value in attrs.items():
            if key not in IDENTIFYING:
                info[prometheus_label(key)] = value
        out.append((info, 1.0, now_ms))
        for scope in resource["scopes"]:
            scoped = {**base, "otel_scope_name": scope["name"],
                      "otel_scope_version": scope["version"]}
            for metric in scope["metrics"]:
                out += _metric_samples(metric, scoped)
    # labels.Builder.Set with an empty value removes the label
    return [({k: v for k, v in labels.items() if v != ""}, value, ts)
            for labels, value, ts in out]


def _metric_samples(metric: dict, scoped: dict) -> list:
    if metric["kind"] in ("sum", "histogram") and metric.get("temporality") != CUMULATIVE:
        return []   # delta temporality: dropped (the converter handles cumulative only)
    if metric["kind"] == "other":
        return []
    name = prometheus_name(metric)
    out = []
    for p in metric["points"]:
        labels = {**scoped, **{prometheus_label(k): v for k, v in p["attributes"].items()}}
        ts = p["time_unix_nano"] // 1_000_000
        if metric["kind"] != "histogram":
            out.append(({"__name__": name, **labels}, p["value"], ts))
            continue
        running = 0
        for bound, count in zip(p["explicit_bounds"], p["bucket_counts"]):
            running += count
            out.append(({"__name__": f"{name}_bucket", **labels, "le": _format_float(bound)},
                        float(running), ts))
        out.append(({"__name__": f"{name}_bucket", **labels, "le": "+Inf"},
                     float(p["count"]), ts))
        if p["sum"] is not None:
            out.append(({"__name__": f"{name}_sum", **labels}, p["sum"], ts))
        out.append(({"__name__": f"{name}_count", **labels}, float(p["count"]), ts))
    return out


def write_request(samples: list[tuple[dict, float, int]]) -> bytes:
    """prompb.WriteRequest: timeseries (1) {labels (1) {name 1, value 2}, samples (2)
    {value 1 double, timestamp 2 int64 ms}}, labels sorted by name, one series per label
    set with its samples in time order."""
    series: dict[tuple, list] = {}
    for labels, value, ts in samples:
        series.setdefault(tuple(sorted(labels.items())), []).append((ts, value))
    out = bytearray()
    for labels, points in series.items():
        body = bytearray()
        for name, value in labels:
            pair = encode_bytes(1, name.encode()) + encode_bytes(2, value.encode())
            body += encode_bytes(1, pair)
        for ts, value in sorted(points):
            sample = b"\x09" + struct.pack("<d", value) + b"\x10" + encode_varint(ts)
            body += encode_bytes(2, sample)
        out += encode_bytes(1, bytes(body))
    return bytes(out)


def snappy_block(data: bytes) -> bytes:
    """Snappy's block format with literal elements only (valid, not compressed): the
    length as a varint, then literals of at most 65536 bytes (tag 61<<2: a two-byte
    little-endian length-1 follows)."""
    out = bytearray(encode_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        if len(chunk) <= 60:
            out.append((len(chunk) - 1) << 2)
        else:
            out.append(61 << 2)
            out += struct.pack("<H", len(chunk) - 1)
        out += chunk
    return bytes(out)


REMOTE_WRITE_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                        "X-Prometheus-Remote-Write-Version": "0.1.0",
                        "User-Agent": "Alloy TEST DOUBLE"}


class RemoteWrite:
    """otelcol.exporter.prometheus `cid` and the prometheus.remote_write endpoints its
    forward_to names: (component, name, url, login, ca_file)."""

    def __init__(self, cid: str, components: dict):
        self.cid = cid
        self.endpoints = []
        for ref in components[cid].get("forward_to", []):
            writer = _component_of(ref, components)
            for _, e in components.get(writer, {}).get("endpoint", []):
                auth = _first_block(e, "basic_auth")
                login = None
                if auth:
                    password = auth.get("password", "")
                    if auth.get("password_file"):
                        with open(auth["password_file"]) as fh:
                            password = fh.read().strip()
                    login = (auth.get("username", ""), password)
                name = e.get("name") or hashlib.sha256(e["url"].encode()).hexdigest()[:6]
                self.endpoints.append((writer, name, e["url"], login,
                                       _first_block(e, "tls_config").get("ca_file")))

    def send(self, resources: list[dict], counters) -> None:
        samples = to_samples(resources, int(time.time() * 1000))
        if not samples:
            return
        body = snappy_block(write_request(samples))
        for writer, name, url, login, ca_file in self.endpoints:
            labels = (("remote_name", name), ("url", url))
            context = ssl.create_default_context(cafile=ca_file) if ca_file else None
            status = _forward(url, body, REMOTE_WRITE_HEADERS, login, context)
            # 2xx: sent; 4xx: not recoverable, failed; 5xx or no answer: the real one
            # retries from its WAL (samples_retries_total); the double does not retry
            if 200 <= status < 300:
                what = "prometheus_remote_storage_samples_total"
            elif 400 <= status < 500 and status != 429:
                what = "prometheus_remote_storage_samples_failed_total"
            else:
                what = "prometheus_remote_storage_samples_retries_total"
            counters.add(what, writer, len(samples), labels)
            if what != "prometheus_remote_storage_samples_total":
                print(f"alloy TEST DOUBLE: {writer}: POST {url}: status {status or 'none'}",
                      flush=True)


class Counters:
    """Alloy's metrics of the pipeline: (name, component_id, other labels) -> value."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values: dict[tuple[str, str], float] = {}

    def add(self, name: str, cid: str, value: float = 1, labels: tuple = ()) -> None:
        with self.lock:
            key = (name, cid, labels)
            self.values[key] = self.values.get(key, 0) + value

    def get(self, name: str, cid: str) -> float:
        with self.lock:
            return sum(v for (n, c, _), v in self.values.items() if (n, c) == (name, cid))

    def text(self) -> str:
        with self.lock:
            items = sorted(self.values.items())
        out, typed = [], set()
        for (name, cid, labels), value in items:
            if name not in typed:
                kind = "counter" if name.endswith("_total") else "gauge"
                out.append(f"# TYPE {name} {kind}")
                typed.add(name)
            extra = "".join(f',{k}="{v}"' for k, v in labels)
            out.append(f'{name}{{component_id="{cid}",component_path="/"{extra}}} {value:g}')
        return "".join(line + "\n" for line in out)


def _forward(url: str, data: bytes, headers: dict, login=None, context=None) -> int:
    headers = dict(headers)
    if login:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding in ("deflate", "zlib"):
        return zlib.decompress(body)
    if encoding:
        raise ValueError(f"content encoding {encoding!r} is not one the double decodes")
    return body


class Pipeline:
    """Alloy's application pipeline from its components (see the module docstring)."""

    def __init__(self, components: dict):
        self.components = components
        self.counters = Counters()
        self.receivers = [c for c in components if c.startswith("otelcol.receiver.otlp.")]
        self.targets = otlp_targets(components)
        exporters = {t.cid for targets in self.targets.values() for t in targets
                     if isinstance(t, Target)}   # otelcol.exporter.prometheus has no queue
        for cid in exporters:   # nothing is ever queued here
            self.counters.add("otelcol_exporter_queue_size", cid, 0)
            self.counters.add("otelcol_exporter_queue_capacity", cid, 1000)
        for sig, item in SIGNALS.items():
            for r in self.receivers:
                for what in ("accepted", "refused"):
                    self.counters.add(f"otelcol_receiver_{what}_{item}_total", r, 0)
            for t in self.targets[sig]:
                if isinstance(t, RemoteWrite):
                    for writer, name, url, _, _ in t.endpoints:
                        for what in ("samples", "samples_failed", "samples_retries",
                                     "samples_pending"):
                            self.counters.add(f"prometheus_remote_storage_{what}"
                                              f"{'' if what.endswith('pending') else '_total'}",
                                              writer, 0, (("remote_name", name), ("url", url)))
                    continue
                for what in ("sent", "send_failed", "enqueue_failed"):
                    self.counters.add(f"otelcol_exporter_{what}_{item}_total", t.cid, 0)
        self.profile_writers = {}
        for cid, body in components.items():
            if cid.startswith("pyroscope.receive_http."):
                writers = [_component_of(r, components) for r in body.get("forward_to", [])]
                self.profile_writers[cid] = [
                    (w, [e.get("url") for _, e in components.get(w, {}).get("endpoint", [])])
                    for w in writers]
                for w, _ in self.profile_writers[cid]:
                    self.counters.add("pyroscope_write_sent_profiles_total", w, 0)
                    self.counters.add("pyroscope_write_dropped_profiles_total", w, 0)

    def listeners(self) -> list[tuple[str, str, int, str]]:
        """(kind, address, port, component) of every listener the components open."""
        out = []
        for r in self.receivers:
            for kind, default in (("http", "0.0.0.0:4318"), ("grpc", "0.0.0.0:4317")):
                if kind in self.components[r]:
                    address, port = host_port(_first_block(self.components[r], kind)
                                              .get("endpoint", default))
                    out.append((f"otlp-{kind}", address, port, r))
        for cid in self.profile_writers:
            block = _first_block(self.components[cid], "http")
            out.append(("profiles", block.get("listen_address") or "0.0.0.0",
                        int(block.get("listen_port", 8080)), cid))
        return out

    def otlp(self, receiver: str, sig: str, body: bytes, headers) -> tuple:
        kind = headers.get("Content-Type") or "application/x-protobuf"
        item = SIGNALS[sig]
        try:
            plain = _decoded(body, headers.get("Content-Encoding") or "")
            count = count_items(sig, plain, kind)
            resources = None
            if any(isinstance(t, RemoteWrite) for t in self.targets[sig]):
                resources = (decode_metrics_json(plain) if "json" in kind
                             else decode_metrics(plain))
        except (ValueError, OSError, KeyError, TypeError, AttributeError, struct.error) as exc:
            self.counters.add(f"otelcol_receiver_refused_{item}_total", receiver, 0)
            return 400, f"cannot decode the {sig} request: {exc}\n".encode(), "text/plain"
        self.counters.add(f"otelcol_receiver_accepted_{item}_total", receiver, count)
        sent = {"Content-Type": kind}
        if headers.get("Content-Encoding"):
            sent["Content-Encoding"] = headers["Content-Encoding"]
        for t in self.targets[sig]:
            if isinstance(t, RemoteWrite):
                t.send(resources, self.counters)
                continue
            status = _forward(t.url, body, sent, t.login, t.context())
            what = "sent" if 200 <= status < 300 else "send_failed"
            self.counters.add(f"otelcol_exporter_{what}_{item}_total", t.cid, count)
            if what == "send_failed":
                print(f"alloy TEST DOUBLE: {t.cid}: POST {t.url}: status {status or 'none'}",
                      flush=True)
        if "json" in kind:
            return 200, b"{}", "application/json"
        return 200, b"", "application/x-protobuf"

    def profiles(self, cid: str, path: str, body: bytes, headers) -> int:
        worst = 200
        sent = {k: headers[k] for k in ("Content-Type", "Content-Encoding") if headers.get(k)}
        for writer, urls in self.profile_writers.get(cid, []):
            for url in urls:
                status = _forward(url.rstrip("/") + path, body, sent)
                ok = 200 <= status < 300
                self.counters.add("pyroscope_write_sent_profiles_total" if ok else
                                  "pyroscope_write_dropped_profiles_total", writer)
                if not ok:
                    worst = status or 502
        return worst


def serve_pipeline(pipeline: Pipeline) -> list:
    """Start the listeners of the application pipeline, each in a thread; their servers."""
    servers = []
    for kind, address, port, cid in pipeline.listeners():
        if kind == "otlp-grpc":
            sock = listening_socket(address, port)
            threading.Thread(target=_accept_only, args=(sock,), daemon=True).start()
            servers.append(sock)
        else:
            handler = (_otlp_handler(pipeline, cid) if kind == "otlp-http"
                       else _profiles_handler(pipeline, cid))
            server = http_server(address, port, handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
        print(f"alloy TEST DOUBLE: {kind} listening on {address}:{port}", flush=True)
    return servers


def _accept_only(sock: socket.socket) -> None:
    """gRPC's port: connections are accepted and read until closed; no gRPC is spoken."""
    def drain(conn):
        with conn:
            while conn.recv(65536):
                pass

    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def _otlp_handler(pipeline: Pipeline, receiver: str):
    paths = {f"/v1/{sig}": sig for sig in SIGNALS}

    class Handler(QuietHandler):
        def do_POST(self):  # noqa: N802
            body = self._body()
            sig = paths.get(self.path.split("?")[0])
            if sig is None:
                self._answer(404, b"404 page not found\n")
            else:
                self._answer(*pipeline.otlp(receiver, sig, body, self.headers))

    return Handler


def _profiles_handler(pipeline: Pipeline, cid: str):
    class Handler(QuietHandler):
        def do_POST(self):  # noqa: N802
            body = self._body()
            if self.path.split("?")[0] in ("/ingest", "/push.v1.PusherService/Push"):
                self._answer(pipeline.profiles(cid, self.path, body, self.headers))
            else:
                self._answer(404, b"404 page not found\n")

    return Handler


# -- serving -----------------------------------------------------------------------------------
# POST paths a double accepts and answers with a status, storing nothing
ACCEPTED_POSTS = {"loki": {"/otlp/v1/logs": 204}}


def serve(program: str, address: str, port: int, metrics=lambda: "") -> None:
    """Serve readiness and /metrics (one trivial metric, and what `metrics()` gives)."""
    ready = READY_PATHS[program]
    body = (f"# HELP monstack_test_double_info A test double of {program} answers here.\n"
            "# TYPE monstack_test_double_info gauge\n"
            f'monstack_test_double_info{{program="{program}"}} 1\n')
    posts = ACCEPTED_POSTS.get(program, {})

    class Handler(QuietHandler):
        def do_POST(self):  # noqa: N802
            self._body()
            status = posts.get(self.path.split("?")[0])
            if status:
                self._answer(status, b"")
            else:
                self._answer(404, b"not found\n")

        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._answer(200, (body + metrics()).encode(), "text/plain; version=0.0.4")
            elif path in (ready, "/-/healthy"):
                self._answer(200, f"{program} test double is ready\n".encode())
            else:
                self._answer(404, b"not found\n")

    httpd = http_server(address, port, Handler)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=httpd.shutdown).start())
    print(f"{program} TEST DOUBLE listening on {address}:{port}", flush=True)
    httpd.serve_forever()


def mark(folder: str, program: str) -> None:
    """Write where the real program writes: a sandbox forbidding it fails the start."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "monstack-test-double"), "w") as fh:
        fh.write(f"{program} test double was here\n")


def version_line(program: str) -> str:
    published = os.environ.get("TEST_DOUBLE_PUBLISHED_AS", "unknown")
    return (f"{program} TEST DOUBLE (NOT {REAL_NAMES[program]}), standing in for "
            f"{program} version {published}")


def flags_only(program: str, args: list[str],
               known: dict[str, bool]) -> dict[str, str] | None:
    """The flags of `program`, which takes flags only (Go's flag package): None once
    -version has printed its version line."""
    flags, rest = go_flags(args, known)
    if rest:
        raise UsageError(f"{program} takes no arguments, got {rest}", 2)
    if "version" in flags:
        print(version_line(program))
        return None
    return flags


def host_port(value: str) -> tuple[str, int]:
    address, _, port = value.rpartition(":")
    return (address or "0.0.0.0"), int(port)


def loki(args: list[str]) -> int:
    flags = flags_only("loki", args, LOKI_FLAGS)
    if flags is None:   # -version
        return 0
    path = flags.get("config.file")
    if not path:
        raise UsageError("failed parsing config: no -config.file given", 1)
    with open(path) as fh:
        config = parse_yaml(fh.read())
    if not isinstance(config, dict) or not isinstance(config.get("server"), dict):
        raise UsageError(f"failed parsing config: {path}: no server section", 1)
    if flags.get("verify-config") == "true":
        print("level=info msg=\"config is valid\" (loki TEST DOUBLE: YAML parsed only)")
        return 0
    server = config["server"]
    prefix = (config.get("common") or {}).get("path_prefix")
    if prefix:
        mark(prefix, "loki")
    serve("loki", str(server.get("http_listen_address") or "0.0.0.0"),
          int(server.get("http_listen_port", 3100)))
    return 0


def checked_alloy_file(path: str, problem_prefix: str, failure: str) -> str:
    """The text of config file `path` once check_alloy passes it; else its problem on
    stderr (after `problem_prefix`) and `failure` as the command's error, as `alloy fmt`
    and `alloy validate` report them."""
    with open(path) as fh:
        text = fh.read()
    try:
        check_alloy(text)
    except ValueError as exc:
        print(f"{problem_prefix}{path}:{exc}", file=sys.stderr)
        raise UsageError(f"Error: {failure}", 1) from None
    return text


def alloy(args: list[str]) -> int:
    if not args:
        raise UsageError("Error: a command is needed (run, fmt, validate)", 1)
    command, args = args[0], args[1:]
    if command in ("--version", "-v"):
        print(version_line("alloy"))
        return 0
    if command == "fmt":
        _, rest = cobra_flags(args, {"write": False, "test": False}, {"w": "write", "t": "test"})
        if len(rest) != 1:
            raise UsageError("Error: fmt takes one file", 1)
        sys.stdout.write(checked_alloy_file(rest[0], "", "encountered errors during formatting"))
        return 0
    if command == "validate":
        _, rest = cobra_flags(args, ALLOY_VALIDATE_FLAGS)
        if len(rest) != 1:
            raise UsageError(f"Error: accepts 1 arg(s), received {len(rest)}", 1)
        text = checked_alloy_file(rest[0], "Error: ", "validation failed")
        try:
            validate_alloy(text)
        except ValueError as exc:
            print(f"Error: {rest[0]}:{exc}", file=sys.stderr)
            raise UsageError("Error: validation failed", 1) from None
        return 0
    if command != "run":
        raise UsageError(f"Error: unknown command {command!r} for \"alloy\"", 1)
    flags, rest = cobra_flags(args, ALLOY_RUN_FLAGS)
    flags = {name: values[-1] for name, values in flags.items()}   # the last one counts
    if len(rest) != 1:
        raise UsageError("Error: accepts 1 arg(s)", 1)
    config = rest[0]

    running = {"pipeline": None, "servers": []}

    def load():
        with open(config) as fh:
            pipeline = Pipeline(validate_alloy(fh.read()))
        for server in running["servers"]:   # the application pipeline anew
            if isinstance(server, socket.socket):
                server.close()
            else:
                server.shutdown()
                server.server_close()
        running.update(pipeline=pipeline, servers=serve_pipeline(pipeline))

    load()
    mark(flags.get("storage.path", "data-alloy"), "alloy")

    def reload(*_):
        try:
            load()
            print("msg=\"config reloaded\" (alloy TEST DOUBLE)", flush=True)
        except (OSError, ValueError) as exc:
            print(f"msg=\"failed to reload config\" err={exc}", flush=True)

    signal.signal(signal.SIGHUP, lambda *a: threading.Thread(target=reload).start())
    serve("alloy", *host_port(flags.get("server.http.listen-addr", "127.0.0.1:12345")),
          metrics=lambda: running["pipeline"].counters.text())
    return 0


def cadvisor(args: list[str]) -> int:
    flags = flags_only("cadvisor", args, CADVISOR_FLAGS)
    if flags is None:   # -version
        return 0
    for name in ("housekeeping_interval", "max_housekeeping_interval"):
        if name in flags and not GO_DURATION.match(flags[name]):
            raise UsageError(f"invalid value {flags[name]!r} for flag -{name}: parse error", 2)
    for name in ("disable_metrics", "enable_metrics"):
        for kind in filter(None, flags.get(name, "").split(",")):
            if kind not in CADVISOR_METRIC_KINDS:
                raise UsageError(f"invalid value for flag -{name}: unsupported metric "
                                 f"{kind!r} specified", 2)
    serve("cadvisor", flags.get("listen_ip") or "0.0.0.0", int(flags.get("port", 8080)))
    return 0


def main(argv: list[str]) -> int:
    program = os.path.basename(argv[0]).split("-")[0]
    args = argv[1:]
    if program not in PROGRAMS:   # run directly: the program is the first argument
        if not args or args[0] not in PROGRAMS:
            print(f"usage: {argv[0]} {{{','.join(PROGRAMS)}}} ARGS...", file=sys.stderr)
            return 2
        program, args = args[0], args[1:]
    try:
        return {"loki": loki, "alloy": alloy, "cadvisor": cadvisor}[program](args)
    except UsageError as exc:
        print(f"{program} TEST DOUBLE: {exc}", file=sys.stderr)
        return exc.code
    except (OSError, ValueError) as exc:
        print(f"{program} TEST DOUBLE: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
