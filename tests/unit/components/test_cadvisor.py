"""cadvisor: its unit (root with two capabilities, the metric kinds its version knows, the
real cAdvisor taking those flags) and its raw binary from the release.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from operations.components import cadvisor
from operations.base import artifacts
from operations.stack import RELEASES, validate
from harness import debian
from harness.http_files import Mirror, no_proxy  # noqa: F401
from harness.one_address import current  # noqa: F401
from harness.units import directives, exec_start_argv


def test_cadvisor_unit_root_with_two_capabilities(current):
    s = current({"cadvisor_listen_address": "10.0.0.7", "cadvisor_port": 8081})
    content = cadvisor.unit(s, "/usr/local/bin/cadvisor").content()
    lines = directives(content)
    assert {"User=root", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
            "ProtectProc=default", "ProtectSystem=strict", "NoNewPrivileges=yes",
            "AmbientCapabilities="} - set(lines) == set()
    assert not any(line.startswith("ReadWritePaths") for line in lines)
    argv = exec_start_argv(content)
    assert argv[:5] == ["/usr/local/bin/cadvisor", "--listen_ip=10.0.0.7", "--port=8081",
                        "--docker_only=false", "--housekeeping_interval=30s"]
    assert "--store_container_labels=false" in argv
    (disabled,) = [a for a in argv if a.startswith("--disable_metrics=")]
    kinds = disabled.split("=", 1)[1].split(",")
    assert {"percpu", "disk"} <= set(kinds)
    # --disable_metrics replaces cAdvisor's default list, so that list must be there too
    assert CADVISOR_DEFAULT_DISABLED <= set(kinds)
    assert set(kinds) <= CADVISOR_METRIC_KINDS


@pytest.mark.parametrize("version, younger", [("0.38.7", set()), ("0.39.3", {"cpuset"}),
                                              ("0.57.0", {"cpuset", "oom_event"})])
def test_cadvisor_disables_only_metric_kinds_its_version_knows(version, younger):
    kinds = set(cadvisor.disabled_metrics(version))
    assert kinds & {"cpuset", "oom_event"} == younger
    assert {"percpu", "disk", "memory_numa", "resctrl"} <= kinds


def _cadvisor_starts(binary: Path, argv: list[str]) -> tuple[bool, str]:
    """Start the real cAdvisor with `argv`'s flags on loopback: does it answer /healthz?"""
    port = 18000 + os.getpid() % 1000
    flags = [a for a in argv[1:] if not a.startswith(("--listen_ip", "--port"))]
    proc = subprocess.Popen([str(binary), "--listen_ip=127.0.0.1", f"--port={port}", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            if proc.poll() is not None:
                return False, proc.stdout.read()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return True, ""
            time.sleep(0.1)
        return False, "no answer on /healthz"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="cAdvisor reads every cgroup: root only")
def test_the_real_cadvisor_takes_the_flags_rendered_for_its_version(current):
    """Debian's real cAdvisor 0.38.7 (bullseye) starts with the flags rendered for 0.38.7,
    and refuses, as the deploy did before, the metric list of a newer cAdvisor."""
    real = debian.program("cadvisor", debian.NEWEST["cadvisor"])
    version = debian.upstream_version("cadvisor", suite=debian.NEWEST["cadvisor"])
    s = current({"cadvisor_version": version})
    started, output = _cadvisor_starts(real, exec_start_argv(
        cadvisor.unit(s, str(real)).content()))
    assert started, output
    newer = [f"--disable_metrics={','.join(cadvisor.disabled_metrics('0.57.0'))}"]
    started, output = _cadvisor_starts(real, ["cadvisor", *newer])
    assert not started and "cpuset" in output, output


# cAdvisor v0.57.0: container.AllMetrics (container/factory.go) and the default
# ignoreMetrics of cmd/cadvisor.go, written here from its source
CADVISOR_METRIC_KINDS = {
    "cpu", "sched", "percpu", "memory", "memory_numa", "cpuLoad", "diskIO", "disk",
    "network", "tcp", "advtcp", "udp", "app", "process", "hugetlb", "perf_event",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset", "oom_event", "pressure"}
CADVISOR_DEFAULT_DISABLED = {
    "memory_numa", "tcp", "udp", "advtcp", "sched", "process", "hugetlb",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset"}


def test_cadvisor_runs_as_no_user_of_its_own():
    assert cadvisor.home(validate("docker1", {})) is None


def test_cadvisor_binary_has_pinned_checksums_for_64_bit():
    v = RELEASES["cadvisor"]["version"]
    for machine, arch in (("x86_64", "amd64"), ("aarch64", "arm64")):
        a = artifacts.resolve("cadvisor", v, machine, None, {})
        assert a.file_name == f"cadvisor-v{v}-linux-{arch}"
        assert a.url == f"https://github.com/google/cadvisor/releases/download/v{v}/{a.file_name}"


def test_raw_cadvisor_binary_from_the_mirror(no_proxy, tmp_path):
    v = RELEASES["cadvisor"]["version"]
    name = f"cadvisor-v{v}-linux-amd64"
    body = b"\x7fELF not really cadvisor"
    mirror = Mirror({name: body})
    try:
        # a checksum given by the operator wins over the pinned one
        artifact, folder = artifacts.prepare("cadvisor", v, "x86_64", mirror.url,
                                             {name: hashlib.sha256(body).hexdigest()},
                                             str(tmp_path / "cache"))
    finally:
        mirror.close()
    paths = artifacts.binary_paths(artifact, folder)
    assert list(paths) == ["cadvisor"]
    assert paths["cadvisor"].read_bytes() == body and paths["cadvisor"].stat().st_mode & 0o111
