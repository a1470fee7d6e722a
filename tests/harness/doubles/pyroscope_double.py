"""PYROSCOPE TEST DOUBLE: this is NOT Grafana Pyroscope.

It stands in for `pyroscope` (grafana/pyroscope v1.21.1, the single binary) on the test
fleet, where the real release file cannot be downloaded. It builds no flame graph and
compacts nothing. What it does is what the deploy and the fleet test rely on, each
point taken from upstream's sources at v1.21.1:

* the command line (cmd/pyroscope/main.go, pkg/cfg): Go's flag package over the flags
  below; an unknown flag prints "flag provided but not defined" and exits 2; a mode
  argument other than `server` exits 1. `-version` says TEST DOUBLE and names the
  version it stands in for (TEST_DOUBLE_PUBLISHED_AS, set by its launcher);
* `-config.file=F` is read as a start reads it: YAML (a subset: block mappings and
  lists, flow lists, plain and quoted scalars), strictly (a key the real config has no
  place for fails: "failed parsing config", exit 1), then validated ("failed creating
  pyroscope", exit 1): a known storage backend, durations, and beyond the real checks
  the keys the deploy's pyroscope.yaml relies on. `-modules` then lists the modules and
  exits 0: the deploy's config check;
* running, it creates its folders (pyroscopedb.data_path, storage.filesystem.dir,
  compactor.data_dir, store_gateway.bucket_store.sync_dir) and fails as the real one
  does where its sandbox forbids that; it binds (and never answers) the gRPC port
  (server.grpc_listen_address/port) and memberlist's (bind_addr/bind_port), failing as
  the real one does where another program holds one; it listens on
  server.http_listen_address and http_listen_port and answers
  - GET /ready ("ready") and /metrics (pyroscope_distributor_received_compressed_bytes,
    pyroscope_discarded_samples_total, monstack_test_double_info);
  - POST /ingest and /pyroscope/ingest (the SDKs' API: name=<app>[.<type>]{labels},
    from, until, format, sampleRate, spyName; the body kept as bytes): the profile is
    written under <data_path>/anonymous/head/<service_name>/;
  - POST /push.v1.PusherService/Push (Alloy's pyroscope.write, and the SDKs: pyroscope-io
    1.4.0 sends protobuf, gzip-compressed; connect protocol, JSON or protobuf, identity
    or gzip): each series' raw profiles written likewise;
  - POST /querier.v1.QuerierService/LabelValues, /LabelNames and /ProfileTypes (what
    Grafana's data source asks; connect protocol, JSON or protobuf): the service names
    and labels of what was received, also after a restart (read back from the folders).

Standard library only (fleet hosts have python3, not PyYAML). Installed as one file
named pyroscope: a /bin/sh launcher line that execs python3 on the file itself,
double_common.py's text (the YAML subset, Go's flag package, protobuf, HTTP), then this
(see tests/harness/doubles/__init__.py, `launcher`). Run directly:

    python3 pyroscope_double.py -config.file=/etc/pyroscope/pyroscope.yaml
"""

import base64
import gzip
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse

if "DOUBLE_COMMON" not in globals():   # imported, or run directly: not the launcher's one file
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    from double_common import (QuietHandler, UsageError, encode_bytes, go_flags, http_server,
                               listening_socket, parse_yaml, proto_fields)

