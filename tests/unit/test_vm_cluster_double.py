"""The VICTORIAMETRICS CLUSTER TEST DOUBLE (tests/harness/doubles/vm_cluster_double.py)
behaves as the end-to-end test needs: upstream's flags, /health, and a sample written to
vminsert's /insert/<tenant>/prometheus/api/v1/write comes back from vmselect's
/select/<tenant>/prometheus/api/v1/export, through two storage doubles each running
Debian's real single-node VictoriaMetrics. Run here from the very tarball the e2e test
puts on its mirror. (This tests the double, not VictoriaMetrics.)"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

from harness import debian
from harness.doubles import vm_cluster_archive
from harness.net import free_port


# -- a Prometheus remote_write body: protobuf WriteRequest, snappy block format -------------
def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:   # length-delimited
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def write_request(labels: dict[str, str], value: float, ts_ms: int) -> bytes:
    label_bytes = b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode()))
                           for k, v in sorted(labels.items()))
    sample = _varint(1 << 3 | 1) + struct.pack("<d", value) + _varint(2 << 3) + _varint(ts_ms)
    return _field(1, label_bytes + _field(2, sample))


def snappy_literal(data: bytes) -> bytes:
    """Snappy's block format with literals only (valid, just not compressed)."""
    out = _varint(len(data))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return out


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("vm-cluster")
    archive = vm_cluster_archive.build(work)
    out = work / "unpacked"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["vminsert-prod", "vmselect-prod", "vmstorage-prod"]
        tar.extractall(out)
    return out


def start(programs: Path, name: str, *flags: str, env=None) -> subprocess.Popen:
    return subprocess.Popen([str(programs / f"{name}-prod"), *flags],
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_health(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no /health on {port}")


def test_unknown_flags_stop_it_as_go_does(programs):
    res = subprocess.run([str(programs / "vminsert-prod"), "-storageNode=a:8400", "-nope=1"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "flag provided but not defined: -nope" in res.stderr


def test_it_says_what_it_is(programs):
    for name in ("vminsert", "vmselect", "vmstorage"):
        assert f"{name.upper()} TEST DOUBLE" in (programs / f"{name}-prod").read_text()


def test_written_samples_come_back_through_vmselect(programs, tmp_path):
    backend = str(debian.binaries("victoriametrics")["victoria-metrics"])
    procs, storage_inserts, storage_selects = [], [], []
    try:
        for n in range(2):
            http, ins, sel = free_port(), free_port(), free_port()
            procs.append(start(programs, "vmstorage", f"-httpListenAddr=127.0.0.1:{http}",
                               f"-storageDataPath={tmp_path / f'storage{n}'}",
                               "-retentionPeriod=1y", f"-vminsertAddr=127.0.0.1:{ins}",
                               f"-vmselectAddr=:{sel}",
                               env={"VM_DOUBLE_STORAGE_BINARY": backend}))
            wait_health(http, procs[-1])
            storage_inserts.append(f"127.0.0.1:{ins}")
            storage_selects.append(f"127.0.0.1:{sel}")
        insert, select = free_port(), free_port()
        procs.append(start(programs, "vminsert", "-httpListenAddr", f"127.0.0.1:{insert}",
                           f"-storageNode={','.join(storage_inserts)}"))
        wait_health(insert, procs[-1])
        # array flags may also be repeated
        procs.append(start(programs, "vmselect", f"--httpListenAddr=127.0.0.1:{select}",
                           f"-storageNode={storage_selects[0]}",
                           f"-storageNode={storage_selects[1]}",
                           "-dedup.minScrapeInterval=1ms"))
        wait_health(select, procs[-1])

        ts = int(time.time() * 1000) - 60_000
        body = snappy_literal(write_request({"__name__": "double_test", "job": "t"}, 42.0, ts))
        req = urllib.request.Request(
            f"http://127.0.0.1:{insert}/insert/0/prometheus/api/v1/write", data=body,
            method="POST", headers={"Content-Type": "application/x-protobuf",
                                    "Content-Encoding": "snappy",
                                    "X-Prometheus-Remote-Write-Version": "0.1.0"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 204

        url = (f"http://127.0.0.1:{select}/select/0/prometheus/api/v1/export?"
               + urllib.parse.urlencode({"match[]": "double_test"}))
        deadline = time.monotonic() + 20
        while True:
            with urllib.request.urlopen(url, timeout=10) as resp:
                lines = [json.loads(x) for x in resp.read().decode().splitlines() if x]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert lines == [{"metric": {"__name__": "double_test", "job": "t"},
                          "values": [42], "timestamps": [ts]}]
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{select}/select/x/prometheus/api/v1/"
                                   "query?query=up", timeout=10)
        assert exc.value.code == 400
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
