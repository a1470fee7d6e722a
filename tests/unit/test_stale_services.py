"""A service whose running process predates what it runs on (a run cut short between
writing and restarting) is restarted or reloaded by the next run: the UnitState fact
tells, service() decides (operations/base/services.py)."""

from __future__ import annotations

import os
import subprocess
import time
from types import SimpleNamespace

import pytest

from harness.fake_host import OneFactHost
from operations.base.facts import STARTED_DIR, UnitState
from operations.base.services import stale, watched_paths
from operations.base.files import watched

UNIT = "/etc/systemd/system/prometheus.service"
CONFIG = "/etc/prometheus/prometheus.yml"
RULES = "/etc/prometheus/rules/host.rules.yml"


def state(**kw) -> dict:
    return {"enabled": True, "running": True, "daemon_reload": False,
            "binary_replaced": False, "newer": [], **kw}


def test_a_converged_service_is_not_stale():
    assert stale(state(), [UNIT, CONFIG], [RULES]) == ([], [])


def test_a_replaced_program_restarts_it():
    assert stale(state(binary_replaced=True), [UNIT], []) == (
        ["its program was replaced after it started"], [])


def test_a_newer_restart_file_restarts_and_a_newer_reload_file_reloads():
    restart, reload = stale(state(newer=[CONFIG, RULES]), [UNIT, CONFIG], [RULES])
    assert restart == [f"{CONFIG} changed after it started"]
    assert reload == [f"{RULES} changed after it last started or reloaded"]


def test_a_unit_systemd_has_not_loaded_restarts_it():
    assert stale(state(daemon_reload=True), [UNIT], [])[0] == [
        "systemd has not loaded its changed unit"]


def test_a_stopped_service_is_started_anyway_not_called_stale():
    assert stale(state(running=False, binary_replaced=True, newer=[CONFIG]),
                 [CONFIG], []) == ([], [])


def test_operations_say_which_files_they_put_in_place():
    class Op:
        pass

    a, b, c = Op(), Op(), Op()
    watched(a, [CONFIG])
    watched(b, [RULES, "/etc/prometheus/rules/apps.rules.yml"])
    assert watched_paths([a, b, c]) == [CONFIG, RULES, "/etc/prometheus/rules/apps.rules.yml"]


def test_the_fact_reads_systemd_and_the_files():
    fact = UnitState()
    lines = ["UnitFileState=enabled", "SubState=running", "NeedDaemonReload=no",
             "Exe=/usr/local/bin/prometheus (deleted)", f"Newer={CONFIG}", f"Newer={RULES}"]
    assert fact.process(lines) == {"enabled": True, "running": True, "daemon_reload": False,
                                   "binary_replaced": True, "newer": [CONFIG, RULES]}
    assert fact.process(["UnitFileState=disabled", "SubState=dead"])["running"] is False


FAKE_SYSTEMCTL = """#!/bin/sh
# systemctl as the fact asks it, for a unit {name} running as PID $FAKE_PID
case "$*" in
  *ExecMainStartTimestamp*) echo "ExecMainStartTimestamp=@$FAKE_START" ;;
  *"-p MainPID"*) printf 'MainPID=%s\\nUnitFileState=enabled\\nSubState=running\\nNeedDaemonReload=no\\n' "$FAKE_PID" ;;
  *) exit 1 ;;
esac
"""


