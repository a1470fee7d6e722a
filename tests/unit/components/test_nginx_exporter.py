"""nginx_exporter: settings, the loopback status server and its check (Debian 12's real
nginx), and Debian's exporter builds (bookworm 0.11.0 below the floor, trixie 1.4.1,
sid 1.5.1) reading a real nginx's stub_status."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness import debian
from harness.net import free_port, metrics
from operations.base.facts import HttpAnswers
from operations.base.schema import SettingsError
from operations.components import nginx_exporter as ne
from operations.stack import validate

NAME = "nginx_exporter"
PROVEN_SUITES = ("trixie", "sid")


@pytest.fixture(scope="module")
def nginx() -> Path:
    """Debian 12's nginx binary."""
    return debian.unpacked("nginx", ("nginx",)) / "usr/sbin/nginx"


# -- settings ----------------------------------------------------------------------------
def test_defaults():
    s = validate("web1", {})
    assert (s.nginx_exporter_port, s.nginx_exporter_group) == (9113, "nginx")
    assert s.nginx_exporter_scrape_uri == "http://127.0.0.1:8080/stub_status"
    assert s.nginx_exporter_add_status_server is False


@pytest.mark.parametrize("uri", ["http://10.0.0.5:8080/stub_status", "https://127.0.0.1/s",
                                 "unix:/run/nginx.sock"])
def test_the_status_server_is_loopback_http_only(uri):
    with pytest.raises(SettingsError, match="nginx_exporter_scrape_uri"):
        validate("web1", {"nginx_exporter_add_status_server": True,
                          "nginx_exporter_scrape_uri": uri})
    validate("web1", {"nginx_exporter_scrape_uri": uri})  # read as given otherwise


def test_the_status_server_serves_the_scrape_uri():
    text = ne.status_server("http://localhost:8089/nginx_status")
    assert "listen 127.0.0.1:8089;" in text and "location = /nginx_status {" in text
    assert "allow 127.0.0.1;" in text and "deny all;" in text
    assert "listen [::1]:8080;" in ne.status_server("http://[::1]:8080/stub_status")


def test_the_advice_names_what_to_add():
    text = ne.advice("http://127.0.0.1:8080/stub_status")
    assert "listen 127.0.0.1:8080; location = /stub_status { stub_status;" in text
    assert "nginx_exporter_add_status_server = True" in text


def test_the_stub_status_fact_command():
    command = HttpAnswers().command(address="127.0.0.1", port=8080, path="/stub_status",
                                    marker=ne.STUB_STATUS_MARKER)
    assert "/dev/tcp/127.0.0.1/8080" in command and "Active connections:" in command
    assert HttpAnswers().process(["answers:yes"]) is True
    assert HttpAnswers().process(["answers:no"]) is False


# -- the check before nginx's live config changes ----------------------------------------
def fake_etc(tmp_path: Path, extra: str = "") -> Path:
    """A /etc/nginx like Debian's: nginx.conf including conf.d/*.conf and mime.types."""
    etc = tmp_path / "etc-nginx"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "mime.types").write_text("types { text/html html; }\n")
    # nginx's temporary folders here, not in /var/lib/nginx
    temp = "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n" for kind in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (etc / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include mime.types;\n  access_log off;\n{temp}"
        f"  include {etc}/conf.d/*.conf;\n}}\n")
    if extra:
        (etc / "conf.d/site.conf").write_text(extra)
    return etc


def run_check(etc: Path, nginx: Path, staged: Path) -> subprocess.CompletedProcess:
    """ne.NGINX_CHECK as the host runs it, with /etc/nginx and nginx pointed here."""
    command = (ne.NGINX_CHECK.replace("/etc/nginx", str(etc))
               .replace("nginx -t", f"{nginx} -t")
               .format(path=str(staged)))
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)


def test_the_status_server_passes_nginx_t_with_the_whole_config(tmp_path, nginx):
    etc = fake_etc(tmp_path, "server { listen 127.0.0.1:8081; location / { return 204; } }\n")
    staged = etc / "conf.d" / ".monstack-stub-status.conf.monstack-new"
    staged.write_text(ne.status_server("http://127.0.0.1:8080/stub_status"))
    res = run_check(etc, nginx, staged)
    assert res.returncode == 0, res.stdout + res.stderr
    # nothing of the check is left, the live folder is as it was
    assert sorted(p.name for p in (etc / "conf.d").iterdir()) == [staged.name, "site.conf"]


