"""VICTORIAMETRICS CLUSTER TEST DOUBLE: this is NOT vminsert, vmselect or vmstorage.

Upstream's cluster binaries cannot be had on the test machine (no internet, and Debian
builds only the single-node edition), so the end-to-end test installs this file as all
three programs of an upstream-shaped cluster tarball (tests/harness/doubles/vm_cluster_archive.py).
It exists to test the DEPLOY (units, users, flags, ports, readiness, remote_write and
Grafana URLs), not VictoriaMetrics:

    vm_cluster_double.py vmstorage [upstream flags]   (installed as vmstorage-prod)
    vm_cluster_double.py vminsert  [upstream flags]   (installed as vminsert-prod)
    vm_cluster_double.py vmselect  [upstream flags]   (installed as vmselect-prod)

Flags are read as upstream's Go programs read them (`-name=value`, `--name=value` or
`-name value`; an unknown flag stops the program with Go's message, exit code 2), with
upstream's names and defaults for the flags the deploy sets.

- vmstorage: runs Debian's REAL single-node VictoriaMetrics (/usr/bin/victoria-metrics,
  or $VM_DOUBLE_STORAGE_BINARY) on -httpListenAddr, -storageDataPath, -retentionPeriod
  (and -dedup.minScrapeInterval), so /health and /metrics are the real ones; and listens
  on -vminsertAddr (accepts POST /api/v1/write only) and -vmselectAddr (GET/POST of the
  query API under /api/v1/ only), forwarding both to that process over HTTP. Upstream
  speaks its own binary protocol on those two ports; the double speaks HTTP.
- vminsert: serves POST /insert/<accountID>/prometheus/api/v1/write and forwards the body
  as it came (snappy protobuf) to the -vminsertAddr of -replicationFactor storage nodes,
  the first reachable ones in -storageNode order (upstream shards by series; the double
  does not).
- vmselect: serves /select/<accountID>/prometheus/api/v1/<query, query_range, series,
  labels, label/<name>/values, export, status/buildinfo> from the first reachable
  storage node's -vmselectAddr.
- vminsert and vmselect serve GET /health ("OK") and /metrics (request counters).

Tenants: the accountID (and an optional :projectID) must be numbers, as upstream requires,
but the double does not separate tenants: every tenant reads and writes the same storage.
"""

import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# upstream's flag names and defaults, per program (flags the deploy may set)
COMMON = {"loggerLevel": "INFO", "loggerFormat": "default", "envflag.enable": "false",
          "memory.allowedPercent": "60"}
FLAGS = {
    "vmstorage": {"httpListenAddr": ":8482", "storageDataPath": "vmstorage-data",
                  "retentionPeriod": "1", "vminsertAddr": ":8400", "vmselectAddr": ":8401",
                  "dedup.minScrapeInterval": "0s"},
    "vminsert": {"httpListenAddr": ":8480", "storageNode": [], "replicationFactor": "1"},
    "vmselect": {"httpListenAddr": ":8481", "storageNode": [], "replicationFactor": "1",
                 "dedup.minScrapeInterval": "0s", "cacheDataPath": ""},
}
QUERY_PATHS = ("query", "query_range", "series", "labels", "export", "status/buildinfo")
STORAGE_BINARY = os.environ.get("VM_DOUBLE_STORAGE_BINARY", "/usr/bin/victoria-metrics")


def fail(message: str, code: int = 2):
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


def parse_flags(program: str, args: list[str]) -> dict:
    """Go's flag syntax; array flags (storageNode) take comma-separated values and may be
    repeated, as upstream's flagutil.ArrayString."""
    known = {**COMMON, **FLAGS[program]}
    values = {k: (list(v) if isinstance(v, list) else v) for k, v in known.items()}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg in ("-", "--"):
            fail(f"{program}: unexpected argument {arg!r}")
        name = arg.lstrip("-")
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name not in known:
            fail(f"flag provided but not defined: -{name}")
        if value is None:
            i += 1
            if i >= len(args):
                fail(f"flag needs an argument: -{name}")
            value = args[i]
        if isinstance(values[name], list):
            values[name] += [v for v in value.split(",") if v]
        else:
            values[name] = value
        i += 1
    return values


def split_address(address: str, program: str) -> tuple[str, int]:
    """Go's host:port ("" host or "[::]": every interface)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        fail(f"{program}: cannot parse listen address {address!r}")
    host = host.strip("[]")
    return (host or "0.0.0.0"), int(port)


def connect_address(address: str) -> str:
    """Where to reach a listen address from the same host."""
    host, port = split_address(address, "double")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, handler, program: str):
        host, port = split_address(address, program)
        if ":" in host:
            import socket
            self.address_family = socket.AF_INET6
        super().__init__((host, port), handler)


COUNTS: dict[str, int] = {}
LOCK = threading.Lock()


def count(key: str) -> None:
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1


def forward(method: str, url: str, body: bytes | None, headers: dict, timeout: float = 30):
    """(status, headers, body) of the request at `url`; raises OSError when unreachable."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


PASSED_HEADERS = ("Content-Type", "Content-Encoding", "X-Prometheus-Remote-Write-Version",
                  "Accept-Encoding")