def with_systemctl(tmp_path, script: str):
    """A function running a UnitState command in a real shell with `script` as the
    systemctl first in PATH (and the given environment), returning the fact's answer."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(script)
    (bin_dir / "systemctl").chmod(0o755)

    def run(command: str, **env) -> dict:
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
        out = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True,
                             check=True).stdout
        return UnitState().process(out.splitlines())
    return run


@pytest.fixture
def shell(tmp_path):
    """Run the fact's command in a real shell, with a fake systemctl first in PATH and
    this test's own process as the service's main process."""
    run_fact = with_systemctl(tmp_path, FAKE_SYSTEMCTL)

    def run(unit: str, watched_files: list[str], start: int) -> dict:
        command = UnitState().command(unit, watched_files)
        command = command.replace(STARTED_DIR, str(tmp_path / "started"))
        return run_fact(command, FAKE_PID=str(os.getpid()), FAKE_START=str(start))
    return run


def test_files_newer_than_the_stamp_are_named(shell, tmp_path):
    old, new = tmp_path / "old.yml", tmp_path / "new.yml"
    old.write_text("written before the start")
    (tmp_path / "started").mkdir()
    stamp = tmp_path / "started" / "prometheus.service"
    stamp.write_text("")
    past = time.time() - 60
    os.utime(old, (past, past))
    new.write_text("written after the start")
    result = shell("prometheus.service", [str(old), str(new)], start=0)
    assert result["newer"] == [str(new)]
    assert result["running"] and not result["binary_replaced"]   # python is still there


def test_without_a_stamp_the_process_start_counts(shell, tmp_path):
    """A host deployed before the stamps existed: files written more than a second after
    the process started are newer; at its start, not."""
    config = tmp_path / "config.yml"
    config.write_text("x")
    written = int(config.stat().st_mtime)
    assert shell("a.service", [str(config)], start=written - 10)["newer"] == [str(config)]
    assert shell("a.service", [str(config)], start=written)["newer"] == []


ASKED_SYSTEMD = """#!/bin/sh
# systemctl as the fact asks it: a unit systemd says is stopped (told apart from the
# shell's own answer, which says running)
case "$*" in
  *"-p MainPID"*) printf 'MainPID=0\\nUnitFileState=enabled\\nSubState=dead\\nNeedDaemonReload=yes\\n' ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def settled_host(tmp_path):
    """A host tree in the state the deploy leaves a unit (see facts._settled): unit file,
    stamp, wants link, its control group holding this test's process, which runs the
    unit's program (python); and a systemctl that would say otherwise if asked."""
    root = tmp_path / "root"
    unit = "monstack-test.service"
    etc = root / "etc/systemd/system"
    (etc / "multi-user.target.wants").mkdir(parents=True)
    (etc / unit).write_text("[Service]\n")
    past = time.time() - 60
    os.utime(etc / unit, (past, past))
    (etc / "multi-user.target.wants" / unit).symlink_to(etc / unit)
    (root / "started").mkdir()
    (root / "started" / unit).write_text("")
    (root / "run/systemd/system").mkdir(parents=True)
    cgroup = root / "cgroup/unified/system.slice" / unit
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.procs").write_text(f"{os.getpid()}\n")
    run_fact = with_systemctl(tmp_path, ASKED_SYSTEMD)

    def ask(program=os.path.realpath(f"/proc/{os.getpid()}/exe"), watched=()):
        command = UnitState().command(unit, list(watched), program)
        for real, fake in ((STARTED_DIR, root / "started"), ("/etc/systemd/system", etc),
                           ("/run/systemd/system", root / "run/systemd/system"),
                           ("/sys/fs/cgroup", root / "cgroup")):
            command = command.replace(real, str(fake))
        return run_fact(command)
    return SimpleNamespace(ask=ask, etc=etc, unit=unit, root=root, cgroup=cgroup)


SETTLED = {"enabled": True, "running": True, "daemon_reload": False,
           "binary_replaced": False, "newer": []}
ASKED = {"enabled": True, "running": False, "daemon_reload": True,
         "binary_replaced": False, "newer": []}


def test_a_settled_unit_is_told_without_systemctl(settled_host):
    assert settled_host.ask() == SETTLED
    config = settled_host.root / "config.yml"
    config.write_text("written after the start")
    assert settled_host.ask(watched=[str(config)])["newer"] == [str(config)]
    # without its program named, systemd is asked, as before
    assert settled_host.ask(program=None) == ASKED


def _unit_written_after_the_start(h):
    os.utime(h.etc / h.unit, None)


def _a_drop_in(h):
    (h.etc / f"{h.unit}.d").mkdir()


def _a_runtime_copy(h):
    (h.root / "run/systemd/system" / h.unit).write_text("")


def _not_enabled(h):
    (h.etc / "multi-user.target.wants" / h.unit).unlink()


def _no_stamp(h):
    (h.root / "started" / h.unit).unlink()


def _stopped(h):
    (h.cgroup / "cgroup.procs").write_text("")


def _two_processes(h):
    (h.cgroup / "cgroup.procs").write_text(f"{os.getpid()}\n{os.getppid()}\n")


def _no_control_group(h):
    (h.cgroup / "cgroup.procs").unlink()


def _unit_is_a_link(h):
    (h.etc / h.unit).unlink()
    (h.etc / h.unit).symlink_to("/dev/null")


@pytest.mark.parametrize("disturb", [
    _unit_written_after_the_start, _a_drop_in, _a_runtime_copy, _not_enabled, _no_stamp,
    _stopped, _two_processes, _no_control_group, _unit_is_a_link])
def test_anything_unsettled_is_asked_of_systemd(settled_host, disturb):
    disturb(settled_host)
    assert settled_host.ask() == ASKED