@pytest.mark.parametrize("bad,why", [
    ("server { listen 127.0.0.1:8080; location = /s { stub_statuss; } }\n",
     'unknown directive "stub_statuss"'),
    ("server { listen 127.0.0.1:8080; location = /s { stub_status; }\n",
     "unexpected end of file"),
])
def test_a_bad_file_fails_the_check(tmp_path, nginx, bad, why):
    etc = fake_etc(tmp_path)
    staged = etc / "conf.d" / ".monstack-stub-status.conf.monstack-new"
    staged.write_text(bad)
    res = run_check(etc, nginx, staged)
    assert res.returncode != 0 and why in res.stdout + res.stderr, res.stderr


def test_a_clash_with_the_live_config_fails_the_check(tmp_path, nginx):
    """Only the whole config shows it: a name the live config already has (an upstream)."""
    etc = fake_etc(tmp_path, "upstream app { server 127.0.0.1:1; }\n")
    staged = etc / "conf.d" / ".monstack-stub-status.conf.monstack-new"
    staged.write_text(ne.status_server("http://127.0.0.1:8080/stub_status")
                      + "upstream app { server 127.0.0.1:2; }\n")
    res = run_check(etc, nginx, staged)
    assert res.returncode != 0 and 'duplicate upstream "app"' in res.stdout + res.stderr
    # the same file alone would pass: the check did read the live config
    alone = fake_etc(tmp_path / "alone")
    assert run_check(alone, nginx, staged).returncode == 0


# -- Debian's exporter builds --------------------------------------------------------------
@pytest.mark.parametrize("suite", PROVEN_SUITES)
def test_the_flags_the_unit_gives_exist(suite):
    res = subprocess.run([str(debian.program(NAME, suite)), "--help"],
                         capture_output=True, text=True, timeout=30)
    for flag in ("--nginx.scrape-uri", "--web.listen-address", "--web.config.file"):
        assert flag in res.stdout + res.stderr, (suite, flag)


def test_debian_12s_build_has_no_web_config_hence_the_floor():
    res = subprocess.run([str(debian.program(NAME, "bookworm")), "-help"], capture_output=True,
                         text=True, timeout=30)
    text = res.stdout + res.stderr
    assert "-nginx.scrape-uri" in text and "web.config.file" not in text
    assert debian.upstream_version(NAME) < ne.FLOOR


@pytest.mark.skipif(os.geteuid() != 0, reason="nginx -t/run wants root's paths")
@pytest.mark.parametrize("suite", PROVEN_SUITES)
def test_the_exporter_reads_nginx_through_the_status_server(tmp_path, nginx, suite):
    """A real nginx with the status server the deploy writes; the exporter's metrics
    carry the names the rules and the dashboard use."""
    status_port, port = free_port(), free_port()
    etc = fake_etc(tmp_path)
    (etc / "conf.d" / "monstack-stub-status.conf").write_text(
        ne.status_server(f"http://127.0.0.1:{status_port}/stub_status"))
    conf = (etc / "nginx.conf").read_text()
    (etc / "nginx.conf").write_text("daemon off;\nmaster_process off;\n" + conf)
    server = subprocess.Popen([str(nginx), "-c", str(etc / "nginx.conf"), "-p", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = subprocess.Popen([str(debian.program(NAME, suite)),
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--nginx.scrape-uri=http://127.0.0.1:{status_port}/stub_status"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while "nginx_up 1" not in (text := metrics(port, proc)).splitlines():
            assert time.monotonic() < deadline and server.poll() is None, text
            time.sleep(0.3)
    finally:
        for p in (proc, server):
            p.terminate()
            p.wait(10)
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    assert {"nginx_up", "nginx_connections_accepted", "nginx_connections_handled",
            "nginx_connections_active", "nginx_http_requests_total"} <= names
