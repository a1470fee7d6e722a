"""What the single-file TEST DOUBLES share (tests/harness/doubles/double_common.py): its
YAML subset read as PyYAML reads it, Go's and cobra's command lines, protobuf's wire
format, the HTTP serving, and the launcher's one file holding it once, in front of a
double that defines none of its names again."""

from __future__ import annotations

import ast
import subprocess
import threading
import urllib.request

import pytest
import yaml

from harness import doubles
from harness.doubles import double_common as common
from harness.net import http_request

DOUBLE_FILES = sorted({doubles.DOUBLE, *doubles.DOUBLES.values()})


# -- the YAML subset --------------------------------------------------------------------------
YAML_DOCUMENTS = [
    # block mappings and lists, lists of mappings, "-" alone, comments, a document start
    """---
# a comment
server:
  http_listen_port: 3100   # after a value
  names:
    - loki
    - "a # not a comment"
  empty:
jobs:
- job_name: one
  static_configs:
    - targets: ['127.0.0.1:9100']
- job_name: two
-
  nested: {}
""",
    # flow lists of plain words, quoted items and lists; JSON-style values; scalars
    """service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  quoted: ["a, b", 'c''d', "e\\"f"]
  nested: [[1, 2], [], [x]]
  json: {"a": [1, 2], "b": "c"}
  ratio: 0.5
  whole: -12
  flags: [true, False, null, ~]
  note: it's plain, "not" quoted
  url: http://127.0.0.1:9090/api
""",
    "- a\n- b: 1\n  c: [2]\n",
]


@pytest.mark.parametrize("text", YAML_DOCUMENTS)
def test_the_yaml_subset_reads_what_pyyaml_reads(text):
    assert common.parse_yaml(text) == yaml.safe_load(text)


def test_an_empty_document_is_null():
    assert common.parse_yaml("# nothing\n\n") is None


@pytest.mark.parametrize("broken,words", [
    ("server:\n  port: 1\n   grpc: 1\n", "unexpected indentation"),
    ('server:\n  address: "0.0.0.0\n', "unterminated string"),
    ("server:\n\tport: 1\n", "tab in indentation"),
    ("server:\n  port: 1\n  port: 2\n", 'mapping key "port" already defined'),
    ("- a\nb: 1\n", "unexpected indentation"),
    ("a: 1\n- b\n", "unexpected indentation"),
    ("a: [1, 2\n", "unterminated list"),
    ("a: {b: 1}\n", "flow mappings other than JSON's"),
    ("just words\n", "could not find expected ':'"),
    ("- a: 1\n    b: 2\n  c: 3\n", "unexpected indentation"),
])
def test_the_yaml_subset_refuses_what_it_cannot_read(broken, words):
    with pytest.raises(ValueError, match=words):
        common.parse_yaml(broken)


# -- command lines -----------------------------------------------------------------------------
KNOWN = {"config.file": True, "verify": False}


def test_go_flags_stop_at_the_first_argument_or_after_a_double_dash():
    assert common.go_flags(["-config.file=a", "--verify", "run", "-verify"], KNOWN) == (
        {"config.file": "a", "verify": "true"}, ["run", "-verify"])
    assert common.go_flags(["-config.file", "b", "-verify=F", "--", "-x"], KNOWN) == (
        {"config.file": "b", "verify": "F"}, ["-x"])


def test_cobra_flags_mix_with_arguments_and_keep_every_value():
    flags, rest = common.cobra_flags(
        ["validate", "--set=a", "-c", "x.yaml", "--set", "b", "--verify", "--", "--set"],
        {"set": True, "config": True, "verify": False}, {"c": "config"})
    assert flags == {"set": ["a", "b"], "config": ["x.yaml"], "verify": ["true"]}
    assert rest == ["validate", "--set"]


def go(args):
    return common.go_flags(args, KNOWN, ", see -help")


def cobra(args):
    return common.cobra_flags(args, {"set": True})


