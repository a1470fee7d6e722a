"""Things go wrong during a rollout: the run fails clearly, nothing is lost, a re-run
converges. Each fault is made real on fleet hosts."""

import json
import re
import shlex
import signal
import subprocess
import time

import pytest
import yaml

from conftest import hosts_fixture, write_inventory
from harness import debian
from harness.fleet import CONTROLLER_IP
from harness.mirror import _members_from_debian, build_archive, sha256
from harness.pyinfra_cli import PYINFRA, REPO, run_pyinfra
from harness.stack import (CORE_ONLY, http_json, mirror_settings, prom_query, service_pids,
                           wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3, suites=("bookworm", "bookworm", "trixie"))  # n2: Debian 13


@pytest.fixture(scope="module")
def lab(hosts, fleet, mirror, tmp_path_factory):
    mon, n1, n2 = hosts
    cache = tmp_path_factory.mktemp("cache")
    settings = {**mirror_settings(mirror), **CORE_ONLY, "artifact_cache_dir": str(cache)}
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon], "nodes": [n1, n2]},
                                group_data={"all": settings})
    return {"inventory": inventory, "mon": mon, "n1": n1, "n2": n2, "fleet": fleet,
            "settings": settings, "cache": cache}


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


# -- on a converged stack: a bad config, a full disk, a broken mirror ---------------------
def converge(lab) -> None:
    """Each test below starts from the lab deployed as its group_data says (the tests
    above leave it otherwise); no run is needed when the test before ended with a
    successful run of it."""
    if not lab.get("converged"):
        run_pyinfra(lab["inventory"]).check()
    lab["converged"] = False   # until this test proves otherwise


def settled(lab) -> None:
    """A re-run changes nothing: whatever failed before left nothing half-done."""
    again = run_pyinfra(lab["inventory"]).check()
    assert again.changed_ops() == {}, again.changed_ops()
    lab["converged"] = True


def edit_group_data(lab, **changes) -> None:
    """The operator edits group_data/all.py."""
    lab["settings"].update(changes)
    write_inventory(lab["inventory"], lab["fleet"],
                    {"monitoring": [lab["mon"]], "nodes": [lab["n1"], lab["n2"]]},
                    group_data={"all": lab["settings"]})


def staged_leftovers(host) -> str:
    return host.ssh("find /etc -name '.*.monstack-new'").stdout.strip()


def test_an_invalid_alertmanager_route_fails_with_amtools_message_and_changes_nothing(lab):
    mon = lab["mon"]
    converge(lab)
    config = "/etc/alertmanager/alertmanager.yml"
    config_before = mon.ssh(f"sha256sum {config}").stdout
    pids_before = service_pids(mon, ["alertmanager"])
    # a slip in the route's group_by: a label named twice (amtool of every release says so;
    # Alertmanager 0.28 and later take dashes in label names, so a dash is no longer one)
    run = run_pyinfra(lab["inventory"],
                      data={"alertmanager_group_by": "[alertname, instance, alertname]"})
    assert run.returncode != 0
    assert 'duplicated label "alertname" in group_by' in run.output, run.output[-3000:]
    assert f"monstack: {config} failed validation; the live file was kept" in run.output
    assert run.errors.get("Alertmanager | Write alertmanager.yml (checked by amtool)") == 1
    # the live config is byte for byte the old one, and the running Alertmanager (same
    # process) still routes by it
    assert mon.ssh(f"sha256sum {config}").stdout == config_before
    assert service_pids(mon, ["alertmanager"]) == pids_before
    assert mon.ssh(f"curl -fsS http://{mon.ip}:9093/-/ready").returncode == 0
    loaded = http_json(f"http://{mon.ip}:9093/api/v2/status")["config"]["original"]
    assert yaml.safe_load(loaded)["route"]["group_by"] == lab["settings"].get(
        "alertmanager_group_by", ["alertname", "job"])
    assert staged_leftovers(mon) == ""
    settled(lab)


