"""Loki, the Alloy log shipper and cAdvisor together: settings, scrape targets, the units'
addresses and release artifacts. What concerns one of them alone is in
tests/unit/components/test_loki.py, test_alloy.py and test_cadvisor.py.

What a test cannot run here: the real loki, alloy and cadvisor binaries (Debian builds
none of them; their upstream downloads are not reachable). So loki.yaml is checked as
YAML against the keys of Loki 3's configuration reference, config.alloy structurally
(balanced blocks, terminated strings, every component it refers to declared), and the
units with systemd-analyze. The settings of a host come from validate(), the inventory
is a real pyinfra Inventory, and downloads go to an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


from operations.components import alloy, cadvisor, loki
from operations.base import artifacts, inventory as context
from operations.components.prometheus import server as prometheus, targets
from operations.base.artifacts import ArtifactError
from operations.base.schema import SettingsError
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate
from harness.http_files import Mirror, no_proxy  # noqa: F401
from harness.one_address import current  # noqa: F401
from harness.units import exec_start_argv


# -- settings ---------------------------------------------------------------------------------
def test_components_ports_groups_and_order():
    order = list(COMPONENTS)
    assert (COMPONENTS["loki"].port, COMPONENTS["loki"].group) == (3100, "monitoring")
    assert (COMPONENTS["alloy"].port, COMPONENTS["alloy"].group) == (12345, "all")
    assert (COMPONENTS["cadvisor"].port, COMPONENTS["cadvisor"].group) == (8080, "docker")
    assert all(COMPONENTS[c].enabled for c in ("loki", "alloy", "cadvisor"))
    # Loki after Alertmanager and Prometheus; Alloy after Loki (a one-host first run finds
    # its Loki running); cAdvisor with the exporters, before the monitoring services
    assert order.index("alertmanager") < order.index("loki")
    assert order.index("prometheus") < order.index("loki") < order.index("alloy")
    assert order.index("cadvisor") < order.index("alertmanager")


def test_defaults_validate():
    s = validate("h1", {})
    assert s.loki_data_dir == "/var/lib/loki"
    assert s.loki_retention_period == "30d"
    assert (s.loki_ingestion_rate_mb, s.loki_ingestion_burst_size_mb,
            s.loki_max_global_streams_per_user) == (4, 6, 10000)
    assert s.alloy_log_paths == ["/var/log/*.log"]
    assert s.alloy_journal is True
    assert s.alloy_docker_logs == "auto"
    assert s.alloy_loki_url is None
    assert s.cadvisor_housekeeping_interval == "30s"
    assert {"loki", "containers"} <= set(s.prometheus_shipped_rules)
    assert s.component("cadvisor", "install_method") == "archive"


def test_values_from_the_command_line_are_coerced():
    s = validate("h1", {"loki_retention_period": "90d", "loki_ingestion_rate_mb": "8",
                        "alloy_log_paths": "[/var/log/*.log, /srv/app/*.log]",
                        "alloy_journal": "false", "alloy_docker_logs": "true",
                        "alloy_loki_url": "https://logs.example.org/loki/api/v1/push"})
    assert s.loki_retention_period == "90d" and s.loki_ingestion_rate_mb == 8
    assert s.alloy_log_paths == ["/var/log/*.log", "/srv/app/*.log"]
    assert s.alloy_journal is False and s.alloy_docker_logs == "true"
    # a group_data file may say False
    assert validate("h1", {"alloy_docker_logs": False}).alloy_docker_logs == "false"
    assert validate("h1", {"loki_retention_period": "0s"}).loki_retention_period == "0s"


@pytest.mark.parametrize("data,words", [
    ({"loki_retention_period": "12h"}, ["loki_retention_period", "24h"]),
    ({"loki_retention_period": "30 days"}, ["loki_retention_period"]),
    ({"loki_ingestion_rate_mb": "0"}, ["loki_ingestion_rate_mb", "out of range"]),
    ({"alloy_docker_logs": "maybe"}, ["alloy_docker_logs", "auto, true, false"]),
    ({"alloy_log_paths": "/var/log/*.log"}, ["alloy_log_paths", "list"]),
    ({"cadvisor_install_method": "package"}, ["cadvisor_install_method", "no Debian package",
                                              "archive"]),
    ({"cadvisor_housekeeping_interval": "1d"}, ["cadvisor_housekeeping_interval", "ms, s"]),
    ({"alloy_port": "70000"}, ["alloy_port", "out of range"]),
])
def test_bad_values_are_refused_naming_the_setting(data, words):
    with pytest.raises(SettingsError) as exc:
        validate("web1", data)
    for word in words:
        assert word in str(exc.value)


# -- scrape targets and rules -----------------------------------------------------------------
def test_scrape_jobs_from_the_inventory(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"], "docker": ["docker1"]})
    use("mon1")
    jobs = {j["name"]: j for j in targets.inventory_jobs()}
    assert jobs["loki"]["groups"] == [{"targets": ["mon1:3100"], "labels": {"host": "mon1"}}]
    assert jobs["cadvisor"]["groups"] == [{"targets": ["docker1:8080"],
                                           "labels": {"host": "docker1"}}]
    assert [g["targets"] for g in jobs["alloy"]["groups"]] == [
        ["docker1:12345"], ["mon1:12345"], ["web1:12345"]]
    cfg = yaml.safe_load(prometheus.config_content(context.settings(), list(jobs.values())))
    scraped = {c["job_name"]: c for c in cfg["scrape_configs"]}
    for job in ("loki", "alloy", "cadvisor"):
        assert scraped[job]["file_sd_configs"] == [{"files": [f"/etc/prometheus/file_sd/{job}.yml"]}]


def test_shipped_rule_sets_include_loki_and_containers():
    wanted = prometheus.rule_files(validate("mon1", {}))
    assert {"loki.rules.yml", "containers.rules.yml"} <= set(wanted)


# -- units --------------------------------------------------------------------------------------

@pytest.mark.parametrize("component, flag", [("alloy", "--server.http.listen-addr=10.0.0.5:12345"),
                                             ("cadvisor", "--listen_ip=10.0.0.5")])
def test_scraped_components_bind_only_where_prometheus_reaches_them(current, component, flag):
    s = current()
    unit = alloy.unit(s, "/usr/bin/alloy", []) if component == "alloy" else \
        cadvisor.unit(s, "/usr/local/bin/cadvisor")
    assert flag in exec_start_argv(unit.content())


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(not SYSTEMD_ANALYZE, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("component", ["loki", "alloy", "cadvisor"])
def test_units_pass_systemd_analyze_verify(tmp_path, current, component):
    s = current()
    sleep = shutil.which("sleep")   # verify needs an existing executable
    unit = {"loki": lambda: loki.unit(s, sleep),
            "alloy": lambda: alloy.unit(s, sleep, ["adm"]),
            "cadvisor": lambda: cadvisor.unit(s, sleep)}[component]()
    path = tmp_path / f"monstack-test-{component}.service"
    path.write_text(unit.content())
    res = subprocess.run([SYSTEMD_ANALYZE, "verify", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "monstack-test" not in res.stderr, res.stderr


# -- release artifacts --------------------------------------------------------------------------
MACHINES = ("x86_64", "aarch64", "armv7l", "armv6l", "armv8l")
ARCH = {   # upstream's arch token per `uname -m`; None: no build
    "loki": ("amd64", "arm64", "arm", None, "arm"),
    "alloy": ("amd64", "arm64", None, None, None),
    "cadvisor": ("amd64", "arm64", None, None, None),
}


@pytest.mark.parametrize("component", sorted(ARCH))
@pytest.mark.parametrize("index", range(len(MACHINES)), ids=MACHINES)
def test_arch_mapping(component, index):
    machine, want = MACHINES[index], ARCH[component][index]
    if want is None:
        with pytest.raises(ArtifactError) as exc:
            artifacts.upstream_arch(component, machine)
        msg = str(exc.value)
        assert repr(machine) in msg
        supported = sorted(m for m, a in zip(MACHINES, ARCH[component]) if a)
        assert f"it has: {', '.join(supported)}" in msg
    else:
        assert artifacts.upstream_arch(component, machine) == want


@pytest.mark.parametrize("component,machine,name", [
    ("loki", "x86_64", "loki-linux-amd64.zip"),
    ("loki", "armv7l", "loki-linux-arm.zip"),
    ("alloy", "aarch64", "alloy-linux-arm64.zip"),
])
def test_loki_and_alloy_zips_need_operator_checksums(component, machine, name, monkeypatch):
    """...when their release's checksum file cannot be read either."""
    monkeypatch.setattr(artifacts, "_published", {})
    version = RELEASES[component]["version"]
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve(component, version, machine, "http://mirror.invalid", {})
    msg = str(exc.value)
    assert f"no sha256 is pinned for any {component} release" in msg
    assert "artifact_checksums" in msg and name in msg
    sha = "ab" * 32
    a = artifacts.resolve(component, version, machine, "http://mirror.invalid/", {name: sha})
    assert (a.file_name, a.url, a.sha256) == (name, f"http://mirror.invalid/{name}", sha)