def test_a_replaced_program_is_asked_of_systemd(settled_host, tmp_path):
    other = tmp_path / "python-copy"
    other.write_bytes(b"")
    assert settled_host.ask(program=str(other)) == ASKED


@pytest.mark.parametrize("output,version", [
    (["prometheus, version 3.5.3+ds (branch: debian/sid, revision: 3.5.3+ds-1)"], "3.5.3"),
    (["prometheus, version 2.42.0 (branch: HEAD, revision: 225c61122d88)"], "2.42.0"),
    ([], None), (["sh: 1: /usr/local/bin/prometheus: not found"], None)])
def test_the_installed_program_says_its_version(output, version):
    from operations.base.facts import ProgramVersion
    assert ProgramVersion().process(output) == version


@pytest.mark.parametrize("installed,wanted,extra,refused", [
    ("3.5.3", "2.42.0", {}, True),
    ("3.5.3", "2.54.1", {}, True),
    ("3.5.3", "2.55.0", {}, False),          # reads Prometheus 3's data
    ("2.53.3", "2.42.0", {}, False),         # no Prometheus 3 ran there
    (None, "2.42.0", {}, False),             # a first install
    ("3.5.3", "2.42.0", {"prometheus_allow_downgrade": "true"}, False),
    ("3.5.3", "2.42.0", {"prometheus_install_method": "package"}, False),
])
def test_a_downgrade_below_2_55_after_prometheus_3_is_refused(monkeypatch, installed, wanted,
                                                               extra, refused):
    from pyinfra.api.exceptions import PyinfraError

    from operations.components.prometheus import server as prometheus
    from operations.stack import validate
    monkeypatch.setattr(prometheus, "host",
                        OneFactHost("mon1", "/usr/local/bin/prometheus", installed))
    s = validate("mon1", {"prometheus_version": wanted, **extra})
    if not refused:
        prometheus.check_downgrade(s)
        return
    with pytest.raises(PyinfraError) as error:
        prometheus.check_downgrade(s)
    assert str(error.value) == (
        f"prometheus_version {wanted} on mon1: Prometheus {installed} runs there, and a "
        "Prometheus older than 2.55.0 cannot read the data Prometheus 3 wrote in "
        "/var/lib/prometheus; go to 2.55 or later, or set prometheus_allow_downgrade = True "
        "on purpose (after moving the data away); nothing was changed")


@pytest.mark.parametrize("component,label,program,data_dir", [
    ("victoriametrics", "VictoriaMetrics", "victoria-metrics", "/var/lib/victoriametrics"),
    ("vmstorage", "vmstorage", "vmstorage", "/var/lib/vmstorage"),
])
@pytest.mark.parametrize("installed,wanted,extra,refused", [
    ("1.145.0", "1.89.1", {}, True),     # 1.90.0 changed the storage format
    ("1.90.0", "1.79.5", {}, True),
    ("1.145.0", "1.90.0", {}, False),
    ("1.89.1", "1.79.5", {}, False),     # no 1.90 data there
    (None, "1.79.5", {}, False),         # a first install, or Debian's build (no version)
    ("1.145.0", "1.79.5", {"allow_downgrade": "true"}, False),
])
def test_a_victoriametrics_downgrade_below_1_90_is_refused(monkeypatch, component, label,
                                                           program, data_dir, installed,
                                                           wanted, extra, refused):
    from pyinfra.api.exceptions import PyinfraError

    from operations.components import victoriametrics
    from operations.stack import validate
    s = validate("vm1", {f"{component}_version": wanted, f"{component}_install_method": "archive",
                         **{f"{component}_{k}": v for k, v in extra.items()}})
    monkeypatch.setattr(victoriametrics, "host",
                        OneFactHost("vm1", f"/usr/local/bin/{program}", installed))
    monkeypatch.setattr(victoriametrics, "settings", lambda: s)
    if not refused:
        victoriametrics.check_downgrade(component, label, program, data_dir)
        return
    with pytest.raises(PyinfraError) as error:
        victoriametrics.check_downgrade(component, label, program, data_dir)
    assert str(error.value) == (
        f"{component}_version {wanted} on vm1: {label} {installed} runs there, and a {label} "
        f"older than 1.90.0 cannot read the data VictoriaMetrics 1.90.0 or later wrote in "
        f"{data_dir}; go to 1.90 or later, or set {component}_allow_downgrade = True on "
        "purpose (after moving the data away); nothing was changed")
