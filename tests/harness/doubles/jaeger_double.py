"""JAEGER TEST DOUBLE: this is NOT Jaeger.

It stands in for Jaeger v2 (`jaeger`, an OpenTelemetry Collector distribution) on the
test fleet, where upstream's release archive cannot be downloaded. It keeps spans in
memory and in a file, and answers a small part of Jaeger's query API. What the deploy
and the tests rely on:

* `jaeger --version` and `jaeger version` say TEST DOUBLE and name the version it stands
  in for (TEST_DOUBLE_PUBLISHED_AS, set by its launcher);
* its command line is the collector's (cobra): `--config=<file>` (also `file:<file>`),
  `--set`, `--feature-gates`, the subcommands `validate`, `version`, `components`; an
  unknown flag or command exits 1 as cobra does;
* `jaeger validate --config=F` parses F (a YAML subset: block mappings and lists, flow
  lists of plain words, `{}`, quoted and plain scalars) and checks what the deploy's
  config relies on: the top-level keys, the pipeline's receivers, processors and
  exporters being defined, the extensions the service names, jaeger_query and the
  exporter naming a jaeger_storage backend, Badger's keys (directories, ephemeral, ttl
  with a Go duration), every endpoint being host:port; exit 0 silently, or 1 naming the
  problem (the real one also checks every other component's keys);
* running, it listens where that config says: the OTLP/HTTP receiver (POST /v1/traces,
  OTLP protobuf or JSON, decoded for the resource's service.name and each span's
  trace id, span id, parent and name), the query API (GET /api/services,
  /api/services/<service>/operations, /api/traces?service=<name>, /api/traces/<trace
  id>, shaped like Jaeger's), the health check (healthcheckv2: GET /status) and its
  telemetry's /metrics (the collector's otelcol_receiver_*_spans_total and
  otelcol_exporter_*_spans_total counters, and monstack_test_double_info);
* every span it accepts is appended to a file in Badger's values folder (a marker goes
  in the keys folder at start), so a unit whose sandbox forbids those writes fails here
  too, and the spans are read back from there after a restart.

Standard library only (fleet hosts have python3, not PyYAML). Installed as one file named
`jaeger` in upstream's archive layout: a /bin/sh launcher line that execs python3 on the
file itself, double_common.py's text (the YAML subset, cobra's command line, protobuf,
HTTP), then this (tests/harness/doubles/__init__.py, `launcher`). Run directly:

    python3 jaeger_double.py --config=/etc/jaeger/config.yaml
"""

import gzip
import json
import os
import re
import signal
import sys
import threading
from urllib.parse import parse_qs, urlparse

if "DOUBLE_COMMON" not in globals():   # imported, or run directly: not the launcher's one file
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    from double_common import (QuietHandler, UsageError, cobra_flags, http_server, parse_yaml,
                               proto_wire)

PUBLISHED_AS = os.environ.get("TEST_DOUBLE_PUBLISHED_AS", "unknown")
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]*):(\d{1,5})$")
# the collector's config: what its top level may hold
TOP_KEYS = {"receivers", "processors", "exporters", "extensions", "connectors", "service"}
BADGER_KEYS = {"ttl", "directories", "ephemeral", "consistency", "maintenance_interval",
               "metrics_update_interval", "read_only"}
ROOT_FLAGS = {"config": True, "set": True, "feature-gates": True, "help": False,
              "version": False}
SHORT_FLAGS = {"h": "help", "v": "version"}
COMMANDS = ("validate", "version", "components")
EXTENSIONS = {"jaeger_storage", "jaeger_query", "healthcheckv2", "remote_sampling",
              "expvar", "zpages", "pprof"}
RECEIVERS = {"otlp", "jaeger", "zipkin", "kafka"}
PROCESSORS = {"batch", "memory_limiter", "adaptive_sampling", "tail_sampling", "attributes",
              "filter"}
EXPORTERS = {"jaeger_storage_exporter", "debug", "otlp", "otlphttp", "kafka", "nop"}


