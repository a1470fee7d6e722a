"""A homelab with a Raspberry Pi-class arm64 board, scraped by an x86 monitoring host.

The arm64 host is emulated (qemu-user-static through binfmt_misc): the deploy reaches it
over SSH like any other host, reads its architecture, and installs arm64 builds: first
Debian's arm64 package, then the upstream-shaped arm64 archive (repacked from Debian's
arm64 build) after the operator switches the install method.
"""

import pytest

from conftest import arm64_unavailable, hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import CORE_ONLY, mirror_settings, prom_query, wait_targets_up

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(arm64_unavailable() is not None,
                                 reason=str(arm64_unavailable()))]

x86_hosts = hosts_fixture(1)
arm_hosts = hosts_fixture(1, arch="arm64")


@pytest.fixture(scope="module")
def lab(x86_hosts, arm_hosts, fleet, mirror, tmp_path_factory):
    (monitoring,), (pi,) = x86_hosts, arm_hosts
    settings = mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"])
    settings.update(mirror_settings(mirror, ["node_exporter"], deb_arch="arm64"))
    settings["artifact_checksums"] = mirror.checksums()
    settings["artifact_cache_dir"] = str(tmp_path_factory.mktemp("artifact-cache"))
    settings.update(CORE_ONLY)
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [monitoring], "pis": [pi]}, group_data={"all": settings},
        host_data={pi.ip: {"node_exporter_install_method": "package"}})
    return {"inventory": inventory, "monitoring": monitoring, "pi": pi,
            "node_exporter_version": settings["node_exporter_version"]}


def machine_of(mon, pi) -> str:
    (series,) = prom_query(mon, f'node_uname_info{{instance="{pi.ip}:9100"}}')
    return series["metric"]["machine"]


def test_debians_arm64_package_serves_metrics_to_the_x86_prometheus(lab):
    mon, pi = lab["monitoring"], lab["pi"]
    assert_preview_was_exact(*preview_then_run(lab["inventory"]))
    assert pi.ssh("dpkg --print-architecture").stdout.strip() == "arm64"
    assert pi.ssh("dpkg -l prometheus-node-exporter | tail -1").stdout.split()[3] == "arm64"
    wait_targets_up(mon, {("node", f"{pi.ip}:9100"), ("node", f"{mon.ip}:9100")})
    assert machine_of(mon, pi) == "aarch64"
    again = run_pyinfra(lab["inventory"]).check()
    assert again.changed_ops() == {}


def test_switching_the_pi_to_the_archive_installs_the_arm64_build(lab):
    mon, pi = lab["monitoring"], lab["pi"]
    run = run_pyinfra(lab["inventory"], data={"node_exporter_install_method": "archive"}).check()
    assert run.changed_ops().get(
        f"node_exporter | Install node_exporter {lab['node_exporter_version']} "
        "from the release archive") == 1
    # ELF e_machine 0xb7 = AArch64
    assert pi.ssh("od -An -tx1 -j18 -N2 /usr/local/bin/node_exporter").stdout.split() == \
        ["b7", "00"]
    assert "/usr/local/bin/node_exporter" in pi.ssh("systemctl cat node_exporter").stdout
    wait_targets_up(mon, {("node", f"{pi.ip}:9100")})
    assert machine_of(mon, pi) == "aarch64"