def test_no_loki_or_alloy_checksum_is_pinned():
    assert not [n for n in CHECKSUMS if n.startswith(("loki-", "alloy-"))]


def upstream_zip(inner: str, data: bytes) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(inner, (2026, 1, 1, 0, 0, 0))
        info.external_attr = (0o100755 << 16)
        zf.writestr(info, data)
    return raw.getvalue()


@pytest.mark.parametrize("component,machine,inner", [
    ("loki", "aarch64", "loki-linux-arm64"),
    ("alloy", "x86_64", "alloy-linux-amd64"),
])
def test_zip_from_the_mirror_gives_the_binary(no_proxy, tmp_path, component, machine, inner):
    arch = artifacts.upstream_arch(component, machine)
    name = f"{component}-linux-{arch}.zip"
    body = upstream_zip(inner, b"#!/bin/sh\necho " + component.encode() + b"\n")
    mirror = Mirror({name: body})
    try:
        artifact, folder = artifacts.prepare(
            component, RELEASES[component]["version"], machine, mirror.url,
            {name: hashlib.sha256(body).hexdigest()}, str(tmp_path / "cache"))
    finally:
        mirror.close()
    (path,) = artifacts.binary_paths(artifact, folder).values()
    assert path.name == inner and path.read_bytes().endswith(component.encode() + b"\n")
    assert path.stat().st_mode & 0o111


