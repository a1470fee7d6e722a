"""process_exporter: its catalogue row and release entry, the checks of
process_exporter_names, the rendered config and unit, and Debian's real builds (0.7.10,
0.8.5, 0.8.7) taking that config and unit flags and reporting the named groups."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import debian
from harness.one_address import current  # noqa: F401
from harness.units import directives, exec_start_argv
from harness.net import free_port
from operations.base.schema import SettingsError
from operations.base.templates import render
from operations.components import process_exporter as pe
from operations.stack import COMPONENTS, RELEASES, CHECKSUMS, validate

SUITES = ("bookworm", "trixie", "sid")
NOBODY = 65534
GROUPS = [{"name": "sshd", "comm": ["sshd"]},
          {"name": "cron", "exe": ["/usr/sbin/cron", "crond"]},
          {"name": "backup", "comm": ["rsync"], "cmdline": [r"--backup-dir\s+(?P<Dir>\S+)"]}]


def enabled(groups=GROUPS, **more):
    return {"process_exporter_enabled": True, "process_exporter_names": groups, **more}


# -- catalogue and release ------------------------------------------------------------------
def test_catalogue_row():
    c = COMPONENTS["process_exporter"]
    assert (c.port, c.group, c.enabled, c.listen_address) == (9256, "all", False, "auto")
    assert c.scrape_job == ("process", "named process groups")
    assert c.protected_by == "web.yml"
    names = list(COMPONENTS)
    assert names.index("process_exporter") == names.index("node_exporter") + 1


def test_release_entry_follows_goreleaser_names():
    r = RELEASES["process_exporter"]
    files = {a: r["file"].format(version="0.8.7", arch=t) for a, t in r["arch"].items()}
    assert files["x86_64"] == "process-exporter-0.8.7.linux-amd64.tar.gz"
    assert files["aarch64"] == "process-exporter-0.8.7.linux-arm64.tar.gz"
    assert files["armv7l"] == "process-exporter-0.8.7.linux-armv7.tar.gz"
    assert r["top_dir"].format(version="0.8.7", arch="amd64") == "process-exporter-0.8.7.linux-amd64"
    assert r["binaries"] == {"process_exporter": "process-exporter"}
    assert r["url"].format(version="0.8.7", file=files["x86_64"]) == (
        "https://github.com/ncabatoff/process-exporter/releases/download/v0.8.7/"
        "process-exporter-0.8.7.linux-amd64.tar.gz")
    # amd64 and arm64 pinned, each a sha256
    for name in (files["x86_64"], files["aarch64"]):
        assert re.fullmatch(r"[0-9a-f]{64}", CHECKSUMS[name]), name
    assert files["armv7l"] not in CHECKSUMS


@pytest.mark.parametrize("suite", SUITES)
def test_proven_versions_are_debians_builds(suite):
    proven = dict((s, v) for v, s in RELEASES["process_exporter"]["proven"])
    assert debian.upstream_version("process_exporter", suite=suite) == proven[suite]


# -- the setting's checks ---------------------------------------------------------------
def test_groups_are_accepted_and_disabled_needs_none():
    assert validate("h1", enabled()).process_exporter_names == GROUPS
    assert validate("h1", {}).process_exporter_names == []


@pytest.mark.parametrize("groups, needle", [
    ([], "names no process group"),
    (["sshd"], "expected a mapping"),
    ([{"name": "sshd"}], "'sshd' has no selector"),
    ([{"name": "sshd", "com": ["sshd"]}], "unknown keys ['com']"),
    ([{"comm": ["sshd"]}], "name None must be a plain group name"),
    ([{"name": "{{.Comm}}", "comm": ["sshd"]}], "not a template"),
    ([{"name": "a b", "comm": ["sshd"]}], "must be a plain group name"),
    ([{"name": "sshd", "comm": "sshd"}], "expected a non-empty list"),
    ([{"name": "sshd", "comm": []}], "expected a non-empty list"),
    ([{"name": "sshd", "exe": [""]}], "expected a non-empty list"),
    ([{"name": "j", "comm": ["systemd-journald"]}], "longer than 15 characters"),
    ([{"name": "j", "cmdline": ["(unclosed"]}], "is not a regular expression"),
    ([{"name": "j", "cmdline": ["foo(?=bar)"]}], "RE2 syntax has not"),
    ([{"name": "j", "cmdline": [r"(a)\1"]}], "RE2 syntax has not"),
    ([{"name": "a", "comm": ["x"]}, {"name": "a", "comm": ["y"]}], "given twice: ['a']"),
])
def test_bad_groups_are_refused_naming_the_entry(groups, needle):
    with pytest.raises(SettingsError) as err:
        validate("h1", enabled(groups))
    assert needle in str(err.value)
    assert "host h1" in str(err.value)


def test_a_bad_entry_is_refused_also_when_disabled():
    with pytest.raises(SettingsError, match=r"process_exporter_names\[0\]"):
        validate("h1", {"process_exporter_names": [{"name": "x"}]})


# -- config and unit -----------------------------------------------------------------------
def test_config_holds_the_groups_in_upstream_shape(current):
    s = current(enabled())
    text = pe.config(s)
    assert text.startswith("# Managed by monstack")
    assert yaml.safe_load(text) == {"process_names": GROUPS}
    # the regular expression reaches the file unchanged
    assert r"--backup-dir\s+(?P<Dir>\S+)" in text


def test_unit(current):
    s = current(enabled(process_exporter_extra_flags=["-threads=false"]))
    content = pe.unit(s, "/usr/local/bin/process_exporter", ["--web.config.file=/x/web.yml"]).content()
    lines = directives(content)
    assert {"User=process_exporter", "Group=process_exporter", "ProtectSystem=strict",
            "ProtectProc=default", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
            "ProtectHome=yes"} - set(lines) == set()
    assert not any(line.startswith("ExecReload") for line in lines)  # restarts on change
    assert exec_start_argv(content) == [
        "/usr/local/bin/process_exporter", "-config.path=/etc/process_exporter/process_exporter.yml",
        "-web.listen-address=10.0.0.5:9256", "-gather-smaps=false",
        "--web.config.file=/x/web.yml", "-threads=false"]


# -- Debian's real builds ------------------------------------------------------------------
def binary(suite: str) -> str:
    return str(debian.program("process_exporter", suite))


@pytest.mark.parametrize("suite", SUITES)
def test_every_flag_of_the_unit_is_in_the_builds_help(suite, current):
    res = subprocess.run([binary(suite), "-help"], capture_output=True, text=True, timeout=30)
    help_text = res.stdout + res.stderr
    argv = exec_start_argv(pe.unit(current(enabled()), "x", ["-web.config.file=/x"]).content())
    for arg in argv[1:]:
        flag = arg.lstrip("-").split("=", 1)[0]
        assert re.search(rf"^\s+-{re.escape(flag)}\b", help_text, re.M), (suite, flag)


def as_service_user() -> list[str]:
    """The command prefix running a program as a user of its own (nobody), as the unit
    does: it then reads other users' processes as the deployed exporter does. Empty when
    this machine cannot (not root, no setpriv)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def readable_dir():
    """A folder every user can read (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="monstack-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def run_exporter(suite: str, config_text: str, folder: Path, prefix=()):
    """Start Debian's build on `config_text` (written in `folder`); return (process, port)."""
    config = folder / "process_exporter.yml"
    config.write_text(config_text)
    config.chmod(0o644)
    port = free_port()
    proc = subprocess.Popen([*prefix, binary(suite), f"-config.path={config}",
                             f"-web.listen-address=127.0.0.1:{port}", "-gather-smaps=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, port


def scrape(proc: subprocess.Popen, port: int, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"process-exporter exited {proc.returncode}: {proc.stdout.read()}")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("suite", SUITES)
def test_the_build_reports_the_named_groups_of_a_rendered_config(suite, current, tmp_path,
                                                                readable_dir):
    # a process with a name of its own: a copy of sleep (comm: its file name)
    probe, other = tmp_path / "monstack-probe", tmp_path / "monstack-other"
    shutil.copy(shutil.which("sleep"), probe)
    shutil.copy(shutil.which("sleep"), other)
    sleepers = [subprocess.Popen([str(probe), "300"]),
                subprocess.Popen([str(other), "301"]), subprocess.Popen([str(other), "302"])]
    groups = [{"name": "probe", "comm": ["monstack-probe"]},
              # by argv[0] and arguments: the probe matches too, but is counted above
              {"name": "by-args", "exe": [str(probe), str(other)],
               "cmdline": [r"^\S+\s+(?P<Secs>30[0-2])$"]},
              {"name": "nothing", "comm": ["no-such-proc"]}]
    s = current(enabled(groups))
    prefix = as_service_user()
    proc, port = run_exporter(suite, pe.config(s), readable_dir, prefix)
    try:
        text = scrape(proc, port)
        if prefix:   # it ran as nobody, and counted root's processes all the same
            status = Path(f"/proc/{proc.pid}/status").read_text()
            assert re.search(rf"^Uid:\s+{NOBODY}\s", status, re.M), status
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
    counts = dict(re.findall(r'^namedprocess_namegroup_num_procs\{groupname="([^"]+)"\} (\S+)$',
                             text, re.M))
    # the first group a process matches wins; a group never seen is not reported
    assert counts == {"probe": "1", "by-args": "2"}, text[:2000]
    for name in ("namedprocess_namegroup_oldest_start_time_seconds",
                 "namedprocess_namegroup_memory_bytes", "namedprocess_namegroup_cpu_seconds_total",
                 "namedprocess_namegroup_num_threads"):
        assert re.search(rf'^{name}\{{[^}}]*groupname="probe"', text, re.M), name
    assert 'memtype="resident"' in text


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("groups", [
    [{"name": "j", "cmdline": ["(unclosed"]}],      # the build's "bad cmdline regex"
    [{"name": "j"}],                               # the build's "no matchers provided"
], ids=["bad-regex", "no-selector"])
def test_what_the_checks_refuse_the_build_refuses_too(suite, groups, current, readable_dir):
    """The checks stand in for a check mode: on what both can judge, they agree."""
    with pytest.raises(SettingsError):
        validate("h1", enabled(groups))
    text = render("process_exporter/process_exporter.yml.j2", groups=groups)
    proc, _ = run_exporter(suite, text, readable_dir)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{suite}'s process-exporter ran on a config the checks refuse")
    assert proc.returncode != 0 and "error reading config file" in out, out


# -- rule set ------------------------------------------------------------------------------
def test_processes_rule_set_has_runbooks_and_its_dashboard():
    from harness.rule_sets import check
    assert sorted(check("processes")) == ["ProcessGroupDown", "ProcessGroupHighMemory",
                                          "ProcessGroupRestartingOften"]