class Handler(BaseHTTPRequestHandler):
    program = ""
    flags: dict = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes, content_type: str = "text/plain",
              headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            if k.lower() == "content-encoding":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def passed_headers(self) -> dict:
        return {h: self.headers[h] for h in PASSED_HEADERS if self.headers.get(h)}

    def common(self, path: str) -> bool:
        if path == "/health":
            self.reply(200, b"OK")
            return True
        if path == "/metrics":
            with LOCK:
                lines = [f'vm_cluster_double_up{{program="{self.program}"}} 1']
                lines += [f'vm_cluster_double_requests_total{{program="{self.program}",'
                          f'path="{k}"}} {v}' for k, v in sorted(COUNTS.items())]
            self.reply(200, ("\n".join(lines) + "\n").encode())
            return True
        return False

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def tenant_path(self, path: str, kind: str) -> str | None:
        """The rest of /<kind>/<accountID[:projectID]>/prometheus/<rest>, or None."""
        parts = path.split("/", 4)
        if len(parts) < 5 or parts[1] != kind or parts[3] != "prometheus":
            return None
        tenant = parts[2].split(":")
        if not all(t.isdigit() for t in tenant) or len(tenant) > 2:
            self.reply(400, f"cannot parse accountID from {parts[2]!r}".encode())
            return ""
        return "/" + parts[4]

    def route(self, method: str):
        path, _, query = self.path.partition("?")
        if self.common(path):
            return
        count(path)
        getattr(self, f"route_{self.program}")(method, path, query)

    # -- vminsert --------------------------------------------------------------------------
    def route_vminsert(self, method: str, path: str, query: str):
        rest = self.tenant_path(path, "insert")
        if rest == "":
            return
        if rest != "/api/v1/write" or method != "POST":
            self.reply(404, f"unsupported path requested: {path!r}".encode())
            return
        body = self.body() or b""
        wanted = int(self.flags["replicationFactor"])
        written, errors = 0, []
        for node in self.flags["storageNode"]:
            try:
                status, _, out = forward("POST", f"http://{node}/api/v1/write", body,
                                         self.passed_headers())
            except OSError as exc:
                errors.append(f"{node}: {exc}")
                continue
            if status // 100 != 2:
                errors.append(f"{node}: HTTP {status} {out[:200]!r}")
                continue
            written += 1
            if written >= wanted:
                self.reply(204, b"")
                return
        self.reply(503, f"wrote {written} of {wanted} copies; {errors}".encode())

    # -- vmselect --------------------------------------------------------------------------
    def route_vmselect(self, method: str, path: str, query: str):
        rest = self.tenant_path(path, "select")
        if rest == "":
            return
        api = (rest or "").removeprefix("/api/v1/")
        if rest is None or not (api in QUERY_PATHS or (api.startswith("label/")
                                                       and api.endswith("/values"))):
            self.reply(404, f"unsupported path requested: {path!r}".encode())
            return
        body = self.body() if method == "POST" else None
        errors = []
        for node in self.flags["storageNode"]:
            url = f"http://{node}/api/v1/{api}" + (f"?{query}" if query else "")
            try:
                status, headers, out = forward(method, url, body, self.passed_headers())
            except OSError as exc:
                errors.append(f"{node}: {exc}")
                continue
            self.reply(status, out, headers.get("Content-Type", "application/json"), headers)
            return
        self.reply(503, f"no storage node reachable: {errors}".encode())

    # -- vmstorage's two inner ports -----------------------------------------------------------
    def route_vmstorage_insert(self, method: str, path: str, query: str):
        if path != "/api/v1/write" or method != "POST":
            self.reply(404, b"the vminsert port takes POST /api/v1/write only")
            return
        status, headers, out = forward("POST", f"http://{self.backend}/api/v1/write",
                                       self.body() or b"", self.passed_headers())
        self.reply(status, out, headers.get("Content-Type", "text/plain"))

    def route_vmstorage_select(self, method: str, path: str, query: str):
        if not path.startswith("/api/v1/"):
            self.reply(404, b"the vmselect port serves /api/v1/ queries only")
            return
        body = self.body() if method == "POST" else None
        url = f"http://{self.backend}{path}" + (f"?{query}" if query else "")
        status, headers, out = forward(method, url, body, self.passed_headers())
        self.reply(status, out, headers.get("Content-Type", "application/json"), headers)


def serve(address: str, program: str, flags: dict, route: str, **attrs) -> Server:
    handler = type(f"{route}Handler", (Handler,),
                   {"program": program, "flags": flags, **attrs,
                    **({"route_" + program: getattr(Handler, f"route_{route}")}
                       if route != program else {})})
    server = Server(address, handler, program)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_storage(flags: dict) -> int:
    argv = [STORAGE_BINARY, f"-httpListenAddr={flags['httpListenAddr']}",
            f"-storageDataPath={flags['storageDataPath']}",
            f"-retentionPeriod={flags['retentionPeriod']}"]
    if flags["dedup.minScrapeInterval"] not in ("0s", "0"):
        argv.append(f"-dedup.minScrapeInterval={flags['dedup.minScrapeInterval']}")
    child = subprocess.Popen(argv)

    def stop(signum, _frame):
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backend = connect_address(flags["httpListenAddr"])
    serve(flags["vminsertAddr"], "vmstorage", flags, "vmstorage_insert", backend=backend)
    serve(flags["vmselectAddr"], "vmstorage", flags, "vmstorage_select", backend=backend)
    return child.wait()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in FLAGS:
        fail(f"usage: vm_cluster_double.py {'|'.join(FLAGS)} [flags]")
    program, flags = argv[0], parse_flags(argv[0], argv[1:])
    if program == "vmstorage":
        return run_storage(flags)
    if not flags["storageNode"]:
        fail(f"{program}: missing -storageNode arg", 1)
    if int(flags["replicationFactor"]) > len(flags["storageNode"]):
        fail(f"{program}: -replicationFactor={flags['replicationFactor']} exceeds the "
             f"number of -storageNode ({len(flags['storageNode'])})", 1)
    server = serve(flags["httpListenAddr"], program, flags, program)
    print(f"{program} TEST DOUBLE listening on {flags['httpListenAddr']}, storage nodes "
          f"{flags['storageNode']}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