# The TSDB on a volume of its own, small enough to fill in a test (tmpfs: the hosts may
# mount it themselves; loop devices they may not have). Big enough for the deploy's
# free-space check (prometheus_min_free_mb) while it is not full.
TSDB_VOLUME = "512m"
TSDB_LISTING = r"""
import hashlib, json, os, sys
root, earlier = sys.argv[1], json.loads(sys.argv[2])
if earlier is None:
    names = [os.path.relpath(os.path.join(d, n), root)
             for d, _, files in os.walk(root) for n in files]
    earlier = {n: [os.path.getsize(os.path.join(root, n))] for n in names
               if n not in ("queries.active", "ballast")}
out = {}
for name, (size, *_) in sorted(earlier.items()):
    try:
        with open(os.path.join(root, name), "rb") as fh:
            out[name] = [size, hashlib.sha256(fh.read(size)).hexdigest()]
    except FileNotFoundError:
        out[name] = None
print(json.dumps(out))
"""


def tsdb_files(host, data_dir: str, earlier: dict | None = None) -> dict:
    """Each file of the TSDB -> [size, sha256]. Given an `earlier` listing, the sha256 of
    the first `size` bytes each of those files had then: Prometheus only appends to its
    WAL segments and head chunk files, and never rewrites a block, so bytes stored earlier
    must be unchanged (None: the file is gone). Left out: queries.active, the log of
    running queries that Prometheus rewrites in place (every query changes it)."""
    res = host.ssh(f"python3 -c {shlex.quote(TSDB_LISTING)} {shlex.quote(data_dir)} "
                   f"{shlex.quote(json.dumps(earlier))}")
    return json.loads(res.stdout)


def samples_until(prometheus, when: float) -> dict:
    """How many samples of `up` each target has in the 15 minutes before `when`."""
    return {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1]
            for r in prom_query(prometheus, f"count_over_time(up[15m] @ {when:.3f})")}


def test_a_full_prometheus_disk_stops_the_deploy_before_anything_changes_and_loses_nothing(
        lab):
    mon = lab["mon"]
    converge(lab)
    data_dir = "/var/lib/prometheus"   # prometheus_data_dir's default
    # The operator has moved the TSDB onto a volume of its own.
    mon.ssh(f"set -e; systemctl stop prometheus; mv {data_dir} {data_dir}.old; "
            f"mkdir {data_dir}; mount -t tmpfs -o size={TSDB_VOLUME},mode=0750 tsdb {data_dir}; "
            f"chown prometheus:prometheus {data_dir}; cp -a {data_dir}.old/. {data_dir}/; "
            f"rm -rf {data_dir}.old; systemctl start prometheus; "
            f"/usr/local/lib/monstack/wait-ready prometheus http://{mon.ip}:9090/-/ready")
    everything = {("node", f"{h.ip}:9100") for h in (mon, lab["n1"], lab["n2"])} | {
        ("prometheus", f"{mon.ip}:9090"), ("alertmanager", f"{mon.ip}:9093")}
    wait_targets_up(mon, everything)
    deadline = time.monotonic() + 60
    while set(stored := samples_until(mon, stored_at := time.time() - 1)) != everything:
        assert time.monotonic() < deadline, f"not every target has a sample yet: {stored}"
        time.sleep(2)
    # The volume fills up (here: a ballast file); Prometheus can no longer write its WAL.
    mon.ssh(f"dd if=/dev/zero of={data_dir}/ballast bs=1M", check=False)
    assert mon.ssh(f"df -k --output=avail {data_dir} | tail -n 1").stdout.strip() == "0"
    files_before = tsdb_files(mon, data_dir)
    assert any(name.startswith("wal/") for name in files_before), files_before
    pids_before = service_pids(mon, ["prometheus"])

    # A deploy of a change that would restart Prometheus is refused, naming the cause.
    edit_group_data(lab, prometheus_retention_time="15d")
    run = run_pyinfra(lab["inventory"])
    assert run.returncode != 0
    assert (f"prometheus_data_dir {data_dir} on {mon.ip} has 0 MiB free, need at least "
            in run.output), run.output[-3000:]
    assert "--> Beginning operation run" not in run.output   # refused while planning
    assert "Traceback" not in run.output
    assert service_pids(mon, ["prometheus"]) == pids_before
    assert tsdb_files(mon, data_dir, earlier=files_before) == files_before

    # Space is freed: the re-run converges, and what was stored before is all there.
    mon.ssh(f"rm {data_dir}/ballast")
    done = run_pyinfra(lab["inventory"]).check()
    assert done.changes["Prometheus | Restart prometheus and wait until ready"] == 1
    assert "--storage.tsdb.retention.time=15d" in mon.ssh("systemctl cat prometheus").stdout
    wait_targets_up(mon, everything)
    assert samples_until(mon, stored_at) == stored   # replayed from the WAL on the volume
    lab["converged"] = True