# Flags of the real binary (v1.21.1 cmd/pyroscope/help-all.txt.tmpl), a subset: name ->
# takes a value (False: a boolean flag)
FLAGS = {
    "config.file": True, "config.expand-env": False, "config.show_banner": False,
    "version": False, "modules": False, "h": False, "help": False, "help-all": False,
    "target": True, "log.level": True, "log.format": True,
    "auth.multitenancy-enabled": False, "usage-stats.enabled": False,
    "server.http-listen-address": True, "server.http-listen-port": True,
    "server.grpc-listen-address": True, "server.grpc-listen-port": True,
    "self-profiling.disable-push": False, "pyroscopedb.data-path": True,
    "storage.backend": True, "storage.filesystem.dir": True,
    "compactor.blocks-retention-period": True, "compactor.data-dir": True,
    "memberlist.bind-port": True, "shutdown-delay": True,
}
# The config keys it knows (a subset of the real reference): nested mappings; None: a
# value. Any other key fails as yaml.v3's KnownFields would.
V = None
CONFIG_KEYS = {
    "target": V, "multitenancy_enabled": V, "show_banner": V, "shutdown_delay": V,
    "server": {k: V for k in (
        "http_listen_network", "http_listen_address", "http_listen_port",
        "grpc_listen_network", "grpc_listen_address", "grpc_listen_port",
        "log_level", "log_format", "graceful_shutdown_timeout")},
    "distributor": {"ring": {"instance_addr": V, "instance_enable_ipv6": V,
                             "instance_port": V, "kvstore": {"store": V}}},
    "ingester": {"lifecycler": {"address": V, "enable_inet6": V, "port": V,
                                "min_ready_duration": V}},
    "frontend": {"instance_addr": V, "instance_enable_ipv6": V, "instance_port": V},
    "store_gateway": {"sharding_ring": {"instance_addr": V, "instance_enable_ipv6": V},
                      "bucket_store": {"sync_dir": V, "sync_interval": V}},
    "query_scheduler": {"ring": {"instance_addr": V, "instance_enable_ipv6": V}},
    "compactor": {"data_dir": V, "block_ranges": V, "compaction_interval": V,
                  "sharding_ring": {"instance_addr": V, "instance_enable_ipv6": V}},
    "memberlist": {"bind_addr": V, "bind_port": V, "advertise_addr": V,
                   "advertise_port": V, "join_members": V},
    "pyroscopedb": {k: V for k in (
        "data_path", "max_block_duration", "min_free_disk_gb",
        "min_disk_available_percentage", "enforcement_interval", "disable_enforcement")},
    "storage": {"backend": V, "prefix": V, "filesystem": {"dir": V}},
    "limits": {k: V for k in (
        "compactor_blocks_retention_period", "ingestion_rate_mb",
        "ingestion_burst_size_mb", "max_query_lookback", "max_query_length")},
    "self_profiling": {k: V for k in (
        "disable_push", "mutex_profile_fraction", "block_profile_rate")},
    "analytics": {"reporting_enabled": V},
    "tracing": {"enabled": V},
}
# What the deploy's pyroscope.yaml sets and this double (and the fleet test) rely on
REQUIRED = ("server.http_listen_port", "pyroscopedb.data_path", "storage.backend",
            "storage.filesystem.dir", "limits.compactor_blocks_retention_period")
BACKENDS = ("s3", "gcs", "azure", "swift", "filesystem", "cos")   # -storage.backend's help
# user-visible v1 modules (pkg/pyroscope/modules.go); which of them `all` includes is
# the double's own guess
MODULES = ("all", "compactor", "distributor", "ingester", "querier", "query-frontend",
           "query-scheduler", "store-gateway", "tenant-settings", "ad-hoc-profiles",
           "admin", "overrides-exporter", "embedded-grafana")
IN_ALL = {"compactor", "distributor", "ingester", "querier", "query-frontend",
          "query-scheduler", "store-gateway", "tenant-settings", "ad-hoc-profiles", "admin"}
