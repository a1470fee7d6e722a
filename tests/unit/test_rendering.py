"""The hardened systemd unit every component renders (operations/base/services.py), given
to systemd-analyze when this machine has it. The rendered configuration of each component
is tested in tests/unit/components/.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from operations.base.services import Unit
from harness.programs import run
from harness.units import directives, exec_start_argv



# -- systemd unit --------------------------------------------------------------------------
def make_unit(exec_start=None, **kw) -> Unit:
    args = dict(
        name="prometheus", user="prometheus", description="Prometheus monitoring server",
        documentation="https://prometheus.io/docs/",
        exec_start=exec_start or ["/usr/local/bin/prometheus",
                                  "--config.file=/etc/prometheus/prometheus.yml",
                                  "--storage.tsdb.path=/var/lib/prometheus",
                                  "--web.listen-address=0.0.0.0:9090",
                                  "--cluster.listen-address="],
        write_paths=["/var/lib/prometheus"], reloadable=True)
    args.update(kw)
    return Unit(**args)


def test_unit_hardening(tmp_path):
    content = make_unit().content()
    lines = directives(content)
    assert {"NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
            "CapabilityBoundingSet=", "AmbientCapabilities=", "ProtectHome=yes",
            "PrivateDevices=yes", "RestrictSUIDSGID=yes", "User=prometheus",
            "Group=prometheus", "ReadWritePaths=/var/lib/prometheus",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"} - set(lines) == set()
    assert not any(line.startswith("EnvironmentFile=") for line in lines)
    sections = [line for line in lines if line.startswith("[")]
    assert sections == ["[Unit]", "[Service]", "[Install]"]


def test_unit_exec_start_one_flag_per_line():
    unit = make_unit()
    content = unit.content()
    assert exec_start_argv(content) == unit.exec_start
    raw = content.splitlines()
    start = next(i for i, line in enumerate(raw) if line.startswith("ExecStart="))
    assert raw[start] == "ExecStart=/usr/local/bin/prometheus \\"
    assert raw[start + 1] == "    --config.file=/etc/prometheus/prometheus.yml \\"
    assert raw[start + 4] == "    --cluster.listen-address="


def test_unit_without_write_paths_or_reload():
    content = make_unit(write_paths=[], reloadable=False,
                        environment_files=["/etc/default/a", "/etc/default/b"]).content()
    lines = directives(content)
    assert not any(line.startswith("ReadWritePaths") for line in lines)
    assert not any(line.startswith("ExecReload") for line in lines)
    assert "ProtectSystem=strict" in lines
    assert [line for line in lines if line.startswith("EnvironmentFile=")] == [
        "EnvironmentFile=/etc/default/a", "EnvironmentFile=/etc/default/b"]


def test_unit_several_write_paths():
    lines = directives(make_unit(write_paths=["/var/lib/a", "/var/lib/b"]).content())
    assert "ReadWritePaths=/var/lib/a /var/lib/b" in lines


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(not SYSTEMD_ANALYZE,
                                           reason="systemd-analyze is not installed")


def systemd_verify(tmp_path: Path, unit: Unit) -> subprocess.CompletedProcess:
    path = tmp_path / f"monstack-test-{unit.name}.service"
    path.write_text(unit.content())
    return run([SYSTEMD_ANALYZE, "verify", path])


@needs_systemd_analyze
@pytest.mark.parametrize("kw", [{}, {"write_paths": [], "reloadable": False},
                                {"environment_files": ["/etc/hostname"]}, {"reads_clock": True}])
def test_unit_passes_systemd_analyze_verify(tmp_path, kw):
    # the executable must exist for verify: a real binary stands in for the component's
    unit = make_unit(exec_start=[shutil.which("sleep"), "--web.listen-address=0.0.0.0:9090",
                                 "--cluster.listen-address="], **kw)
    res = systemd_verify(tmp_path, unit)
    assert res.returncode == 0, res.stderr
    assert "monstack-test" not in res.stderr, res.stderr   # no warning about our unit


@needs_systemd_analyze
def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    # the check above can fail: a bad value is reported against our unit file
    unit = make_unit(exec_start=[shutil.which("sleep"), "1"], protect_home="sometimes")
    res = systemd_verify(tmp_path, unit)
    assert "monstack-test" in res.stderr and "sometimes" in res.stderr, res.stderr


def test_unit_exec_start_argument_with_a_space():
    unit = make_unit(exec_start=["/usr/local/bin/prometheus",
                                 "--web.page-title=Ops Prometheus"])
    assert exec_start_argv(unit.content()) == unit.exec_start


@needs_systemd_analyze
def test_unit_exec_start_argument_with_a_percent(tmp_path):
    unit = make_unit(exec_start=[shutil.which("sleep"),
                                 "--web.external-url=https://example.org/a%2Fb"])
    res = systemd_verify(tmp_path, unit)
    assert res.returncode == 0, res.stderr


def filters(content: str) -> list[str]:
    return [line for line in directives(content) if line.startswith("SystemCallFilter=")]


def test_a_unit_that_reads_the_clock_may_call_adjtimex_and_no_other_unit_may():
    """ProtectClock= and ~@privileged (which holds @clock) deny adjtimex(2) even to read
    the clock's state; node_exporter's timex collector needs that read, the alert
    HostClockSkew its metrics. The allow line must come after ~@privileged: systemd
    applies an allow list's lines in order."""
    reading = Unit(name="x", description="x", exec_start=["/bin/x"], user="x",
                   reads_clock=True).content()
    assert "ProtectClock=no" in directives(reading)
    assert filters(reading) == ["SystemCallFilter=@system-service",
                                "SystemCallFilter=~@privileged", "SystemCallFilter=adjtimex"]
    assert "CapabilityBoundingSet=" in directives(reading)   # no CAP_SYS_TIME: read only
    other = Unit(name="x", description="x", exec_start=["/bin/x"], user="x").content()
    assert "ProtectClock=yes" in directives(other)
    assert filters(other) == ["SystemCallFilter=@system-service", "SystemCallFilter=~@privileged"]


def test_node_exporters_unit_reads_the_clock(monkeypatch):
    from operations.components import node_exporter
    seen = {}
    monkeypatch.setattr(node_exporter, "exporter_service", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(node_exporter, "settings",
                        lambda: SimpleNamespace(node_exporter_textfile_dir="/t"))
    monkeypatch.setattr(node_exporter, "listen_address", lambda name: "10.0.0.5:9100")
    node_exporter.install._inner()
    assert seen["reads_clock"] is True
