"""What a deploy says when the host or the mirror is in trouble (issue 6, "Faults"): a
full Prometheus data folder, a download cut short. Proven on fleet hosts in
tests/e2e/test_faults.py; these are the pieces, fast."""

from __future__ import annotations

import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pyinfra.api.exceptions import PyinfraError

REPO = Path(__file__).resolve().parents[2]

from harness.fake_host import OneFactHost
from operations.base import artifacts
from operations.components.prometheus import server as prometheus
from operations.base.facts import FreeSpace
from operations.stack import validate


# -- free space of the data folder ---------------------------------------------------------
def ask(path: str):
    """The FreeSpace fact as pyinfra would ask it, here on the controller."""
    fact = FreeSpace()
    out = subprocess.run(["sh", "-c", fact.command(path)], capture_output=True, text=True)
    return fact.process(out.stdout.splitlines())


def test_free_space_is_that_of_the_filesystem_holding_the_folder(tmp_path):
    free = shutil.disk_usage(tmp_path).free // (1 << 20)
    assert abs(ask(str(tmp_path)) - free) <= 64   # others write meanwhile
    # a folder not made yet (a first deploy): its nearest existing parent
    assert abs(ask(str(tmp_path / "not" / "yet")) - free) <= 64
    assert abs(ask(str(tmp_path / "it's here")) - free) <= 64   # quoted


@pytest.mark.parametrize("output,want", [(["kib:1048576"], 1024), (["kib:1023"], 0),
                                         ([], None), (["kib:"], None), (["df: oops"], None)])
def test_free_space_output(output, want):
    assert FreeSpace().process(output) == want


def host_with_free(free_mib: int) -> OneFactHost:
    """mon1.example.org, whose /srv/tsdb has `free_mib` MiB free."""
    return OneFactHost("mon1.example.org", "/srv/tsdb", free_mib, fact=FreeSpace)


@pytest.mark.parametrize("free,data", [(0, {}), (255, {}),
                                       (999, {"prometheus_min_free_mb": "1000"})])
def test_a_nearly_full_data_folder_stops_the_run_naming_it(monkeypatch, free, data):
    monkeypatch.setattr(prometheus, "host", host_with_free(free))
    s = validate("mon1.example.org", {"prometheus_data_dir": "/srv/tsdb", **data})
    with pytest.raises(PyinfraError) as exc:
        prometheus.check_free_space(s)
    need = s.prometheus_min_free_mb
    assert str(exc.value).startswith(
        f"prometheus_data_dir /srv/tsdb on mon1.example.org has {free} MiB free, need at "
        f"least {need} MiB (prometheus_min_free_mb)")


@pytest.mark.parametrize("free,data", [(256, {}), (10, {"prometheus_min_free_mb": "0"}),
                                       (None, {})])   # None: df could not tell
def test_enough_space_or_no_check_passes(monkeypatch, free, data):
    monkeypatch.setattr(prometheus, "host", host_with_free(free))
    prometheus.check_free_space(validate("h", {"prometheus_data_dir": "/srv/tsdb", **data}))


def test_the_default_minimum_is_256_mib():
    assert validate("h", {}).prometheus_min_free_mb == 256


# -- a download cut short ------------------------------------------------------------------
def test_a_truncated_download_says_truncated(tmp_path):
    body = b"x" * (3 << 20)

    class Half(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Half)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        name = "node_exporter-1.0.0.linux-amd64.tar.gz"
        url = f"http://127.0.0.1:{server.server_address[1]}/{name}"
        artifact = artifacts.Artifact("node_exporter", "1.0.0", "x86_64", name, url, "0" * 64)
        with pytest.raises(artifacts.ArtifactError) as exc:
            artifacts.fetch(artifact, tmp_path, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert str(exc.value) == (f"could not download {url}: truncated, the connection closed "
                              f"before all {len(body)} bytes arrived; nothing was installed")
    assert [p.name for p in tmp_path.iterdir()] == [f".{name}.lock"]   # no .part left