# prometheus/common model.Duration (the retention) and Go's time.Duration
MODEL_DURATION = re.compile(r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")
TENANT = "anonymous"   # multitenancy off: every profile's tenant
HELP_HINT = "\nRun with -help to get a list of available parameters"   # after an unknown flag


# -- the config ----------------------------------------------------------------------------
def unknown_keys(value, known, path="") -> list[str]:
    if known is None or not isinstance(value, dict):
        return []
    errors = []
    for key, sub in value.items():
        if key not in known:
            errors.append(f"field {key} not found in type {path or 'main.mainFlags'}")
        else:
            errors += unknown_keys(sub, known[key], f"{path}.{key}" if path else key)
    return errors


def lookup(config: dict, dotted: str):
    value = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def load_config(path: str | None) -> dict:
    """The config as a start reads it: exit 1 with the real program's first words."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            config = parse_yaml(fh.read()) or {}
    except OSError as exc:
        raise UsageError(f"failed parsing config: open {path}: {exc.strerror.lower()}", 1)
    except ValueError as exc:
        raise UsageError(f"failed parsing config: {path}: {exc}", 1)
    if not isinstance(config, dict):
        raise UsageError(f"failed parsing config: {path}: yaml: unmarshal errors: not a "
                         "mapping", 1)
    problems = unknown_keys(config, CONFIG_KEYS)
    if problems:
        raise UsageError(f"failed parsing config: {path}: yaml: unmarshal errors:\n  "
                      + "\n  ".join(problems), 1)
    return config


def validate(config: dict, flags: dict[str, str], from_file: bool) -> None:
    """pyroscope.New's Config.Validate, as far as the deploy's keys go, and (a file
    being given) the keys the deploy relies on."""
    def fail(message):
        raise UsageError(f"failed creating pyroscope: {message}", 1)
    target = flags.get("target") or lookup(config, "target") or "all"
    for module in str(target).split(","):
        if module.strip() not in MODULES:
            fail(f"unrecognised module name: {module.strip()}")
    backend = flags.get("storage.backend", lookup(config, "storage.backend")) or ""
    if backend and backend not in BACKENDS:
        fail(f"unsupported storage backend: {backend}")
    retention = lookup(config, "limits.compactor_blocks_retention_period")
    if retention is not None and not MODEL_DURATION.match(str(retention)):
        fail(f'not a valid duration string: "{retention}"')
    for key in ("server.http_listen_port", "server.grpc_listen_port", "memberlist.bind_port"):
        port = lookup(config, key)
        if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
            fail(f"{key}: invalid port {port!r}")
    if from_file:
        missing = [key for key in REQUIRED if lookup(config, key) in (None, "")]
        if missing:
            fail("TEST DOUBLE: the config lacks what the deploy's pyroscope.yaml sets: "
                 + ", ".join(missing))
        if backend != "filesystem":
            fail("TEST DOUBLE: storage.backend must be filesystem (the deploy's)")


def version_line() -> str:
    version = os.environ.get("TEST_DOUBLE_PUBLISHED_AS", "unknown")
    return (f"pyroscope TEST DOUBLE (NOT Pyroscope), standing in for pyroscope version "
            f"{version}")


# -- what it received ------------------------------------------------------------------------
NAME = re.compile(r"^([^{]*)(?:\{(.*)\})?$")


def parse_name(name: str) -> tuple[str, str, dict[str, str]]:
    """/ingest's name: <app>[.<type>]{k=v,...} -> (service_name, type, labels), as
    pkg/ingester/pyroscope/ingest_adapter.go convertMetadata derives them."""
    m = NAME.match(name.strip())
    if not m or not m.group(1):
        raise ValueError(f"invalid name {name!r}")
    labels = {}
    for pair in filter(None, (m.group(2) or "").split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key.strip()):
            raise ValueError(f"invalid label {pair!r}")
        labels[key.strip()] = value.strip()
    app = m.group(1)
    parts = app.split(".")
    kind = "cpu" if len(parts) <= 1 else parts[-1]
    if len(parts) > 1:
        app = ".".join(parts[:-1])
    return labels.get("service_name", app), kind, labels


class Store:
    """Profiles written under <data_path>/<tenant>/head/<service_name>/."""

    def __init__(self, data_path: str):
        self.head = os.path.join(data_path, TENANT, "head")
        self.lock = threading.Lock()
        self.labels: dict[str, set[str]] = {"service_name": set(), "__name__": set()}
        self.received = 0
        self.received_bytes = 0
        self.discarded: dict[str, int] = {}
        self.count = 0
        os.makedirs(self.head, exist_ok=True)
        for service in sorted(os.listdir(self.head)):   # what an earlier run kept
            self.labels["service_name"].add(service)

    def put(self, labels: dict[str, str], body: bytes, suffix: str) -> None:
        service = labels["service_name"]
        if "/" in service or service in ("", ".", ".."):
            raise ValueError(f"invalid service_name {service!r}")
        with self.lock:
            self.count += 1
            folder = os.path.join(self.head, service)
            os.makedirs(folder, exist_ok=True)
            name = f"{time.time_ns()}-{self.count}.{suffix}"
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(body)
            for key, value in labels.items():
                self.labels.setdefault(key, set()).add(value)
            self.received += 1
            self.received_bytes += len(body)

    def discard(self, reason: str) -> None:
        with self.lock:
            self.discarded[reason] = self.discarded.get(reason, 0) + 1


# -- protobuf (the connect protocol's binary form) ------------------------------------------
def proto_strings(number: int, values) -> bytes:
    return b"".join(encode_bytes(number, value.encode()) for value in values)


def push_series(body: bytes, kind: str) -> list[tuple[dict[str, str], list[bytes]]]:
    """push.v1.PushRequest (api/push/v1/push.proto): series (1) of labels (1: name 1,
    value 2) and samples (2: raw_profile 1, ID 2)."""
    if kind == "json":
        request = json.loads(body or b"{}")
        return [({p["name"]: p["value"] for p in s.get("labels", [])},
                 [base64.b64decode(x.get("rawProfile", "")) for x in s.get("samples", [])])
                for s in request.get("series", [])]
    series = []
    for number, raw in proto_fields(body):
        if number != 1:
            continue
        labels, samples = {}, []
        for n, value in proto_fields(raw):
            if n == 1:
                pair = dict(proto_fields(value))
                labels[pair.get(1, b"").decode()] = pair.get(2, b"").decode()
            elif n == 2:
                samples.append(dict(proto_fields(value)).get(1, b""))
        series.append((labels, samples))
    return series


def query_request(body: bytes, kind: str) -> dict:
    """The name (1) of a types.v1.LabelValuesRequest; JSON requests as they are."""
    if kind == "json":
        return json.loads(body or b"{}")
    fields = dict(proto_fields(body))
    return {"name": fields.get(1, b"").decode()} if 1 in fields else {}


# -- serving ---------------------------------------------------------------------------------
def metrics(store: Store) -> str:
    version = os.environ.get("TEST_DOUBLE_PUBLISHED_AS", "unknown")
    lines = [
        "# HELP monstack_test_double_info This is a TEST DOUBLE, not the real program.",
        "# TYPE monstack_test_double_info gauge",
        f'monstack_test_double_info{{program="pyroscope",version="{version}"}} 1',
        "# HELP pyroscope_distributor_received_compressed_bytes The number of compressed "
        "bytes per profile received by the distributor.",
        "# TYPE pyroscope_distributor_received_compressed_bytes histogram",
        f'pyroscope_distributor_received_compressed_bytes_bucket{{tenant="{TENANT}",'
        f'type="process_cpu",le="+Inf"}} {store.received}',
        f'pyroscope_distributor_received_compressed_bytes_sum{{tenant="{TENANT}",'
        f'type="process_cpu"}} {store.received_bytes}',
        f'pyroscope_distributor_received_compressed_bytes_count{{tenant="{TENANT}",'
        f'type="process_cpu"}} {store.received}',
        "# HELP pyroscope_discarded_samples_total The total number of samples that were "
        "discarded.",
        "# TYPE pyroscope_discarded_samples_total counter",
    ]
    lines += [f'pyroscope_discarded_samples_total{{reason="{r}",tenant="{TENANT}"}} {n}'
              for r, n in sorted(store.discarded.items())]
    return "\n".join(lines) + "\n"


def handler(store: Store):
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"
        text_type = "text/plain; charset=utf-8"

        def do_GET(self):  # noqa: N802
            path = urllib.parse.urlsplit(self.path).path
            if path == "/ready":
                self._answer(200, b"ready\n")
            elif path == "/metrics":
                self._answer(200, metrics(store).encode(), "text/plain; version=0.0.4")
            else:
                self._answer(404, b"404 page not found\n")

        def _connect_kind(self) -> str | None:
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            return {"application/json": "json", "application/proto": "proto"}.get(kind)

        def _connect_answer(self, kind: str, as_json: dict, as_proto: bytes):
            if kind == "json":
                self._answer(200, json.dumps(as_json).encode(), "application/json")
            else:
                self._answer(200, as_proto, "application/proto")

        def _connect_error(self, status: int, code: str, message: str):
            self._answer(status, json.dumps({"code": code, "message": message}).encode(),
                         "application/json")

        def do_POST(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            body = self._body()
            if url.path in ("/ingest", "/pyroscope/ingest"):
                return self._ingest(urllib.parse.parse_qs(url.query), body)
            kind = self._connect_kind()
            if url.path.startswith(("/push.v1.", "/querier.v1.")) and kind is None:
                return self._answer(415, b"")
            try:
                # connect's unary compression (the SDKs send gzip): Content-Encoding
                encoding = (self.headers.get("Content-Encoding") or "identity").strip()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding != "identity":
                    return self._connect_error(501, "unimplemented",
                                               f"unknown compression {encoding!r}")
                if url.path == "/push.v1.PusherService/Push":
                    for labels, samples in push_series(body, kind):
                        if not labels.get("service_name"):
                            store.discard("missing_labels")
                            return self._connect_error(400, "invalid_argument",
                                                       "service_name label is required")
                        for raw in samples:
                            store.put(labels, raw, "pprof")
                    return self._connect_answer(kind, {}, b"")
                if url.path == "/querier.v1.QuerierService/LabelValues":
                    name = query_request(body, kind).get("name", "")
                    names = sorted(store.labels.get(name, ()))
                    return self._connect_answer(kind, {"names": names}, proto_strings(1, names))
                if url.path == "/querier.v1.QuerierService/LabelNames":
                    names = sorted(k for k, v in store.labels.items() if v)
                    return self._connect_answer(kind, {"names": names}, proto_strings(1, names))
                if url.path == "/querier.v1.QuerierService/ProfileTypes":
                    types = [{"ID": f"{n}:samples:count:cpu:nanoseconds", "name": n,
                              "sampleType": "samples", "sampleUnit": "count",
                              "periodType": "cpu", "periodUnit": "nanoseconds"}
                             for n in sorted(store.labels.get("__name__", ()))]
                    return self._connect_answer(kind, {"profileTypes": types}, b"")
            except (ValueError, KeyError, TypeError, EOFError, gzip.BadGzipFile) as exc:
                return self._connect_error(400, "invalid_argument", str(exc))
            except OSError as exc:
                return self._connect_error(500, "internal", str(exc))
            self._answer(404, b"404 page not found\n")

        def _ingest(self, query: dict, body: bytes):
            name = (query.get("name") or [""])[0]
            try:
                service, kind, labels = parse_name(name)
                for key in ("from", "until", "sampleRate"):
                    if key in query and not re.fullmatch(r"-?\d+", query[key][0]):
                        raise ValueError(f"invalid {key} {query[key][0]!r}")
            except ValueError as exc:
                store.discard("invalid_labels")
                return self._answer(400, f"{exc}\n".encode())
            fmt = (query.get("format") or ["folded"])[0]
            metric = {"cpu": "process_cpu", "wall": "wall"}.get(kind, "memory")
            try:
                store.put({**labels, "service_name": service, "__name__": metric},
                          body, re.sub(r"[^A-Za-z0-9]", "_", fmt) or "raw")
            except OSError as exc:
                return self._answer(500, f"{exc}\n".encode())
            self._answer(200, b"")

    return Handler


def serve(config: dict, flags: dict[str, str]) -> int:
    address = flags.get("server.http-listen-address",
                        lookup(config, "server.http_listen_address") or "")
    port = int(flags.get("server.http-listen-port",
                         lookup(config, "server.http_listen_port") or 4040))
    data_path = flags.get("pyroscopedb.data-path",
                          lookup(config, "pyroscopedb.data_path") or "./data")
    folders = [lookup(config, "storage.filesystem.dir") or "./data-shared",
               lookup(config, "compactor.data_dir") or "./data-compactor",
               lookup(config, "store_gateway.bucket_store.sync_dir") or "./data/pyroscope-sync/"]
    try:
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
        store = Store(data_path)
    except OSError as exc:
        print(f"failed running pyroscope: mkdir {exc.filename}: {exc.strerror.lower()}",
              file=sys.stderr)
        return 1
    # the ports it binds besides HTTP: dskit's gRPC server (default every address, 9095)
    # and memberlist's gossip (default every address, 7946); held, never answered
    held = []
    grpc = (lookup(config, "server.grpc_listen_address") or "",
            int(lookup(config, "server.grpc_listen_port") or 9095))
    bind = lookup(config, "memberlist.bind_addr") or [""]
    gossip = [(a, int(lookup(config, "memberlist.bind_port") or 7946)) for a in bind]
    for where in (grpc, *gossip):
        try:
            held.append(listening_socket(*where))
        except OSError as exc:
            print(f"failed running pyroscope: listen tcp {where[0]}:{where[1]}: "
                  f"{exc.strerror}", file=sys.stderr)
            return 1
    try:
        server = http_server(address, port, handler(store))
    except OSError as exc:
        print(f"failed running pyroscope: listen tcp {address}:{port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"pyroscope TEST DOUBLE listening on {address or '*'}:{port}", file=sys.stderr,
          flush=True)
    server.serve_forever()
    return 0


def main(args: list[str]) -> int:
    flags, rest = go_flags(args, FLAGS, HELP_HINT)
    config = load_config(flags.get("config.file"))
    if rest:
        if rest[0] in ("agent", "ebpf"):
            print(f"{rest[0]} mode is deprecated. Please use Grafana Agent instead.")
            return 1
        if rest[0] != "server":
            print(f"unknown mode: {rest[0]}")
            return 1
    validate(config, flags, bool(flags.get("config.file")))
    if flags.get("version", "false").lower() in ("1", "t", "true"):
        print(version_line())
        return 0
    if flags.get("modules", "false").lower() in ("1", "t", "true"):
        for module in MODULES:
            print(f"{module} *" if module in IN_ALL else module)
        print()
        print("Modules marked with * are included in target All.")
        return 0
    if any(flags.get(h, "false").lower() in ("1", "t", "true")
           for h in ("h", "help", "help-all")):
        print(f"Usage of pyroscope ({version_line()}):")
        for name, takes in sorted(FLAGS.items()):
            print(f"  -{name}{' string' if takes else ''}")
        return 0
    return serve(config, flags)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as exc:
        if exc.message:
            print(exc.message, file=sys.stderr)
        sys.exit(exc.code)