@pytest.mark.parametrize("component,machine", [("loki", "x86_64"), ("alloy", "aarch64")])
def test_an_unpinned_zip_is_verified_against_its_release_checksum_file(
        no_proxy, tmp_path, monkeypatch, component, machine):
    """No sha256 pinned or given: the one upstream's SHA256SUMS lists for the zip, read
    from artifact_mirror under <component>-v<version>-SHA256SUMS, is what it must have."""
    monkeypatch.setattr(artifacts, "_published", {})
    version = RELEASES[component]["version"]
    arch = artifacts.upstream_arch(component, machine)
    name, inner = f"{component}-linux-{arch}.zip", f"{component}-linux-{arch}"
    body = upstream_zip(inner, b"#!/bin/sh\necho " + component.encode() + b"\n")
    other = hashlib.sha256(b"another file").hexdigest()
    sums = (f"{other}  {component}-linux-s390x.zip\n"
            f"{hashlib.sha256(body).hexdigest()}  {name}\n").encode()
    sums_name = f"{component}-v{version}-SHA256SUMS"
    mirror = Mirror({name: body, sums_name: sums})
    try:
        artifact, folder = artifacts.prepare(component, version, machine, mirror.url, {},
                                             str(tmp_path / "cache"))
        assert artifact.sha256 == hashlib.sha256(body).hexdigest()
        (path,) = artifacts.binary_paths(artifact, folder).values()
        assert path.name == inner
        # a zip that is not the listed one is refused before anything is unpacked
        monkeypatch.setattr(artifacts, "_published", {})
        mirror_files = {name: body + b"tampered", sums_name: sums}
        tampered = Mirror(mirror_files)
        try:
            with pytest.raises(ArtifactError, match="checksum mismatch"):
                artifacts.prepare(component, version, machine, tampered.url, {},
                                  str(tmp_path / "cache2"))
        finally:
            tampered.close()
    finally:
        mirror.close()


def test_a_checksum_file_not_listing_the_zip_names_both(no_proxy, monkeypatch):
    monkeypatch.setattr(artifacts, "_published", {})
    version = RELEASES["loki"]["version"]
    mirror = Mirror({f"loki-v{version}-SHA256SUMS": b"ab" * 32 + b"  loki-linux-arm64.zip\n"})
    try:
        with pytest.raises(ArtifactError) as exc:
            artifacts.resolve("loki", version, "x86_64", mirror.url, {})
    finally:
        mirror.close()
    msg = str(exc.value)
    assert f"loki-v{version}-SHA256SUMS lists no loki-linux-amd64.zip" in msg
    assert "artifact_checksums" in msg


def test_the_checksum_files_are_upstreams_release_assets():
    for component in ("loki", "alloy"):
        url = RELEASES[component]["checksums"].format(version="1.2.3")
        assert url == f"https://github.com/grafana/{component}/releases/download/v1.2.3/SHA256SUMS"