# -- command line (cobra) -------------------------------------------------------------------------
def parse_args(args):
    """(command, {flag: [values]}): cobra's --name=value / --name value, one subcommand."""
    flags, rest = cobra_flags(args, ROOT_FLAGS, SHORT_FLAGS)
    if rest and rest[0] not in COMMANDS:
        raise UsageError(f'Error: unknown command "{rest[0]}" for "jaeger"')
    if len(rest) > 1:
        raise UsageError(f'Error: unknown command "{rest[1]}" for "jaeger {rest[0]}"')
    return (rest or [None])[0], flags


def config_path(flags) -> str:
    paths = flags.get("config") or []
    if len(paths) != 1:
        raise UsageError("Error: the TEST DOUBLE takes exactly one --config file (the real "
                         "one merges several, or runs its all-in-one config without one)")
    path = paths[0]
    return path[len("file:"):] if path.startswith("file:") else path


# -- the config's checks --------------------------------------------------------------------------
def _get(cfg, *path):
    for key in path:
        if not isinstance(cfg, dict) or key not in cfg:
            raise ValueError(f"missing {'::'.join(path)}")
        cfg = cfg[key]
    return cfg


def _endpoint(value, where):
    m = HOST_PORT.match(str(value or ""))
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValueError(f"{where}: endpoint {value!r} is not host:port")
    host = m.group(1).strip("[]") or "0.0.0.0"
    return host, int(m.group(2))


def _component_type(name: str) -> str:
    return name.split("/", 1)[0]


def check_config(cfg) -> dict:
    """What the deploy relies on, as the collector's validate finds it; returns where to
    listen and store."""
    if not isinstance(cfg, dict):
        raise ValueError("the config is not a mapping")
    unknown = sorted(set(cfg) - TOP_KEYS)
    if unknown:
        raise ValueError(f"'' has invalid keys: {', '.join(unknown)}")
    sections = {k: cfg.get(k) or {} for k in ("receivers", "processors", "exporters",
                                              "extensions")}
    known = {"receivers": RECEIVERS, "processors": PROCESSORS, "exporters": EXPORTERS,
             "extensions": EXTENSIONS}
    for kind, defined in sections.items():
        for name in defined:
            if _component_type(name) not in known[kind]:
                raise ValueError(f"{kind}: unknown type: {_component_type(name)!r}")
    service = _get(cfg, "service")
    for ext in service.get("extensions") or []:
        if ext not in sections["extensions"]:
            raise ValueError(f"service::extensions: references extension {ext!r} which is "
                             "not configured")
    pipelines = _get(cfg, "service", "pipelines")
    if not pipelines:
        raise ValueError("service must have at least one pipeline")
    for pipeline, spec in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            names = (spec or {}).get(kind) or []
            if kind != "processors" and not names:
                raise ValueError(f"service::pipelines::{pipeline}: must have at least one "
                                 f"{kind[:-1]}")
            for name in names:
                if name not in sections[kind]:
                    raise ValueError(f"service::pipelines::{pipeline}: references {kind[:-1]} "
                                     f"{name!r} which is not configured")
    # what the deploy relies on beyond the collector's own rules
    for ext in ("jaeger_storage", "jaeger_query", "healthcheckv2"):
        if ext not in (service.get("extensions") or []):
            raise ValueError(f"TEST DOUBLE: service::extensions lacks {ext}")
    backends = _get(cfg, "extensions", "jaeger_storage", "backends")
    store = _get(cfg, "extensions", "jaeger_query", "storage", "traces")
    if store not in (backends or {}):
        raise ValueError(f"jaeger_query: trace storage {store!r} is not a jaeger_storage "
                         "backend")
    written = _get(cfg, "exporters", "jaeger_storage_exporter", "trace_storage")
    if written not in backends:
        raise ValueError(f"jaeger_storage_exporter: trace_storage {written!r} is not a "
                         "jaeger_storage backend")
    badger = _get(backends, written, "badger")
    unknown = sorted(set(badger) - BADGER_KEYS)
    if unknown:
        raise ValueError(f"badger: '' has invalid keys: {', '.join(unknown)}")
    if _get(badger, "ephemeral") is not False:
        raise ValueError("TEST DOUBLE: badger must be ephemeral: false (spans on disk)")
    keys = _get(badger, "directories", "keys")
    values = _get(badger, "directories", "values")
    for folder in (keys, values):
        if not isinstance(folder, str) or not folder.startswith("/"):
            raise ValueError(f"badger: directory {folder!r} is not an absolute path")
    ttl = str(_get(badger, "ttl", "spans"))
    if not GO_DURATION.match(ttl):
        raise ValueError(f"badger: ttl::spans: time: invalid duration {ttl!r}")
    prometheus = _get(cfg, "service", "telemetry", "metrics", "readers")[0]
    prometheus = _get(prometheus, "pull", "exporter", "prometheus")
    metrics_host, metrics_port = str(_get(prometheus, "host")), _get(prometheus, "port")
    if not isinstance(metrics_port, int):
        raise ValueError(f"telemetry: prometheus port {metrics_port!r} is not a number")
    return {
        "otlp": _endpoint(_get(cfg, "receivers", "otlp", "protocols", "http", "endpoint"),
                          "otlp::protocols::http"),
        "query": _endpoint(_get(cfg, "extensions", "jaeger_query", "http", "endpoint"),
                           "jaeger_query::http"),
        "health": _endpoint(_get(cfg, "extensions", "healthcheckv2", "http", "endpoint"),
                            "healthcheckv2::http"),
        "metrics": (metrics_host, metrics_port),
        "keys": keys, "values": values,
    }


