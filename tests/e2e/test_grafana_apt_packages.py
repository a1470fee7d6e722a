"""Loki and Alloy installed with their DEFAULT method, the package method: Grafana's packages
from Grafana's APT repository, on a Debian 12 host (mon: Prometheus, Alertmanager,
node_exporter, Loki, Alloy) and a Debian 13 host (web: node_exporter, Alloy).

THE REPOSITORY AND ITS PACKAGES ARE TEST DOUBLES (tests/harness/doubles/grafana_apt_repo.py):
a signed stable/main repository on the test mirror, its key given as grafana_apt_key_file,
holding debs laid out as Grafana's loki and alloy packages (paths, unit locations,
conffiles, Debian versions, maintainer-script effects) whose executables are the HTTP
readiness double. Prometheus, Alertmanager and node_exporter are Debian's real builds,
repacked as upstream archives (harness.stack.mirror_settings).

The operator's environment: the fleet hosts' apt goes through the caching proxy on the
bridge (harness.fleet, 01fleet-proxy); the repository is on the test mirror on that same
bridge, so each host gets `Acquire::http::Proxy::<mirror address> "DIRECT"` written by this
test (not by the deploy: how a host reaches a repository is the operator's apt setup).

First the OLDER releases are deployed (Loki 3.6.7, Alloy 1.17.0, pinned by the inventory
on every host: an operation named per host, e.g. after a version, shows under one of its
names, picked at random, in pyinfra's tables, so --dry and the run could not be compared
by name); then the inventory's pins are dropped and the release table's versions replace
the older packages as a planned change. Proven: --dry
exact both times, the installed package versions (dpkg-query) are the pinned deb_versions,
our units run /usr/bin/loki and /usr/bin/alloy, the loki package's unit is diverted,
services are ready and scraped, and a re-run changes and restarts nothing.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.doubles import grafana_apt_repo
from harness.fleet import CONTROLLER_IP
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, mirror_settings, prom_query,
                           wait_targets_up)
from harness.removal import inventory_with, switch_off_and_purge
from operations.base.grafana_repository import deb_version
from operations.stack import COMPONENTS, RELEASES

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2, suites=("bookworm", "trixie"))
RUNS = {"prometheus", "alertmanager", "node_exporter", "loki", "alloy"}
PINNED = {c: RELEASES[c]["version"] for c in ("loki", "alloy")}
OLDER = {"loki": "3.6.7", "alloy": "1.17.0"}   # both real earlier tags of upstream
PROXY_BYPASS = "/etc/apt/apt.conf.d/02test-mirror-direct"
UNITS = {"mon": ["loki", "alloy", "prometheus"], "web": ["alloy"]}


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, web = hosts
    settings = mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"])
    # the repository double, holding the older and the pinned release of each package
    settings.update(grafana_apt_repo.publish(
        mirror, tmp_path_factory.mktemp("grafana-apt"),
        versions={c: [OLDER[c], PINNED[c]] for c in PINNED}))
    settings["artifact_cache_dir"] = str(tmp_path_factory.mktemp("artifact-cache"))
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    assert settings["loki_install_method"] == settings["alloy_install_method"] == "package"
    for h in hosts:   # the operator's apt setup: the mirror is reached directly
        h.ssh(f"""printf 'Acquire::http::Proxy::{CONTROLLER_IP} "DIRECT";\\n' > {PROXY_BYPASS}""")
    groups = {"monitoring": [mon], "nodes": [web]}
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                groups, group_data={"all": settings})
    older = write_inventory(
        tmp_path_factory.mktemp("inventory-older") / "inventory.py", fleet, groups,
        group_data={"all": {**settings, **{f"{c}_version": v for c, v in OLDER.items()}}})
    return {"inventory": inventory, "older": older, "mon": mon, "web": web}


@pytest.fixture(scope="module")
def older_runs(stack):
    """The first deploy: Loki and Alloy at their older releases."""
    return preview_then_run(stack["older"])


@pytest.fixture(scope="module")
def pinned_runs(stack, older_runs):
    """The deploy of the release table's versions over the older ones."""
    return preview_then_run(stack["inventory"])


def installed_version(host, package: str) -> str:
    return host.ssh(f"dpkg-query -W -f='${{Version}}' {package}").stdout.strip()


def assert_installed_and_restarted(stack, real, versions: dict[str, str]):
    """The run installed the loki (mon) and alloy (mon, web) packages of these upstream
    `versions` and restarted both, and dpkg-query shows their Debian versions."""
    alloy = deb_version("alloy", versions["alloy"])
    assert real.changes[f"Loki | Install the loki package {versions['loki']}"] == 1
    assert real.changes[f"Alloy | Install the alloy package {alloy}"] == 2
    assert real.changes["Loki | Restart loki and wait until ready"] == 1
    assert real.changes["Alloy | Restart alloy and wait until ready"] == 2
    for host, packages in ((stack["mon"], ("loki", "alloy")), (stack["web"], ("alloy",))):
        for package in packages:
            assert installed_version(host, package) == deb_version(package, versions[package]), \
                (host.suite, package)