@pytest.fixture(scope="module")
def upgrade(lab, mirror, tmp_path_factory):
    """The operator asks for node_exporter's next release, which the mirror has: Debian's
    build with a few bytes appended (it still runs), so the upgrade really replaces the
    binary and restarts the service. Its file name is new, so it is not in the
    controller's artifact cache (keyed by file name): every deploy downloads it."""
    current = lab["settings"]["node_exporter_version"]
    version = re.sub(r"\d+$", lambda m: str(int(m.group()) + 1), current)
    tmp = tmp_path_factory.mktemp("next-release")
    members = _members_from_debian("node_exporter", "amd64", debian.NEWEST["node_exporter"])
    source, mode = members["node_exporter"]
    binary = tmp / "node_exporter"
    binary.write_bytes(source.read_bytes() + f"\nmonstack test build {version}\n".encode())
    members["node_exporter"] = (binary, mode)
    archive = build_archive("node_exporter", version, "amd64", members=members, out_dir=tmp)
    name = mirror.add(archive)
    checksums = {**lab["settings"]["artifact_checksums"], name: sha256(archive)}
    edit_group_data(lab, node_exporter_version=version, artifact_checksums=checksums)
    lab["converged"] = False
    return {"version": version, "name": name, "sha256": sha256(archive),
            "url": f"{mirror.base_url}/{name}", "binary_sha256": sha256(binary)}


def node_exporters(lab) -> dict:
    """Per host: the sha256 of the installed node_exporter and its service's PID."""
    return {h.name: (h.ssh("sha256sum /usr/local/bin/node_exporter").stdout.split()[0],
                     service_pids(h, ["node_exporter"]))
            for h in (lab["mon"], lab["n1"], lab["n2"])}


# (id, mirror fault, --data, what the error must say)
MIRROR_FAULTS = [
    ("truncated", "truncate", {}, ["could not download {url}", "truncated"]),
    ("checksum-mismatch", "corrupt", {},
     ["checksum mismatch for {name} from {url}: expected sha256 {sha256}, got "]),
    ("404", "404", {}, ["could not download {url}", "404"]),
    ("503", "503", {}, ["could not download {url}", "503"]),
    ("mirror-down", None, {"artifact_mirror": f"http://{CONTROLLER_IP}:9"},
     [f"could not download http://{CONTROLLER_IP}:9/{{name}}", "Connection refused"]),
]


@pytest.mark.parametrize("fault,data,expected", [f[1:] for f in MIRROR_FAULTS],
                         ids=[f[0] for f in MIRROR_FAULTS])
def test_a_broken_download_of_a_new_version_fails_clearly_and_the_old_one_keeps_running(
        lab, mirror, upgrade, fault, data, expected):
    before = node_exporters(lab)
    downloads = mirror.requests.count(upgrade["name"])
    if fault:
        mirror.faults[upgrade["name"]] = fault
    try:
        run = run_pyinfra(lab["inventory"], data=data)
    finally:
        mirror.faults.pop(upgrade["name"], None)
    assert run.returncode != 0
    for fragment in expected:
        fragment = fragment.format(**upgrade)
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-3000:]}"
    assert "Traceback" not in run.output
    assert "--> Beginning operation run" not in run.output  # failed while planning
    if fault:
        assert mirror.requests.count(upgrade["name"]) > downloads  # not from the cache
    # every host keeps its binary, and the very same process runs it
    assert node_exporters(lab) == before
    for h in (lab["mon"], lab["n1"], lab["n2"]):
        assert h.ssh(f"curl -fsS -o /dev/null http://{h.ip}:9100/metrics").returncode == 0
    # nothing half-downloaded stays in the controller's cache
    assert not list(lab["cache"].glob(f"{upgrade['name']}*"))


def test_once_the_mirror_is_fixed_a_rerun_installs_the_new_version(lab, upgrade):
    mon = lab["mon"]
    run = run_pyinfra(lab["inventory"]).check()
    assert run.changes[f"node_exporter | Install node_exporter {upgrade['version']} "
                       "from the release archive"] == 3
    assert run.changes["node_exporter | Restart node_exporter and wait until ready"] == 3
    assert {sha for sha, _ in node_exporters(lab).values()} == {upgrade["binary_sha256"]}
    wait_targets_up(mon, {("node", f"{h.ip}:9100") for h in (mon, lab["n1"], lab["n2"])})
    settled(lab)