def load_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise ValueError(f"cannot retrieve the configuration: {e}") from None
    return check_config(parse_yaml(text))


# -- OTLP protobuf, the few fields read -------------------------------------------------------------
def _service_name(resource: bytes) -> str:
    for number, _, kv in proto_wire(resource):
        if number != 1:
            continue
        key = value = None
        for n, _, v in proto_wire(kv):
            if n == 1:
                key = v.decode()
            elif n == 2:
                for an, aw, av in proto_wire(v):
                    if an == 1 and aw == 2:
                        value = av.decode()
        if key == "service.name" and value:
            return value
    return "unknown_service"


def spans_from_protobuf(body: bytes) -> list[dict]:
    spans = []
    for number, _, resource_spans in proto_wire(body):
        if number != 1:
            continue
        service, scope_spans = "unknown_service", []
        for n, _, v in proto_wire(resource_spans):
            if n == 1:
                service = _service_name(v)
            elif n == 2:
                scope_spans.append(v)
        for scope in scope_spans:
            for n, _, span in proto_wire(scope):
                if n != 2:
                    continue
                fields = {}
                for sn, _, sv in proto_wire(span):
                    fields.setdefault(sn, sv)
                start = int.from_bytes(fields.get(7, b"\0" * 8), "little")
                end = int.from_bytes(fields.get(8, b"\0" * 8), "little")
                spans.append({"service": service, "traceID": fields.get(1, b"").hex(),
                              "spanID": fields.get(2, b"").hex(),
                              "parentSpanID": fields.get(4, b"").hex(),
                              "operationName": fields.get(5, b"").decode(),
                              "startTime": start // 1000,
                              "duration": max(end - start, 0) // 1000})
    return spans


def spans_from_json(body: bytes) -> list[dict]:
    """OTLP/JSON: ids are hex strings there."""
    spans = []
    for rs in json.loads(body).get("resourceSpans", []):
        service = "unknown_service"
        for kv in rs.get("resource", {}).get("attributes", []):
            if kv.get("key") == "service.name":
                service = kv.get("value", {}).get("stringValue", service)
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                start = int(s.get("startTimeUnixNano", 0))
                end = int(s.get("endTimeUnixNano", 0))
                spans.append({"service": service, "traceID": s.get("traceId", "").lower(),
                              "spanID": s.get("spanId", "").lower(),
                              "parentSpanID": s.get("parentSpanId", "").lower(),
                              "operationName": s.get("name", ""),
                              "startTime": start // 1000,
                              "duration": max(end - start, 0) // 1000})
    return spans


# -- the running double ---------------------------------------------------------------------------
class Store:
    """The spans, in memory and appended to a file of Badger's values folder."""

    def __init__(self, conf):
        self.lock = threading.Lock()
        self.file = os.path.join(conf["values"], "test-double-spans.jsonl")
        with open(os.path.join(conf["keys"], "TEST-DOUBLE"), "w", encoding="utf-8") as fh:
            fh.write("jaeger TEST DOUBLE keys folder marker\n")
        self.spans = []
        if os.path.exists(self.file):
            with open(self.file, encoding="utf-8") as fh:
                self.spans = [json.loads(line) for line in fh if line.strip()]
        self.counts = {"accepted": 0, "refused": 0, "sent": 0, "failed": 0}

    def add(self, spans):
        with self.lock:
            self.counts["accepted"] += len(spans)
            try:
                with open(self.file, "a", encoding="utf-8") as fh:
                    for span in spans:
                        fh.write(json.dumps(span) + "\n")
            except OSError:
                self.counts["failed"] += len(spans)
                raise
            self.spans.extend(spans)
            self.counts["sent"] += len(spans)

    def refused(self):
        with self.lock:
            self.counts["refused"] += 1


def services(store):
    return sorted({s["service"] for s in store.spans})


def traces(store, service=None, trace_id=None):
    by_trace = {}
    for span in store.spans:
        if (service and span["service"] != service) or (trace_id and span["traceID"] != trace_id):
            continue
        by_trace.setdefault(span["traceID"], []).append(span)
    out = []
    for tid, spans in by_trace.items():
        processes, jaeger_spans = {}, []
        for span in spans:
            pid = next((p for p, v in processes.items() if v["serviceName"] == span["service"]),
                       f"p{len(processes) + 1}")
            processes[pid] = {"serviceName": span["service"], "tags": []}
            refs = ([{"refType": "CHILD_OF", "traceID": tid, "spanID": span["parentSpanID"]}]
                    if span["parentSpanID"] else [])
            jaeger_spans.append({"traceID": tid, "spanID": span["spanID"],
                                 "operationName": span["operationName"], "references": refs,
                                 "startTime": span["startTime"], "duration": span["duration"],
                                 "tags": [], "logs": [], "processID": pid, "warnings": None})
        out.append({"traceID": tid, "spans": jaeger_spans, "processes": processes,
                    "warnings": None})
    return out


def metrics_text(store) -> str:
    c = store.counts
    receiver = 'receiver="otlp",transport="http"'
    exporter = 'exporter="jaeger_storage_exporter"'
    lines = [
        "# TYPE monstack_test_double_info gauge",
        f'monstack_test_double_info{{program="jaeger",version="{PUBLISHED_AS}"}} 1',
        "# TYPE otelcol_receiver_accepted_spans_total counter",
        f"otelcol_receiver_accepted_spans_total{{{receiver}}} {c['accepted']}",
        "# TYPE otelcol_receiver_refused_spans_total counter",
        f"otelcol_receiver_refused_spans_total{{{receiver}}} {c['refused']}",
        "# TYPE otelcol_exporter_sent_spans_total counter",
        f"otelcol_exporter_sent_spans_total{{{exporter}}} {c['sent']}",
        "# TYPE otelcol_exporter_send_failed_spans_total counter",
        f"otelcol_exporter_send_failed_spans_total{{{exporter}}} {c['failed']}",
    ]
    return "\n".join(lines) + "\n"


def handler(role, store):
    class Handler(QuietHandler):
        server_version = "jaeger-TEST-DOUBLE"

        def send(self, code, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            self._answer(code, data, ctype)

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if role == "health" and url.path == "/status":
                return self.send(200, {"start_time": "", "healthy": True,
                                       "status": "StatusOK", "test_double": True})
            if role == "metrics" and url.path == "/metrics":
                return self.send(200, metrics_text(store), "text/plain; version=0.0.4")
            if role == "query":
                if url.path == "/api/services":
                    names = services(store)
                    return self.send(200, {"data": names, "total": len(names), "limit": 0,
                                           "offset": 0, "errors": None})
                m = re.fullmatch(r"/api/services/([^/]+)/operations", url.path)
                if m:
                    ops = sorted({s["operationName"] for s in store.spans
                                  if s["service"] == m.group(1)})
                    return self.send(200, {"data": ops, "total": len(ops), "limit": 0,
                                           "offset": 0, "errors": None})
                if url.path == "/api/traces":
                    service = (query.get("service") or [""])[0]
                    if not service:
                        return self.send(400, {"data": None, "total": 0, "limit": 0,
                                               "offset": 0, "errors": [
                                                   {"code": 400,
                                                    "msg": "parameter 'service' is required"}]})
                    found = traces(store, service=service)
                    return self.send(200, {"data": found, "total": len(found), "limit": 0,
                                           "offset": 0, "errors": None})
                m = re.fullmatch(r"/api/traces/([0-9a-fA-F]+)", url.path)
                if m:
                    found = traces(store, trace_id=m.group(1).lower().rjust(32, "0"))
                    if not found:
                        return self.send(404, {"data": None, "total": 0, "limit": 0,
                                               "offset": 0, "errors": [
                                                   {"code": 404, "msg": "trace not found"}]})
                    return self.send(200, {"data": found, "total": 1, "limit": 0,
                                           "offset": 0, "errors": None})
                if url.path == "/":
                    return self.send(200, "<html><body>Jaeger UI: TEST DOUBLE</body></html>",
                                     "text/html")
            self.send(404, "404 page not found\n", "text/plain")

        def do_POST(self):
            if role != "otlp" or urlparse(self.path).path != "/v1/traces":
                return self.send(404, "404 page not found\n", "text/plain")
            body = self._body()
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if ctype == "application/x-protobuf":
                    spans = spans_from_protobuf(body)
                elif ctype == "application/json":
                    spans = spans_from_json(body)
                else:
                    store.refused()
                    return self.send(415, f"unsupported content type {ctype}", "text/plain")
            except (ValueError, UnicodeDecodeError, OSError) as e:
                store.refused()
                return self.send(400, f"failed to unmarshal request: {e}", "text/plain")
            try:
                store.add(spans)
            except OSError as e:
                return self.send(503, f"storage write failed: {e}", "text/plain")
            if ctype == "application/json":
                return self.send(200, {}, "application/json")
            return self.send(200, b"", "application/x-protobuf")
    return Handler


def serve(conf) -> None:
    store = Store(conf)
    servers = [http_server(*conf[role], handler(role, store))
               for role in ("otlp", "query", "health", "metrics")]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"jaeger TEST DOUBLE (stands in for Jaeger {PUBLISHED_AS}) is up: "
          + ", ".join(f"{r} {h}:{p}" for r, (h, p) in
                      ((r, conf[r]) for r in ("otlp", "query", "health", "metrics"))),
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for srv in servers:
        srv.shutdown()


def main(argv) -> int:
    try:
        command, flags = parse_args(argv)
        if "version" in flags or command == "version":
            print(f"jaeger version {PUBLISHED_AS} (TEST DOUBLE: this is not Jaeger)")
            return 0
        if "help" in flags:
            print("Jaeger backend v2 (TEST DOUBLE)\n\nUsage:\n  jaeger [flags]\n  jaeger "
                  "[command]\n\nAvailable Commands:\n  components\n  validate\n  version\n")
            return 0
        if command == "components":
            print(json.dumps({"extensions": sorted(EXTENSIONS), "receivers": sorted(RECEIVERS),
                              "processors": sorted(PROCESSORS),
                              "exporters": sorted(EXPORTERS), "test_double": True}))
            return 0
        conf = load_config(config_path(flags))
        if command == "validate":
            return 0
    except UsageError as e:
        print(e, file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"Error: invalid configuration: {e}", file=sys.stderr)
        return 1
    try:
        serve(conf)
    except OSError as e:
        print(f"Error: cannot start pipelines: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
