"""HAProxy: a scrape-only component (nothing installed, no version settings), and the
frontend the deploy advises, run by Debian 12's real haproxy 2.6: it serves the metric
names the rules and the dashboard use."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request

import pytest
import yaml

from harness import debian
from harness.net import free_port
from operations.base.templates import shipped_rule_sets
from operations.components import haproxy as hp
from operations.stack import COMPONENTS, INSTALLED, SETTINGS, validate

PACKAGES = ("haproxy", "liblua5.3-0", "libopentracing-c-wrapper0", "libopentracing1")


@pytest.fixture(scope="module")
def haproxy():
    root = debian.unpacked("haproxy", PACKAGES)
    env = {**os.environ, "LD_LIBRARY_PATH": debian.library_path(root)}
    return root / "usr/sbin/haproxy", env


def test_scrape_only_settings():
    assert COMPONENTS["haproxy"].scrape_only and "haproxy" not in INSTALLED
    names = {s.name for s in SETTINGS if s.name.startswith("haproxy_")}
    assert names == {"haproxy_enabled", "haproxy_port", "haproxy_listen_address",
                     "haproxy_group"}
    s = validate("lb1", {})
    assert (s.haproxy_port, s.haproxy_group, s.haproxy_enabled) == (8405, "haproxy", True)
    assert hp.home(s) is None


def test_the_frontend_lines():
    assert hp.frontend("10.0.0.7", 8405) == (
        "frontend prometheus\n    mode http\n    bind 10.0.0.7:8405\n"
        "    http-request use-service prometheus-exporter if { path /metrics }\n"
        "    no log\n")
    assert "bind [fd00::7]:8405" in hp.frontend("fd00::7", 8405)


def test_debian_12s_haproxy_has_the_exporter(haproxy):
    binary, env = haproxy
    res = subprocess.run([str(binary), "-vv"], capture_output=True, text=True, env=env,
                         timeout=30)
    assert "HAProxy version 2.6." in res.stdout
    assert "Built with the Prometheus exporter as a service" in res.stdout
    assert "prometheus-exporter" in res.stdout.split("Available services :")[1].split("\n")[0]


def rule_metric_names() -> set[str]:
    import re
    names = set()
    for group in yaml.safe_load(shipped_rule_sets()["haproxy"].read_text())["groups"]:
        for rule in group["rules"]:
            names |= set(re.findall(r"\bhaproxy_[a-z_]+", rule["expr"]))
    return names


def test_the_advised_frontend_serves_what_the_rules_use(haproxy, tmp_path):
    binary, env = haproxy
    port, app = free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "global\n    log stdout format raw local0\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "    timeout server 5s\n"
        f"frontend app\n    bind 127.0.0.1:{app}\n    default_backend app\n"
        # a server nothing answers at, checked: DOWN, and the backend with it
        "backend app\n    server web1 127.0.0.1:1 check inter 200ms fall 1\n"
        + hp.frontend("127.0.0.1", port))
    check = subprocess.run([str(binary), "-c", "-f", str(cfg)], capture_output=True,
                           text=True, env=env, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen([str(binary), "-db", "-f", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, text = time.monotonic() + 20, ""
        while 'haproxy_backend_status{proxy="app",state="UP"} 0' not in text:
            assert time.monotonic() < deadline and proc.poll() is None, text
            time.sleep(0.3)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                pass
    finally:
        proc.terminate()
        proc.wait(10)
    assert hp.MARKER in text
    assert 'haproxy_server_status{proxy="app",server="web1",state="DOWN"} 1' in text
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
              if line and not line.startswith("#")}
    assert rule_metric_names() <= served, rule_metric_names() - served
    assert 'code="5xx"' in text
