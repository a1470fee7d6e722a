"""An operator stops running some components: exporters switched off on the hosts that ran
them, one of them installed by the package method, then the data of one purged.

Hosts: `mon` (the monitoring host: Prometheus, node_exporter, pushgateway and
blackbox_exporter) and `node` (node_exporter from Debian's package, process_exporter),
Debian 12. Archive installs are Debian's real builds repacked on the test mirror; the
package method installs the host's own prometheus-node-exporter with apt.

The story: everything runs and is scraped. Then pushgateway and blackbox_exporter are
disabled on `mon`, node_exporter and process_exporter on `node`: `--dry` lists each
removal and the run does exactly that; their units, programs (and program stamps),
configs and the node_exporter package are gone, the packaged unit is unmasked, data and
service users are kept; Prometheus has none of their targets any more; the next `--dry`
and run change nothing. Then `pushgateway_purge_data = True`: its data folder and service
user go, exactly as `--dry` said, and a further run changes nothing.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, mirror_settings, targets,
                           wait_for, wait_targets_up)
from operations.base.facts import program_stamp
from operations.stack import COMPONENTS

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2)
ARCHIVES = ["prometheus", "node_exporter", "process_exporter", "pushgateway",
            "blackbox_exporter"]
RUNS = {"prometheus", "node_exporter", "process_exporter", "pushgateway", "blackbox_exporter"}
GROUPS = [{"name": "sshd", "comm": ["sshd"]}]
REMOVED = {"mon": ["pushgateway", "blackbox_exporter"],
           "node": ["node_exporter", "process_exporter"]}
CONFIGS = {"pushgateway": "/etc/pushgateway", "blackbox_exporter": "/etc/blackbox_exporter",
           "process_exporter": "/etc/process_exporter", "node_exporter": "/etc/node_exporter"}


def inventory(stack, tmp_path_factory, mon_data=None, node_data=None):
    """The operator's inventory, written again with `mon_data` / `node_data` for each
    host (what they would edit in host_data)."""
    mon, node = stack["hosts"]["mon"], stack["hosts"]["node"]
    return write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", stack["fleet"],
        {"monitoring": [mon], "nodes": [node]}, group_data={"all": stack["settings"]},
        host_data={mon.ip: mon_data or {},
                   node.ip: {"node_exporter_install_method": "package",
                             "process_exporter_enabled": True, **(node_data or {})}})


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, node = hosts
    settings = mirror_settings(mirror, ARCHIVES)
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    settings.update({
        "pushgateway_enabled": True, "blackbox_exporter_enabled": True,
        "process_exporter_enabled": False, "process_exporter_names": GROUPS,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "prometheus_scrape_interval": "5s", "prometheus_scrape_timeout": "4s",
    })
    stack = {"settings": settings, "fleet": fleet, "hosts": {"mon": mon, "node": node}}
    stack["inventory"] = inventory(stack, tmp_path_factory)
    return stack


@pytest.fixture(scope="module")
def first_runs(stack):
    return preview_then_run(stack["inventory"])


def jobs_of(mon) -> set[tuple[str, str]]:
    return {(t["labels"]["job"], t["labels"]["instance"]) for t in targets(mon)}


def test_everything_runs_and_is_scraped_first(stack, first_runs):
    assert_preview_was_exact(*first_runs)
    mon, node = stack["hosts"]["mon"], stack["hosts"]["node"]
    wait_targets_up(mon, {("prometheus", f"{mon.ip}:9090"), ("node", f"{mon.ip}:9100"),
                          ("pushgateway", f"{mon.ip}:9091"),
                          ("blackbox_exporter", f"{mon.ip}:9115"), ("node", f"{node.ip}:9100"),
                          ("process", f"{node.ip}:9256")})
    # node_exporter from Debian's package, its own unit masked; ours runs it
    assert node.ssh("dpkg-query -W -f='${Status}' prometheus-node-exporter").stdout.endswith(
        " installed")
    assert node.ssh("readlink /etc/systemd/system/prometheus-node-exporter.service"
                    ).stdout.strip() == "/dev/null"
    assert mon.ssh("test -d /var/lib/pushgateway", check=False).returncode == 0


@pytest.fixture(scope="module")
def disabled(stack, first_runs, tmp_path_factory):
    """The operator switches them off and runs --dry, then the deploy."""
    stack["inventory"] = inventory(
        stack, tmp_path_factory,
        mon_data={"pushgateway_enabled": False, "blackbox_exporter_enabled": False},
        node_data={"node_exporter_enabled": False, "process_exporter_enabled": False})
    return preview_then_run(stack["inventory"])


def test_dry_lists_each_removal_and_equals_the_run(stack, disabled):
    dry, real = disabled
    assert_preview_was_exact(dry, real)
    changed = real.changed_ops()
    for role, names in REMOVED.items():
        for name in names:
            stop = f"Remove {name} (disabled here): stop, disable, unit, programs"
            assert any(op.endswith(stop) for op in changed), (stop, changed)
            assert any(op.endswith(f"Remove {name}'s config and started stamp (disabled here)")
                       for op in changed), (name, changed)
    assert any(op.endswith("Remove node_exporter's package (disabled here)") for op in changed)
    # no data removed without purge_data
    assert not any("data and service user" in op for op in changed), changed
    # node_exporter still runs on mon: nothing of it changed there (one host each)
    stop_node = [n for op, n in changed.items()
                 if op.endswith("Remove node_exporter (disabled here): stop, disable, unit, "
                                "programs")]
    assert stop_node == [1]


def test_units_programs_and_configs_are_gone_data_and_users_kept(stack, disabled):
    h = stack["hosts"]
    for role, names in REMOVED.items():
        x = h[role]
        for name in names:
            unit = f"/etc/systemd/system/{name}.service"
            assert x.ssh(f"test ! -e {unit}", check=False).returncode == 0, (role, unit)
            state = x.ssh(f"systemctl is-active {name}.service", check=False).stdout.strip()
            assert state in ("inactive", "unknown"), (role, name, state)
            binary = f"/usr/local/bin/{name}"
            assert x.ssh(f"test ! -e {binary} && test ! -e '{program_stamp(binary)}'",
                         check=False).returncode == 0, (role, binary)
            assert x.ssh(f"test ! -e {CONFIGS[name]}", check=False).returncode == 0, \
                (role, CONFIGS[name])
            assert x.ssh(f"test ! -e /var/lib/monstack/started/{name}.service",
                         check=False).returncode == 0
            assert x.ssh(f"getent passwd {name}", check=False).returncode == 0, (role, name)
    mon, node = h["mon"], h["node"]
    assert mon.ssh("test -d /var/lib/pushgateway", check=False).returncode == 0
    # the package is removed, its unit unmasked
    status = node.ssh("dpkg-query -W -f='${Status}' prometheus-node-exporter",
                      check=False).stdout
    assert not status.endswith(" installed"), status
    assert node.ssh("test ! -L /etc/systemd/system/prometheus-node-exporter.service",
                    check=False).returncode == 0
    # mon's node_exporter was not touched
    assert mon.ssh("systemctl is-active node_exporter").stdout.strip() == "active"


def test_prometheus_no_longer_has_their_targets(stack, disabled):
    mon, node = stack["hosts"]["mon"], stack["hosts"]["node"]
    gone = {("pushgateway", f"{mon.ip}:9091"), ("blackbox_exporter", f"{mon.ip}:9115"),
            ("node", f"{node.ip}:9100"), ("process", f"{node.ip}:9256")}
    wait_for("their targets dropped", lambda: not (jobs_of(mon) & gone))
    assert {("node", f"{mon.ip}:9100"), ("prometheus", f"{mon.ip}:9090")} <= jobs_of(mon)


def test_the_next_dry_and_run_change_nothing(stack, disabled):
    mon = stack["hosts"]["mon"]
    assert run_pyinfra(stack["inventory"], dry=True).check().changed_ops() == {}
    assert_rerun_changes_nothing(lambda: run_pyinfra(stack["inventory"]),
                                 [(mon, ["prometheus", "node_exporter"])])


def test_purge_removes_the_data_and_the_user(stack, disabled, tmp_path_factory):
    mon = stack["hosts"]["mon"]
    stack["inventory"] = inventory(
        stack, tmp_path_factory,
        mon_data={"pushgateway_enabled": False, "blackbox_exporter_enabled": False,
                  "pushgateway_purge_data": True, "blackbox_exporter_purge_data": True},
        node_data={"node_exporter_enabled": False, "process_exporter_enabled": False})
    dry, real = preview_then_run(stack["inventory"])
    assert_preview_was_exact(dry, real)
    changed = {op.split(" | ")[-1]: n for op, n in real.changed_ops().items()}
    assert changed == {
        "Remove pushgateway's data and service user (disabled here, pushgateway_purge_data)": 1,
        "Remove blackbox_exporter's data and service user (disabled here, "
        "blackbox_exporter_purge_data)": 1}, changed
    assert mon.ssh("test ! -e /var/lib/pushgateway", check=False).returncode == 0
    for name in ("pushgateway", "blackbox_exporter"):
        assert mon.ssh(f"getent passwd {name}", check=False).returncode != 0, name
        assert mon.ssh(f"getent group {name}", check=False).returncode != 0, name
    assert run_pyinfra(stack["inventory"]).check().changed_ops() == {}
