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
  re-reads its config on SIGHUP, as the real one does.

Standard library only (fleet hosts have python3, not PyYAML). It is installed as a
single file named like the real binary: a /bin/sh launcher line that execs python3 on
the file itself (see tests/harness/doubles/__init__.py, `launcher`). Run directly:

    python3 http_readiness_double.py loki -config.file=/etc/loki/loki.yaml
"""

import json
import os
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class UsageError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# -- command lines ---------------------------------------------------------------------------
def go_flags(args: list[str], known: dict[str, bool]) -> tuple[dict[str, str], list[str]]:
    """Go's flag package: -name, --name, -name=value, -name value (not for booleans);
    parsing stops at the first non-flag argument. Unknown flag: exit 2."""
    values, i = {}, 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg in ("-", "--"):
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in known:
            raise UsageError(f"flag provided but not defined: -{name}", 2)
        if not eq:
            if known[name]:
                if i + 1 >= len(args):
                    raise UsageError(f"flag needs an argument: -{name}", 2)
                i += 1
                value = args[i]
            else:
                value = "true"
        values[name] = value
        i += 1
    return values, args[i:]


def cobra_flags(args: list[str], known: dict[str, bool]) -> tuple[dict[str, str], list[str]]:
    """Alloy's cobra command line: --name=value or --name value, flags and positional
    arguments mixed. Unknown flag: exit 1."""
    values, rest, i = {}, [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name not in known:
                raise UsageError(f"Error: unknown flag: --{name}", 1)
            if not eq:
                if known[name]:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"Error: flag needs an argument: --{name}", 1)
                    value = args[i]
                else:
                    value = "true"
            values[name] = value
        else:
            rest.append(arg)
        i += 1
    return values, rest


# -- a YAML subset -----------------------------------------------------------------------------
def _strip_comment(line: str) -> str:
    quote, i = None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1   # the escaped character
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
        i += 1
    if quote:
        raise ValueError(f"unterminated string in {line.strip()!r}")
    return line.rstrip()


def _scalar(text: str):
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise ValueError(f"unterminated string {text!r}")
        return text[1:-1].replace("''", "'")
    if text.startswith(("[", "{")):
        return json.loads(text)
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return None if text in ("null", "~") else text


_KEY = re.compile(r'^("(?:[^"\\]|\\.)*"|[^\s:#"\'\-][^:]*?):(?:\s+(.*))?$')


def parse_yaml(text: str):
    """Block mappings and lists of scalars or mappings: what a Loki config is made of."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        line = _strip_comment(raw)
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if line[indent] == "\t":
            raise ValueError(f"line {number}: tab in indentation")
        lines.append((indent, line.strip(), number))
    if not lines:
        return None
    value, i = _block(lines, 0, lines[0][0])
    if i != len(lines):
        raise ValueError(f"line {lines[i][2]}: unexpected indentation")
    return value


def _block(lines, i, indent):
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        return _list(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("-"):
        _, text, number = lines[i]
        m = _KEY.match(text)
        if not m:
            raise ValueError(f"line {number}: expected `key: value`, got {text!r}")
        key = json.loads(m.group(1)) if m.group(1).startswith('"') else m.group(1).strip()
        if key in out:
            raise ValueError(f"line {number}: key {key!r} given twice")
        i += 1
        if m.group(2):
            out[key] = _scalar(m.group(2))
        elif i < len(lines) and (lines[i][0] > indent or (
                lines[i][0] == indent and lines[i][1].startswith("-"))):
            out[key], i = _block(lines, i, lines[i][0])
        else:
            out[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise ValueError(f"line {lines[i][2]}: unexpected indentation")
    return out, i


def _list(lines, i, indent):
    out = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
        _, text, number = lines[i]
        rest = text[1:].strip()
        if not rest:
            item, i = _block(lines, i + 1, lines[i + 1][0]) if i + 1 < len(lines) else (None, i + 1)
        elif _KEY.match(rest):
            # "- key: value" starts a mapping whose keys sit two columns in
            sub = [(indent + 2, rest, number)] + [l for l in lines[i + 1:]]
            item, used = _mapping(sub, 0, indent + 2)
            i += used
        else:
            item, i = _scalar(rest), i + 1
        out.append(item)
    return out, i


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


# -- serving -----------------------------------------------------------------------------------
def serve(program: str, address: str, port: int) -> None:
    ready = READY_PATHS[program]
    body = (f"# HELP monstack_test_double_info A test double of {program} answers here.\n"
            "# TYPE monstack_test_double_info gauge\n"
            f'monstack_test_double_info{{program="{program}"}} 1\n').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._answer(200, body, "text/plain; version=0.0.4")
            elif path in (ready, "/-/healthy"):
                self._answer(200, f"{program} test double is ready\n".encode())
            else:
                self._answer(404, b"not found\n")

        def _answer(self, status, data, kind="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

    httpd = Server((address.strip("[]"), port), Handler)
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
        _, rest = cobra_flags(args, {"write": False, "test": False, "w": False, "t": False})
        if len(rest) != 1:
            raise UsageError("Error: fmt takes one file", 1)
        sys.stdout.write(checked_alloy_file(rest[0], "", "encountered errors during formatting"))
        return 0
    if command == "validate":
        _, rest = cobra_flags(args, ALLOY_VALIDATE_FLAGS)
        if len(rest) != 1:
            raise UsageError(f"Error: accepts 1 arg(s), received {len(rest)}", 1)
        checked_alloy_file(rest[0], "Error: ", "validation failed")
        return 0
    if command != "run":
        raise UsageError(f"Error: unknown command {command!r} for \"alloy\"", 1)
    flags, rest = cobra_flags(args, ALLOY_RUN_FLAGS)
    if len(rest) != 1:
        raise UsageError("Error: accepts 1 arg(s)", 1)
    config = rest[0]

    def load():
        with open(config) as fh:
            check_alloy(fh.read())

    load()
    mark(flags.get("storage.path", "data-alloy"), "alloy")

    def reload(*_):
        try:
            load()
            print("msg=\"config reloaded\" (alloy TEST DOUBLE)", flush=True)
        except (OSError, ValueError) as exc:
            print(f"msg=\"failed to reload config\" err={exc}", flush=True)

    signal.signal(signal.SIGHUP, reload)
    serve("alloy", *host_port(flags.get("server.http.listen-addr", "127.0.0.1:12345")))
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
