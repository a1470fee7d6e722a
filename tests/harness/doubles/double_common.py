"""What the single-file TEST DOUBLES share (http_readiness_double.py, jaeger_double.py,
pyroscope_double.py): a YAML subset, protobuf's wire format, Go's flag and cobra's
command lines, and the HTTP serving they all do.

A double is installed on a fleet host as ONE file run by python3 alone (standard library
only). So `launcher` (tests/harness/doubles/__init__.py) puts this file's text in front
of the double's own text; a double imports the names below only where they are not
already defined (DOUBLE_COMMON is the sign), that is when it is imported as a module or
run directly as a script. No `from __future__` import here: in the one file this text
does not stand at its top.
"""

import json
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOUBLE_COMMON = True   # the launcher's one file has these names before the double's text


class UsageError(Exception):
    """What the real program refuses (a command line, a config): the message goes to
    stderr and the program exits with `code`."""

    def __init__(self, message: str = "", code: int = 1):
        super().__init__(message)
        self.message, self.code = message, code


# -- command lines ---------------------------------------------------------------------------
GO_BOOLS = ("1", "0", "t", "f", "T", "F", "true", "false", "TRUE", "FALSE", "True", "False")


def go_flags(args: list[str], known: dict[str, bool],
             unknown_hint: str = "") -> tuple[dict[str, str], list[str]]:
    """Go's flag package over `known` (name -> takes a value): -name, --name, -name=value,
    -name value (not for booleans, whose value, given, is one strconv.ParseBool takes);
    parsing stops at the first non-flag argument, or after "--". Unknown flag: exit 2
    (its message followed by `unknown_hint`, where the program prints one)."""
    values, i = {}, 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return values, args[i + 1:]
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in known:
            raise UsageError(f"flag provided but not defined: -{name}{unknown_hint}", 2)
        if not known[name]:
            value = value if eq else "true"
            if value not in GO_BOOLS:
                raise UsageError(f'invalid boolean value "{value}" for -{name}', 2)
        elif not eq:
            if i + 1 >= len(args):
                raise UsageError(f"flag needs an argument: -{name}", 2)
            i += 1
            value = args[i]
        values[name] = value
        i += 1
    return values, args[i:]


def cobra_flags(args: list[str], known: dict[str, bool],
                short: dict[str, str] | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """cobra's (pflag's) command line over `known` (name -> takes a value): --name=value,
    --name value, -x for a name `short` maps x to, flags and positional arguments mixed,
    "--" ending the flags; every value of a repeated flag kept, in order. Unknown flag:
    exit 1."""
    values, rest, i = {}, [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i + 1:]
            break
        if arg.startswith("--") or (arg.startswith("-") and len(arg) == 2 and arg != "-"):
            name, eq, value = arg.lstrip("-").partition("=")
            if not arg.startswith("--"):
                name = (short or {}).get(name, f"-{name}")
            if name not in known:
                raise UsageError(f"Error: unknown flag: {arg.partition('=')[0]}", 1)
            if not eq:
                if known[name]:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"Error: flag needs an argument: --{name}", 1)
                    value = args[i]
                else:
                    value = "true"
            values.setdefault(name, []).append(value)
        else:
            rest.append(arg)
        i += 1
    return values, rest


# -- a YAML subset -----------------------------------------------------------------------------
# Block mappings and lists (of scalars or of mappings), flow lists, `{}` and JSON-style flow
# mappings, plain, single- and double-quoted scalars, comments, a leading `---`.
_KEY = re.compile(r'^("(?:[^"\\]|\\.)*"|[^\s:#"\'\-\[{][^:]*?):(?:\s+(.*))?$')


