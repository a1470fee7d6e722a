"""Things go wrong during a rollout: the run fails clearly, nothing is lost, a re-run
converges. Each fault is made real on fleet hosts."""

import signal
import subprocess
import time

import pytest

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import PYINFRA, REPO, run_pyinfra
from harness.stack import CORE_ONLY, mirror_settings, wait_targets_up

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3)


@pytest.fixture(scope="module")
def lab(hosts, fleet, mirror, tmp_path_factory):
    mon, n1, n2 = hosts
    settings = {**mirror_settings(mirror), **CORE_ONLY,
                "artifact_cache_dir": str(tmp_path_factory.mktemp("cache"))}
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon], "nodes": [n1, n2]},
                                group_data={"all": settings})
    return {"inventory": inventory, "mon": mon, "n1": n1, "n2": n2, "fleet": fleet}


def test_a_powered_off_host_is_named_the_others_complete_and_a_rerun_converges(lab):
    fleet, mon, n2 = lab["fleet"], lab["mon"], lab["n2"]
    fleet.stop(n2)
    run = run_pyinfra(lab["inventory"])
    assert run.returncode != 0
    assert n2.ip in run.output and "Could not connect" in run.output, run.output[-3000:]
    # the others were deployed all the same
    assert mon.ssh("systemctl is-active prometheus node_exporter alertmanager").stdout.split() \
        == ["active"] * 3
    assert lab["n1"].ssh("systemctl is-active node_exporter").stdout.strip() == "active"
    # the host comes back (a new machine on the same address): a re-run converges it
    (back,) = fleet.up(1)
    assert back.ip == n2.ip
    lab["n2"] = back
    again = run_pyinfra(lab["inventory"]).check()
    assert again.changes["node_exporter | Restart node_exporter and wait until ready"] == 1
    wait_targets_up(mon, {("node", f"{h.ip}:9100") for h in (mon, lab["n1"], back)})
    assert run_pyinfra(lab["inventory"]).check().changed_ops() == {}


def test_a_service_that_never_becomes_ready_fails_the_run_with_its_journal(lab):
    mon = lab["mon"]
    run = run_pyinfra(lab["inventory"], data={
        "alertmanager_extra_flags": "['--storage.path=/proc/nowhere']"})
    assert run.returncode != 0
    assert "alertmanager did not become ready at http://127.0.0.1:9093/-/ready" in run.output
    assert "last lines of its journal" in run.output
    # the others on that host are untouched and running; a corrected run converges
    assert mon.ssh("systemctl is-active prometheus").stdout.strip() == "active"
    fixed = run_pyinfra(lab["inventory"]).check()
    assert fixed.changes["Alertmanager | Restart alertmanager and wait until ready"] == 1
    assert mon.ssh("curl -fsS http://127.0.0.1:9093/-/ready").returncode == 0


def test_an_interrupted_run_leaves_no_half_written_config_and_a_rerun_converges(lab):
    mon = lab["mon"]
    # a change on every host, interrupted with SIGINT (Ctrl-C) while it runs
    cmd = [*PYINFRA, "-y", "--data", "prometheus_retention_time=45d", "--data",
           "node_exporter_extra_flags=['--collector.processes']", str(lab["inventory"]),
           "deploy.py"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    output = ""
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        output += line
        if "Starting operation: node_exporter | Install the node_exporter systemd unit" in line:
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline
    output += proc.communicate(timeout=120)[0]
    # (pyinfra itself exits 0 after Ctrl-C: "Exiting upon user request!")
    assert "Exiting upon user request" in output, output[-2000:]
    # whatever was interrupted, every live config is whole (staged files are moved in one
    # rename) and the services run
    assert mon.ssh("/usr/local/bin/promtool check config /etc/prometheus/prometheus.yml"
                   ).returncode == 0
    assert mon.ssh("/usr/local/bin/amtool check-config /etc/alertmanager/alertmanager.yml"
                   ).returncode == 0
    done = run_pyinfra(lab["inventory"], data={
        "prometheus_retention_time": "45d",
        "node_exporter_extra_flags": "['--collector.processes']"}).check()
    assert done.total_changes > 0
    assert "--storage.tsdb.retention.time=45d" in mon.ssh("systemctl cat prometheus").stdout
    # no duplicate users or units, no staged leftovers
    for h in (mon, lab["n1"], lab["n2"]):
        assert h.ssh("getent passwd node_exporter | wc -l").stdout.strip() == "1"
        assert h.ssh("find /etc -name '.*.monstack-new'").stdout.strip() == ""
    settled = run_pyinfra(lab["inventory"], data={
        "prometheus_retention_time": "45d",
        "node_exporter_extra_flags": "['--collector.processes']"}).check()
    assert settled.changed_ops() == {}
