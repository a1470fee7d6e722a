"""systemd_exporter: its catalogue row and release entry (no pinned sha256), the package
method refused on Debian 12 and 13, the unit and its flags against Debian's real build
(sid's 0.7.0, the only one)."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request

import pytest

from harness import debian
from harness.one_address import current  # noqa: F401
from harness.units import directives, exec_start_argv
from harness.net import free_port
from operations.base import artifacts, exporters
from operations.base.schema import SettingsError
from operations.components import systemd_exporter as se
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate

BOOKWORM = {"id": "debian", "version_id": "12", "version_codename": "bookworm"}
TRIXIE = {"id": "debian", "version_id": "13", "version_codename": "trixie"}
SID = {"id": "debian", "version_codename": "forky"}   # testing and sid: no VERSION_ID
UBUNTU = {"id": "ubuntu", "version_id": "24.04", "id_like": "debian"}


# -- catalogue and release ------------------------------------------------------------------
def test_catalogue_row():
    c = COMPONENTS["systemd_exporter"]
    assert (c.port, c.group, c.enabled, c.listen_address) == (9558, "all", False, "auto")
    assert c.scrape_job == ("systemd", "systemd units")
    assert c.protected_by == "web.yml"


def test_release_entry_is_promus_and_pins_no_checksum():
    r = RELEASES["systemd_exporter"]
    assert r["file"].format(version="0.7.0", arch="amd64") == "systemd_exporter-0.7.0.linux-amd64.tar.gz"
    assert r["top_dir"].format(version="0.7.0", arch="arm64") == "systemd_exporter-0.7.0.linux-arm64"
    assert r["debian_package"] == "prometheus-systemd-exporter"
    assert r["proven"] == [("0.7.0", "sid")]
    assert not any(name.startswith("systemd_exporter-") for name in CHECKSUMS)
    assert "none is pinned" in r["notes"]


def test_archive_without_a_given_sha256_is_refused_naming_the_file():
    with pytest.raises(artifacts.ArtifactError) as err:
        artifacts.resolve("systemd_exporter", "0.7.0", "x86_64", None, {})
    assert "systemd_exporter-0.7.0.linux-amd64.tar.gz" in str(err.value)
    assert "artifact_checksums" in str(err.value)
    given = artifacts.resolve("systemd_exporter", "0.7.0", "x86_64", None,
                              {"systemd_exporter-0.7.0.linux-amd64.tar.gz": "ab" * 32})
    assert given.sha256 == "ab" * 32


def test_the_proven_version_is_sids_build():
    assert debian.upstream_version("systemd_exporter", suite="sid") == "0.7.0"


# -- the package method ------------------------------------------------------------------
@pytest.mark.parametrize("release, number, codename",
                         [(BOOKWORM, "12", "bookworm"), (TRIXIE, "13", "trixie")])
def test_package_method_refused_on_debian_12_and_13(release, number, codename):
    why = se.package_refusal(release)
    assert f"Debian {number} ({codename}) has no prometheus-systemd-exporter package" in why
    assert "sid" in why and "systemd_exporter_install_method = 'archive'" in why


@pytest.mark.parametrize("release", [SID, UBUNTU, {}])
def test_package_method_not_refused_where_it_may_exist(release):
    assert se.package_refusal(release) is None


class FakeHost:
    def __init__(self, os_release):
        self.name, self.os_release, self.asked = "web1", os_release, []

    def get_fact(self, fact, *args, **kwargs):
        self.asked.append(fact.__name__)
        return self.os_release


class Reached(Exception):
    pass


@pytest.fixture
def planned(monkeypatch, current):
    """install() up to getting the binaries (the rest needs a pyinfra run)."""
    def plan(os_release, method):
        s = current({"systemd_exporter_enabled": True, "systemd_exporter_install_method": method})
        fake = FakeHost(os_release)
        monkeypatch.setattr(se, "host", fake)
        monkeypatch.setattr(se, "settings", lambda: s)
        monkeypatch.setattr(exporters, "system_user", lambda *a: None)

        def install_binaries(name):
            raise Reached(name)
        monkeypatch.setattr(exporters, "install_binaries", install_binaries)
        return fake
    return plan


def test_install_refuses_the_package_on_debian_12_before_planning_anything(planned):
    fake = planned(BOOKWORM, "package")
    with pytest.raises(SettingsError) as err:
        se.install._inner()   # the @deploy body: its wrapper needs a pyinfra state
    assert str(err.value).startswith("host web1: systemd_exporter_install_method = 'package': "
                                     "Debian 12 (bookworm) has no prometheus-systemd-exporter")
    assert fake.asked == ["OsRelease"]


@pytest.mark.parametrize("os_release, method", [(SID, "package"), (BOOKWORM, "archive"),
                                                (TRIXIE, "archive")])
def test_install_goes_on_otherwise(planned, os_release, method):
    fake = planned(os_release, method)
    with pytest.raises(Reached):
        se.install._inner()   # the @deploy body: its wrapper needs a pyinfra state
    # the archive method asks no release fact
    assert fake.asked == (["OsRelease"] if method == "package" else [])


# -- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize("key, pattern, needle", [
    ("systemd_exporter_unit_include", "(ssh", "not a regular expression"),
    ("systemd_exporter_unit_exclude", ".+(?<!\\.service)", "RE2 syntax has not"),
])
def test_bad_unit_filters_are_refused(key, pattern, needle):
    with pytest.raises(SettingsError, match=re.escape(needle)):
        validate("h1", {key: pattern})


# -- unit and flags ------------------------------------------------------------------------
def test_unit(current):
    s = current({"systemd_exporter_unit_include": r"(ssh|cron)\.service"})
    content = se.unit(s, "/usr/local/bin/systemd_exporter", ["--web.config.file=/x/web.yml"]).content()
    lines = directives(content)
    assert {"User=systemd_exporter", "ProtectSystem=strict", "ProtectProc=invisible",
            "NoNewPrivileges=yes", "CapabilityBoundingSet=", "PrivateDevices=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"} - set(lines) == set()
    assert exec_start_argv(content) == [
        "/usr/local/bin/systemd_exporter", "--web.listen-address=10.0.0.5:9558",
        r"--systemd.collector.unit-include=(ssh|cron)\.service",
        r"--systemd.collector.unit-exclude=.+\.(device|scope)",
        "--systemd.collector.enable-restart-count", "--web.config.file=/x/web.yml"]


def sid_binary() -> str:
    return str(debian.program("systemd_exporter", "sid"))


def test_every_flag_of_the_unit_is_in_the_builds_help(current):
    res = subprocess.run([sid_binary(), "--help"], capture_output=True, text=True, timeout=30)
    argv = exec_start_argv(se.unit(current(), "x", ["--web.config.file=/x"]).content())
    for arg in argv[1:]:
        flag = arg.split("=", 1)[0]
        assert re.search(rf"^\s+{re.escape(flag)}[=\s]", res.stdout + res.stderr, re.M), flag


def test_the_build_starts_with_the_units_flags_and_refuses_a_wrong_one(current):
    """Without systemd here it cannot report units, but it takes the flags and serves."""
    port = free_port()
    argv = exec_start_argv(se.unit(current(), sid_binary(), []).content())
    argv = [a if not a.startswith("--web.listen-address=") else
            f"--web.listen-address=127.0.0.1:{port}" for a in argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
                break
            except OSError:
                assert proc.poll() is None, "it exited on the unit's flags"
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert re.search(r'^systemd_exporter_build_info\{.*version="0\.7\.0"', text, re.M)
    wrong = subprocess.run([sid_binary(), "--systemd.collector.enable-restarts-count"],
                           capture_output=True, text=True, timeout=30)
    assert wrong.returncode != 0 and "unknown long flag" in wrong.stderr


# -- rule set ------------------------------------------------------------------------------
def test_systemd_rule_set_has_runbooks_and_its_dashboard():
    from harness.rule_sets import check
    assert sorted(check("systemd")) == ["SystemdUnitFailed", "SystemdUnitRestartingOften"]