def _strip_comment(line: str) -> str:
    """The line without its comment; a quote opens a string only where a scalar starts."""
    quote, i = None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1   # the escaped character
            elif c == quote:
                quote = None
        elif c in "\"'" and (i == 0 or line[i - 1] in " \t[{,:"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
        i += 1
    if quote:
        raise ValueError(f"unterminated string in {line.strip()!r}")
    return line.rstrip()


def _split_flow(inner: str) -> list[str]:
    """The items of a flow list's inside, split at its own commas."""
    parts, depth, quote, cur, escaped = [], 0, None, "", False
    for ch in inner:
        if escaped:
            escaped = False
        elif quote:
            escaped = ch == "\\" and quote == '"'
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def _scalar(text: str):
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise ValueError(f"unterminated string {text!r}")
        return text[1:-1].replace("''", "'")
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError(f"unterminated list {text!r}")
        inner = text[1:-1].strip()
        return [_scalar(x) for x in _split_flow(inner)] if inner else []
    if text.startswith("{"):
        if text[1:-1].strip() == "" and text.endswith("}"):
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("flow mappings other than JSON's are not in the TEST DOUBLE's "
                             f"YAML subset: {text!r}") from None
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        return float(text)
    return text


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def parse_yaml(text: str):
    """The document, or None where it is empty; ValueError naming the line where it is
    not in the subset."""
    lines = []   # (indent, text, line number)
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise ValueError(f"yaml: line {number}: found character that cannot start any "
                             "token (a tab in indentation)")
        line = _strip_comment(raw)
        if line.strip() and line.strip() != "---":
            lines.append((len(line) - len(line.lstrip(" ")), line.strip(), number))
    if not lines:
        return None
    value, i = _block(lines, 0, lines[0][0])
    if i != len(lines):
        raise ValueError(f"yaml: line {lines[i][2]}: unexpected indentation")
    return value


def _block(lines, i, indent):
    return (_list if _is_item(lines[i][1]) else _mapping)(lines, i, indent)


def _mapping(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i][0] == indent and not _is_item(lines[i][1]):
        _, text, number = lines[i]
        m = _KEY.match(text)
        if not m:
            raise ValueError(f"yaml: line {number}: could not find expected ':' in {text!r}")
        key = _scalar(m.group(1))
        if key in out:
            raise ValueError(f'yaml: line {number}: mapping key "{key}" already defined')
        i += 1
        if m.group(2):
            out[key] = _scalar(m.group(2))
        elif i < len(lines) and (lines[i][0] > indent or (
                lines[i][0] == indent and _is_item(lines[i][1]))):
            out[key], i = _block(lines, i, lines[i][0])
        else:
            out[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise ValueError(f"yaml: line {lines[i][2]}: unexpected indentation")
    return out, i


def _list(lines, i, indent):
    out = []
    while i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
        _, text, number = lines[i]
        rest = text[1:].strip()
        if not rest:   # "-" alone: the item is the block below it, or null
            i += 1
            item = None
            if i < len(lines) and lines[i][0] > indent:
                item, i = _block(lines, i, lines[i][0])
        elif _KEY.match(rest):
            # "- key: value" starts a mapping whose other keys sit two columns further in
            sub = [(indent + 2, rest, number)]
            i += 1
            while i < len(lines) and lines[i][0] > indent:
                sub.append(lines[i])
                i += 1
            item, used = _mapping(sub, 0, indent + 2)
            if used != len(sub):
                raise ValueError(f"yaml: line {sub[used][2]}: unexpected indentation")
        else:
            item, i = _scalar(rest), i + 1
        out.append(item)
    return out, i


# -- protobuf's wire format --------------------------------------------------------------------
def varint(data: bytes, i: int) -> tuple[int, int]:
    """The varint at data[i:] and where it ends."""
    shift = value = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def proto_wire(data: bytes):
    """Every field of a message: (number, wire type, value): an int for a varint, the raw
    bytes for fixed64, fixed32 and length-delimited fields."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i:i + size], i + size
            if len(value) != size:
                raise ValueError("truncated fixed field")
        elif wire == 2:
            size, i = varint(data, i)
            if i + size > len(data):
                raise ValueError("truncated field")
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def proto_fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) of a message: ints for varints, bytes for the rest."""
    return [(number, value) for number, _, value in proto_wire(data)]


def encode_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1   # a negative int64 as its two's complement
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def encode_bytes(number: int, data: bytes) -> bytes:
    """A length-delimited field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(data)) + data


# -- HTTP --------------------------------------------------------------------------------------
class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing, with the body read and an answer sent in one call."""
    text_type = "text/plain"

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, data: bytes = b"", kind: str | None = None):
        self.send_response(status)
        self.send_header("Content-Type", kind or self.text_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _bind_address(address: str) -> tuple[int, str]:
    """(address family, address to bind) of a listen address: [v6] or v6, v4, or ""
    (every IPv4 address)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return family, address.strip("[]") or ("::" if family == socket.AF_INET6 else "0.0.0.0")


def http_server(address: str, port: int, handler) -> ThreadingHTTPServer:
    """A threading HTTP server bound to address:port (OSError where it cannot bind)."""
    family, host = _bind_address(address)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = family

    return Server((host, port), handler)


def listening_socket(address: str, port: int) -> socket.socket:
    """A TCP socket listening on address:port, for a port a double holds but speaks no
    protocol on."""
    family, host = _bind_address(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    return sock