@pytest.mark.parametrize("parse,args,code,message", [
    (go, ["-nope"], 2, "flag provided but not defined: -nope, see -help"),
    (go, ["-config.file"], 2, "flag needs an argument: -config.file"),
    (go, ["-verify=yes"], 2, 'invalid boolean value "yes" for -verify'),
    (cobra, ["--nope=1"], 1, "Error: unknown flag: --nope"),
    (cobra, ["-x"], 1, "Error: unknown flag: -x"),
    (cobra, ["--set"], 1, "Error: flag needs an argument: --set"),
])
def test_a_command_line_is_refused_as_go_or_cobra_refuses_it(parse, args, code, message):
    with pytest.raises(common.UsageError) as exc:
        parse(args)
    assert (exc.value.code, exc.value.message) == (code, message)


# -- protobuf's wire format ----------------------------------------------------------------------
def test_the_wire_format_reads_what_it_writes():
    inner = common.encode_bytes(1, b"name") + common.encode_bytes(2, b"value")
    message = (common.encode_bytes(3, inner) + common.encode_varint(4 << 3)
               + common.encode_varint(-1) + common.encode_varint(5 << 3 | 1) + b"\x01" * 8
               + common.encode_varint(6 << 3 | 5) + b"\x02" * 4)
    assert list(common.proto_wire(message)) == [
        (3, 2, inner), (4, 0, (1 << 64) - 1), (5, 1, b"\x01" * 8), (6, 5, b"\x02" * 4)]
    assert common.proto_fields(inner) == [(1, b"name"), (2, b"value")]
    assert common.encode_varint(300) == b"\xac\x02"


@pytest.mark.parametrize("truncated", [b"\x0a\x05abc", b"\x08\x80", b"\x09\x00\x00", b"\x0b"])
def test_the_wire_format_refuses_a_broken_message(truncated):
    with pytest.raises(ValueError):
        list(common.proto_wire(truncated))


# -- HTTP ----------------------------------------------------------------------------------------
def test_the_server_answers_through_the_quiet_handler():
    class Handler(common.QuietHandler):
        def do_POST(self):  # noqa: N802
            self._answer(201, self._body()[::-1], "application/octet-stream")

        def do_GET(self):  # noqa: N802
            self._answer(404, b"none\n")

    server = common.http_server("127.0.0.1", 0, Handler)
    held = common.listening_socket("", 0)
    try:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/x"
        assert http_request(url, b"abc", "text/plain") == (
            201, b"cba", "application/octet-stream")
        assert http_request(url) == (404, b"none\n", "text/plain")
        assert held.getsockname()[0] == "0.0.0.0"
        with urllib.request.urlopen(url, data=b"") as resp:
            assert resp.read() == b""
    finally:
        server.shutdown()
        server.server_close()
        held.close()


# -- the launcher's one file -----------------------------------------------------------------------
def top_level_names(text: str) -> set[str]:
    names = set()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("double", DOUBLE_FILES, ids=lambda p: p.name)
def test_no_double_defines_again_what_it_shares(double):
    shared = top_level_names((doubles.HERE / "double_common.py").read_text())
    assert "parse_yaml" in shared and "DOUBLE_COMMON" in shared
    assert not shared & top_level_names(double.read_text())


@pytest.mark.parametrize("program", ["loki", "jaeger", "pyroscope"])
def test_the_launcher_holds_the_shared_text_once_before_the_double(tmp_path, program):
    text = doubles.launcher(program)
    common_text = (doubles.HERE / "double_common.py").read_text()
    double = doubles.DOUBLES.get(program, doubles.DOUBLE).read_text()
    assert text.count(common_text) == 1 and text.endswith(common_text + double)
    assert "TEST DOUBLE" in text.splitlines()[1]
    script = tmp_path / program
    script.write_text(text)
    script.chmod(0o755)
    # the one file never imports double_common: run where no double_common.py is
    done = subprocess.run([str(script), "--nope"], capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)
    assert done.returncode in (1, 2) and "nope" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "double_common" not in done.stderr
