"""snmp_exporter: its settings' rules, the snmp.yml it writes (checked by Debian's real
builds with --dry-run: 0.28.0 of Debian 13, 0.30.1 of sid, and refused by Debian 12's
0.21.0, below the floor), the probe job Prometheus gets (checked by promtool), and the
real exporter answering /snmp for a device that does not answer with an error (so the
probe's `up` is 0).

The modules here are a small stand-in written for the tests (two IF-MIB objects and
sysUpTime, by their OIDs): upstream's generated snmp.yml comes from the release archive
at deploy time and is not in this repository.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import debian
from harness.fake_host import FakeHost
from harness.net import free_port
from operations.base import artifacts, inventory
from operations.base.files import masked_lines
from operations.base.schema import SettingsError
from operations.components import snmp_exporter as snmp
from operations.components.prometheus import federation, server as prometheus
from operations.stack import COMPONENTS, validate

SUITES = {"trixie": "0.28.0", "sid": "0.30.1"}
COMMUNITY = "c0mmunity-Zq7"
V3_PASSWORD, V3_PRIV = "auth-pass-Kx81", "priv-pass-Rw52"

INDEX = [{"labelname": "ifIndex", "type": "gauge"}]
DESCR = [{"labels": ["ifIndex"], "labelname": "ifDescr", "oid": "1.3.6.1.2.1.2.2.1.2",
          "type": "DisplayString"}]
STAND_IN = {"modules": {
    "if_mib": {
        "walk": ["1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1"],
        "metrics": [
            {"name": "ifOperStatus", "oid": "1.3.6.1.2.1.2.2.1.8", "type": "gauge",
             "help": "operational state", "indexes": INDEX, "lookups": DESCR,
             "enum_values": {1: "up", 2: "down"}},
            {"name": "ifHCInOctets", "oid": "1.3.6.1.2.1.31.1.1.1.6", "type": "counter",
             "help": "octets received", "indexes": INDEX, "lookups": DESCR},
        ]},
    "system": {
        "get": ["1.3.6.1.2.1.1.3.0"],
        "metrics": [{"name": "sysUpTime", "oid": "1.3.6.1.2.1.1.3", "type": "gauge",
                     "help": "time since the agent started"}]},
    "ups_mib": {"walk": ["1.3.6.1.2.1.33"], "metrics": []},
}}
AUTHS = {
    "core_v2": {"version": 2, "community_secret": "SNMP_CORE_COMMUNITY"},
    "secure_v3": {"version": 3, "username": "monstack", "security_level": "authPriv",
                  "auth_protocol": "SHA256", "password_secret": "SNMP_V3_PASSWORD",
                  "priv_protocol": "AES", "priv_password_secret": "SNMP_V3_PRIV"},
}
DEVICES = [
    {"target": "switch1.lan", "auth": "core_v2", "labels": {"site": "hq"}},
    {"target": "10.0.0.2:1161", "modules": ["if_mib"], "auth": "secure_v3"},
]


@pytest.fixture
def secrets(monkeypatch):
    for name, value in (("SNMP_CORE_COMMUNITY", COMMUNITY), ("SNMP_V3_PASSWORD", V3_PASSWORD),
                        ("SNMP_V3_PRIV", V3_PRIV)):
        monkeypatch.setenv(name, value)


@pytest.fixture
def modules_file(tmp_path) -> Path:
    path = tmp_path / "generated.yml"
    path.write_text(yaml.safe_dump(STAND_IN))
    return path


def snmp_settings(modules_file: Path | None = None, **extra):
    data = {"snmp_exporter_enabled": True, "snmp_exporter_auths": AUTHS,
            "snmp_exporter_devices": DEVICES, **extra}
    if modules_file:
        data["snmp_exporter_modules_file"] = str(modules_file)
    return validate("mon1", data)


def errors_of(**data) -> str:
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"snmp_exporter_enabled": True, "snmp_exporter_auths": AUTHS, **data})
    return str(exc.value)


# -- the catalogue row ----------------------------------------------------------------------
def test_declared_opt_in_on_the_monitoring_hosts():
    c = COMPONENTS["snmp_exporter"]
    assert (c.group, c.enabled, c.port, c.protected_by) == ("monitoring", False, 9116, "web.yml")
    assert c.scrape_job[0] == "snmp_exporter"
    assert validate("mon1", {}).snmp_exporter_modules == ["if_mib", "system"]


def test_disabled_needs_nothing():
    assert validate("mon1", {}).snmp_exporter_enabled is False


# -- settings' rules ----------------------------------------------------------------------
def test_enabled_without_auths_is_refused():
    with pytest.raises(SettingsError, match="snmp_exporter_enabled needs snmp_exporter_auths"):
        validate("mon1", {"snmp_exporter_enabled": True})


@pytest.mark.parametrize("auth, message", [
    ({"version": 4, "community_secret": "X"}, "version must be 1, 2 or 3"),
    ({"version": 2}, "SNMP v2 needs community_secret"),
    ({"version": 2, "community": "public"}, r"unknown keys \['community'\]"),
    ({"version": 3, "username": "u"}, "SNMP v3 needs security_level"),
    ({"version": 3, "security_level": "noAuthNoPriv"}, "SNMP v3 needs username"),
    ({"version": 3, "username": "u", "security_level": "authNoPriv", "auth_protocol": "SHA"},
     "authNoPriv needs password_secret"),
    ({"version": 3, "username": "u", "security_level": "authNoPriv", "password_secret": "P",
      "auth_protocol": "SHA1"}, "authNoPriv needs auth_protocol, one of MD5, SHA"),
    ({"version": 3, "username": "u", "security_level": "authPriv", "password_secret": "P",
      "auth_protocol": "SHA", "priv_protocol": "AES"}, "authPriv needs priv_password_secret"),
    ({"version": 3, "username": "u", "security_level": "authPriv", "password_secret": "P",
      "auth_protocol": "SHA", "priv_password_secret": "Q", "priv_protocol": "3DES"},
     "authPriv needs priv_protocol, one of DES, AES"),
])
def test_bad_auths_are_refused(auth, message):
    with pytest.raises(SettingsError, match=message):
        validate("mon1", {"snmp_exporter_enabled": True, "snmp_exporter_auths": {"a": auth}})


@pytest.mark.parametrize("device, message", [
    ({"target": "sw 1", "auth": "core_v2"}, "target must be host or host:port"),
    ({"auth": "core_v2"}, "target must be host or host:port"),
    ({"target": "sw1", "auth": "nope"}, "auth 'nope' is not one of snmp_exporter_auths"),
    ({"target": "sw1", "auth": "core_v2", "module": "cisco_wlc"},
     r"modules \['cisco_wlc'\] are not in snmp_exporter_modules"),
    ({"target": "sw1", "auth": "core_v2", "labels": {"__x": "1"}}, "labels must map"),
    ({"target": "sw1", "auth": "core_v2", "labels": {"rack": 3}}, "labels must map"),
    ({"target": "sw1", "auth": "core_v2", "community": "x"}, r"unknown keys \['community'\]"),
])
def test_bad_devices_are_refused(device, message):
    assert message and __import__("re").search(message, errors_of(snmp_exporter_devices=[device]))


def test_a_device_listed_twice_is_refused():
    twice = [{"target": "sw1", "auth": "core_v2"}, {"target": "sw1", "auth": "secure_v3"}]
    assert "sw1 listed twice" in errors_of(snmp_exporter_devices=twice)


def test_the_package_method_needs_a_modules_file():
    assert "Debian's package ships no modules" in errors_of(
        snmp_exporter_install_method="package")
    validate("mon1", {"snmp_exporter_enabled": True, "snmp_exporter_auths": AUTHS,
                      "snmp_exporter_install_method": "package",
                      "snmp_exporter_modules_file": "/x/snmp.yml"})


def test_debian_12s_release_is_below_the_floor_with_one_error():
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"snmp_exporter_version": "0.21.0"})
    assert str(exc.value).count("older than") == 1
    assert "snmp_exporter_version 0.21.0 is older than 0.28.0" in str(exc.value)
    assert "auths apart from modules" in str(exc.value)


def test_the_package_of_debian_12_is_refused_on_the_host(monkeypatch):
    s = snmp_settings(snmp_exporter_install_method="package",
                      snmp_exporter_modules_file="/x/snmp.yml")
    monkeypatch.setattr(snmp, "host", FakeHost("mon1"))
    monkeypatch.setattr(FakeHost, "get_fact", lambda self, fact, **kw: "0.21.0+ds-1+b5",
                        raising=False)
    with pytest.raises(SettingsError, match=r"prometheus-snmp-exporter 0.21.0\+ds-1\+b5, "
                                            r"older than 0.28.0.*'archive'"):
        snmp.check_package_version(s)
    monkeypatch.setattr(FakeHost, "get_fact", lambda self, fact, **kw: "0.28.0-1+b5",
                        raising=False)
    snmp.check_package_version(s)


# -- modules -------------------------------------------------------------------------------
def test_modules_are_taken_by_name_in_the_order_asked(modules_file):
    s = snmp_settings(modules_file, snmp_exporter_modules=["system", "if_mib"])
    picked = snmp.pick_modules(s.snmp_exporter_modules, *snmp.modules_source(s))
    assert list(picked) == ["system", "if_mib"]
    assert picked["if_mib"] == STAND_IN["modules"]["if_mib"]


def test_a_missing_module_is_named(modules_file):
    with pytest.raises(SettingsError, match=r"snmp_exporter_modules: cisco_wlc not in "
                                            r".*generated.yml \(it has: if_mib, system, ups_mib\)"):
        snmp.pick_modules(["if_mib", "cisco_wlc"], str(modules_file), modules_file.read_text())


def test_default_modules_come_from_the_release_archive(monkeypatch, tmp_path):
    folder = tmp_path / "snmp_exporter-0.30.1.linux-amd64"
    folder.mkdir()
    (folder / "snmp.yml").write_text(yaml.safe_dump(STAND_IN))
    asked = []

    def prepare(component, version, machine, *rest):
        asked.append((component, version, machine))
        return artifacts.Artifact(component, version, machine, f"{folder.name}.tar.gz",
                                  "http://x/", "ab" * 32), folder

    monkeypatch.setattr(snmp.artifacts, "prepare", prepare)
    monkeypatch.setattr(snmp, "machine", lambda: "x86_64")
    s = snmp_settings()
    where, text = snmp.modules_source(s)
    assert asked == [("snmp_exporter", "0.30.1", "x86_64")]
    assert where == "the snmp.yml of snmp_exporter-0.30.1.linux-amd64.tar.gz"
    assert list(snmp.pick_modules(s.snmp_exporter_modules, where, text)) == ["if_mib", "system"]
    (folder / "snmp.yml").unlink()
    with pytest.raises(SettingsError, match="carries no snmp.yml"):
        snmp.modules_source(s)


# -- snmp.yml --------------------------------------------------------------------------------
def rendered(modules_file: Path, **extra) -> tuple[str, list[str]]:
    s = snmp_settings(modules_file, **extra)
    return snmp.config_content(s, snmp.pick_modules(s.snmp_exporter_modules,
                                                    *snmp.modules_source(s)))


def test_the_auths_hold_the_secrets_from_the_store(secrets, modules_file):
    text, values = rendered(modules_file)
    cfg = yaml.safe_load(text)
    assert cfg["auths"] == {
        "core_v2": {"version": 2, "community": COMMUNITY},
        "secure_v3": {"version": 3, "security_level": "authPriv", "username": "monstack",
                      "auth_protocol": "SHA256", "password": V3_PASSWORD,
                      "priv_protocol": "AES", "priv_password": V3_PRIV}}
    assert list(cfg["modules"]) == ["if_mib", "system"]
    assert sorted(values) == sorted([COMMUNITY, V3_PASSWORD, V3_PRIV])


def test_a_missing_secret_is_named(monkeypatch, modules_file, tmp_path):
    monkeypatch.delenv("SNMP_CORE_COMMUNITY", raising=False)
    monkeypatch.chdir(tmp_path)   # no secrets.yml here
    monkeypatch.setattr(inventory, "settings", lambda h=None: validate("mon1", {}))
    with pytest.raises(SettingsError, match=r"secret SNMP_CORE_COMMUNITY \(needed for the "
                                            r"snmp_exporter auth 'core_v2' \(community\)\)"):
        rendered(modules_file, snmp_exporter_auths={"core_v2": AUTHS["core_v2"]},
                 snmp_exporter_devices=DEVICES[:1])


def test_a_diff_of_snmp_yml_shows_no_secret(secrets, modules_file):
    text, values = rendered(modules_file)
    shown = "".join(masked_lines(text, values))
    assert COMMUNITY in text
    assert not any(v in shown for v in values)


def dry_run(binary: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "--dry-run", f"--config.file={config}"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("suite", SUITES)
def test_debians_builds_take_the_written_snmp_yml(suite, secrets, modules_file, tmp_path):
    binary = debian.binaries("snmp_exporter", suite=suite)["snmp_exporter"]
    assert debian.upstream_version("snmp_exporter", suite=suite) == SUITES[suite]
    path = tmp_path / "snmp.yml"
    path.write_text(rendered(modules_file)[0])
    res = dry_run(binary, path)
    assert res.returncode == 0, res.stderr
    # the validator can fail: an auth snmp_exporter refuses
    broken = yaml.safe_load(path.read_text())
    broken["auths"]["secure_v3"]["security_level"] = "authAndMore"
    path.write_text(yaml.safe_dump(broken))
    res = dry_run(binary, path)
    assert res.returncode != 0 and "security level must be one of" in res.stderr


def test_debian_12s_build_cannot_read_it(secrets, modules_file, tmp_path):
    """Why the floor: 0.21.0 knows no `auths:` (its modules held the auth)."""
    binary = debian.binaries("snmp_exporter", suite="bookworm")["snmp_exporter"]
    assert debian.upstream_version("snmp_exporter", suite="bookworm") == "0.21.0"
    path = tmp_path / "snmp.yml"
    path.write_text(rendered(modules_file)[0])
    res = dry_run(binary, path)
    assert res.returncode != 0 and "Error parsing config file" in res.stderr


@pytest.mark.parametrize("suite", SUITES)
def test_the_flags_the_deploy_uses_exist(suite):
    binary = debian.binaries("snmp_exporter", suite=suite)["snmp_exporter"]
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True).stderr
    for flag in ("--config.file", "--dry-run", "--web.listen-address", "--web.config.file"):
        assert flag in out, flag


# -- what Prometheus scrapes ----------------------------------------------------------------
def test_probe_job_relabels_as_upstreams_readme():
    s = snmp_settings()
    job, = snmp.probe_jobs(s, "mon1:9116")
    assert job["job_name"] == "snmp" and job["metrics_path"] == "/snmp"
    assert job["static_configs"] == [
        {"targets": ["switch1.lan"], "labels": {"__param_module": "if_mib,system",
                                                "__param_auth": "core_v2", "site": "hq"}},
        {"targets": ["10.0.0.2:1161"], "labels": {"__param_module": "if_mib",
                                                  "__param_auth": "secure_v3"}}]
    assert job["relabel_configs"] == [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": "mon1:9116"}]
    assert snmp.probe_jobs(snmp_settings(snmp_exporter_devices=[]), "mon1:9116") == []


@pytest.fixture
def monitoring(monkeypatch):
    running = {"snmp_exporter": [FakeHost("mon2"), FakeHost("mon1")]}
    monkeypatch.setattr(prometheus, "hosts_running", lambda c: list(running.get(c, [])))
    monkeypatch.setattr(prometheus, "endpoint", lambda c, h: f"{h.name}:9116")
    monkeypatch.setattr(prometheus, "host", FakeHost("mon1"))
    monkeypatch.setattr(federation, "settings", lambda h: validate(h.name, {}))
    return running


def test_prometheus_probes_through_the_first_exporter_and_promtool_takes_it(monitoring,
                                                                           tmp_path):
    # the retention flags of Debian 12's Prometheus, whose promtool checks the file
    s = snmp_settings(basic_auth_enabled=True, prometheus_version="2.42.0")
    jobs = prometheus.component_probe_jobs(s)
    assert [j["job_name"] for j in jobs] == ["snmp"]
    assert jobs[0]["relabel_configs"][-1]["replacement"] == "mon1:9116"
    assert jobs[0]["basic_auth"]["username"] == "prometheus"   # the exporter is protected
    text = prometheus.config_content(s, [])
    assert [j["job_name"] for j in yaml.safe_load(text)["scrape_configs"]] == [
        "prometheus", "snmp"]
    debian.promtool_accepts(text.replace("/etc/prometheus/basic_auth_password",
                                         str(tmp_path / "pw")), tmp_path)
    monitoring.clear()
    assert prometheus.component_probe_jobs(s) == []


# -- the real exporter --------------------------------------------------------------------
def get(url: str, method: str = "GET") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method),
                                    timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextlib.contextmanager
def running_exporter(binary: Path, config: Path):
    port = free_port()
    proc = subprocess.Popen([str(binary), f"--config.file={config}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if get(f"http://127.0.0.1:{port}/-/healthy")[0] == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("suite", SUITES)
def test_a_device_that_does_not_answer_fails_the_probe(suite, secrets, modules_file, tmp_path):
    """What SNMPDeviceDown rests on: the exporter answers /snmp with an error (Prometheus'
    `up` of the probe is then 0), not with an empty page; and it reloads on /-/reload."""
    binary = debian.binaries("snmp_exporter", suite=suite)["snmp_exporter"]
    config = tmp_path / "snmp.yml"
    config.write_text(rendered(modules_file, snmp_exporter_auths={
        "core_v2": {**AUTHS["core_v2"]}}, snmp_exporter_devices=DEVICES[:1])[0].replace("if_mib:", "if_mib:\n    timeout: 1s\n"
                                                     "    retries: 0", 1))
    silent = free_port(socket.SOCK_DGRAM)   # nothing listens there
    with running_exporter(binary, config) as url:
        status, body = get(f"{url}/snmp?target=127.0.0.1:{silent}&module=if_mib"
                           "&auth=core_v2")
        assert status == 500 and "error collecting metric" in body, body
        status, body = get(f"{url}/snmp?target=127.0.0.1:{silent}&module=if_mib&auth=nope")
        assert status == 400 and "Unknown auth" in body
        assert get(f"{url}/-/reload", "POST")[0] == 200
        metrics = get(f"{url}/metrics")[1]
        assert "snmp_request_errors_total" in metrics
        assert COMMUNITY not in metrics


# -- upstream's own modules ---------------------------------------------------------------
def test_the_test_mirrors_archive_carries_the_snmp_yml_given(monkeypatch, tmp_path):
    from harness import mirror
    given = tmp_path / "snmp.yml"
    given.write_text(yaml.safe_dump(STAND_IN))
    monkeypatch.setenv("SNMP_EXPORTER_SNMP_YML", str(given))
    members = mirror._members_from_debian("snmp_exporter", "amd64", "sid")
    assert members["snmp.yml"] == (given, 0o644)
    assert members["snmp_exporter"][0].name == "prometheus-snmp-exporter"


UPSTREAM_SNMP_YML = __import__("os").environ.get("SNMP_EXPORTER_SNMP_YML")


@pytest.mark.skipif(not UPSTREAM_SNMP_YML, reason="SNMP_EXPORTER_SNMP_YML names no file "
                    "(upstream's snmp.yml at the pinned tag: git show v0.30.1:snmp.yml)")
@pytest.mark.parametrize("suite", SUITES)
def test_upstreams_modules_rewritten_pass_the_real_check(suite, secrets, tmp_path):
    """With upstream's own snmp.yml: the default modules, re-written with the auths,
    pass --dry-run of Debian's builds."""
    path = Path(UPSTREAM_SNMP_YML)
    s = snmp_settings(path)
    modules = snmp.pick_modules(s.snmp_exporter_modules, *snmp.modules_source(s))
    assert {m["name"] for m in modules["if_mib"]["metrics"]} >= {
        "ifOperStatus", "ifAdminStatus", "ifHCInOctets", "ifHCOutOctets", "ifInErrors",
        "ifOutErrors"}
    config = tmp_path / "snmp.yml"
    config.write_text(snmp.config_content(s, modules)[0])
    res = dry_run(debian.binaries("snmp_exporter", suite=suite)["snmp_exporter"], config)
    assert res.returncode == 0, res.stderr