def test_the_first_install_from_the_repository_was_previewed_exactly(stack, older_runs):
    dry, real = older_runs
    assert_preview_was_exact(dry, real)
    assert_installed_and_restarted(stack, real, OLDER)
    unit = "/etc/systemd/system/loki.service"
    assert real.changes[f"Loki | Divert the loki package's unit file (ours is {unit})"] == 1
    assert sum(n for op, n in real.changes.items()
               if op.endswith("| Add Grafana's APT repository")) == 2
    assert real.changes["Alloy | Write config.alloy (checked by alloy validate)"] == 2


def test_the_older_packages_are_replaced_by_the_pinned_ones_as_planned(stack, pinned_runs):
    dry, real = pinned_runs
    assert_preview_was_exact(dry, real)
    assert_installed_and_restarted(stack, real, PINNED)
    # the alloy postinst set /etc/alloy to 0770 again: planned back to 0750
    assert real.changes["Alloy | Create the alloy folders"] == 2
    for host in (stack["mon"], stack["web"]):
        assert host.ssh("stat -c '%a %U:%G' /etc/alloy").stdout.strip() == "750 root:alloy"


def test_our_units_run_the_packages_binaries_as_the_pinned_doubles(stack, pinned_runs):
    mon, web = stack["mon"], stack["web"]
    for host, program in ((mon, "loki"), (mon, "alloy"), (web, "alloy")):
        assert host.ssh(f"systemctl show -p FragmentPath --value {program}").stdout.strip() \
            == f"/etc/systemd/system/{program}.service", (host.suite, program)
        pid = host.ssh(f"systemctl show -p MainPID --value {program}").stdout.strip()
        cmdline = host.ssh(f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
        # the launcher execs python3 on /usr/bin/<program> itself
        assert f" /usr/bin/{program} " in cmdline, (host.suite, cmdline)
        assert host.ssh(f"/usr/bin/{program} {'-version' if program == 'loki' else '--version'}"
                        ).stdout.strip().endswith(f"standing in for {program} version "
                                                  f"{PINNED[program]}")


def test_the_loki_package_unit_is_diverted_and_never_runs(stack, pinned_runs):
    mon = stack["mon"]
    unit = "/etc/systemd/system/loki.service"
    assert mon.ssh(f"dpkg-divert --listpackage {unit}").stdout.strip() == "monstack"
    packaged = mon.ssh(f"cat {unit}.monstack-packaged").stdout
    assert "ExecStart=/usr/bin/loki -config.file /etc/loki/config.yml" in packaged
    assert "/etc/loki/config.yml" not in mon.ssh(f"cat {unit}").stdout   # ours
    assert "config.yml" not in mon.ssh("ps -eo args").stdout


def test_the_alloy_package_put_alloy_in_the_log_groups(stack, pinned_runs):
    for host in (stack["mon"], stack["web"]):
        groups = set(host.ssh("id -nG alloy").stdout.split())
        assert {"adm", "systemd-journal"} <= groups, (host.suite, groups)


def test_services_are_ready_and_scraped(stack, pinned_runs):
    mon, web = stack["mon"], stack["web"]
    for host, units in UNITS.items():
        for unit in units:
            assert stack[host].ssh(f"systemctl is-active {unit}").stdout.strip() == "active"
    expected = {("loki", f"{mon.ip}:3100"), ("prometheus", f"{mon.ip}:9090"),
                ("alertmanager", f"{mon.ip}:9093")}
    expected |= {("alloy", f"{h.ip}:12345") for h in (mon, web)}
    expected |= {("node", f"{h.ip}:9100") for h in (mon, web)}
    seen = wait_targets_up(mon, expected)
    assert set(seen) == expected, set(seen) - expected
    assert sorted(r["metric"]["job"] for r in prom_query(mon, "monstack_test_double_info")) \
        == ["alloy", "alloy", "loki"]


def test_a_rerun_changes_and_restarts_nothing(stack, pinned_runs):
    mon, web = stack["mon"], stack["web"]
    dry = run_pyinfra(stack["inventory"], dry=True).check()
    assert dry.changed_ops() == {}, dry.changes
    assert_rerun_changes_nothing(lambda: run_pyinfra(stack["inventory"]),
                                 [(mon, UNITS["mon"]), (web, UNITS["web"])])


def test_switching_everything_off_removes_it_cleanly(stack, pinned_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    # Loki and Alloy by the package method: their packages go, Loki's unit diversion too
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack["mon"], sorted(RUNS)),
                          (stack["web"], ["node_exporter", "alloy"])])
