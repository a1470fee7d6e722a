"""An operator adds the log pipeline and container metrics: Loki on the monitoring host,
the Alloy log shipper on every host, cAdvisor on the host of the docker group.

LOKI AND ALLOY ARE TEST DOUBLES IN THIS TEST. Their release files on the mirror are named
and shaped as upstream publishes them (loki-linux-amd64.zip holding loki-linux-amd64,
alloy-linux-amd64.zip holding alloy-linux-amd64), with their sha256s given as
artifact_checksums, but the executable in each is
tests/harness/doubles/http_readiness_double.py behind a shell launcher
(tests/harness/doubles/__init__.py). They are published at the versions the release table
pins (loki_version, alloy_version), so the deploy takes the code paths of those versions:
Alloy's config is checked by `alloy validate`, as it is from 1.9.0 on. The double takes
the real command-line flags, refuses unknown ones, answers the readiness path and
/metrics, writes where the real program writes, and for `loki -verify-config` /
`alloy validate` checks the config's YAML / brackets only. No log is stored or shipped
here.

cAdvisor is real: Debian's build of 0.38.7 (bullseye, the newest the mirror has), published
under upstream's raw-binary asset name cadvisor-v0.38.7-linux-amd64. The docker host runs
real containers before the deploy, as an operator's would: containerd and runc from its own
Debian release (tests/harness/containers.py says what differs inside a fleet host), one
container at 60 MiB of its 64 MiB memory limit, with a network link, and one that the test
restarts like a crash loop; cAdvisor measures them and the host's own services.

What is tested is the deploy: the archive installs, the hardened units (users, groups,
capabilities, writable folders), the rendered configs in place with their permissions,
readiness, Prometheus (real: Debian's build repacked like upstream, as in
test_core_stack_archive.py) scraping loki, alloy and cadvisor and loading the loki and
containers rule sets, --dry equal to the real run, a second run that changes nothing,
a config change of Alloy that reloads it, a Loki zip without a checksum refused
before any host is touched, and the container alert rules and dashboard on the real
containers' series.
"""

import json

import pytest

from conftest import hosts_fixture, write_inventory
from harness import doubles
from harness.containers import ContainerRuntime, container_id
from harness.dashboards import queries, substitute
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (http_json, mirror_settings, prom_query, service_pids, wait_for,
                           wait_targets_up)
from harness.removal import inventory_with, switch_off_and_purge
from operations.stack import COMPONENTS, RELEASES

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3, suites=("bookworm", "trixie"))  # web runs Debian 13
RUNS = {"prometheus", "alertmanager", "node_exporter", "loki", "alloy", "cadvisor"}
UNITS = {"mon": ["prometheus", "alertmanager", "node_exporter", "loki", "alloy"],
         "web": ["node_exporter", "alloy"],
         "docker1": ["node_exporter", "alloy", "cadvisor"]}
MEMORY_HOG, CRASH_LOOP = "memory-hog", "crash-loop"


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, web, docker1 = hosts
    # Prometheus, Alertmanager, node_exporter: Debian's real builds, repacked
    settings = mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"])
    # Loki, Alloy: TEST DOUBLES in upstream-shaped release files
    published = doubles.publish(mirror, tmp_path_factory.mktemp("doubles"), ("loki", "alloy"))
    settings["artifact_checksums"].update(published.pop("artifact_checksums"))
    settings.update(published)
    # cAdvisor: Debian's real build, as upstream's bare executable
    real_cadvisor = mirror_settings(mirror, ["cadvisor"])
    settings["artifact_checksums"].update(real_cadvisor.pop("artifact_checksums"))
    settings.update(real_cadvisor)
    settings["artifact_cache_dir"] = str(tmp_path_factory.mktemp("artifact-cache"))
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    # each restart of the crash loop seen by a scrape within seconds
    settings.update({"prometheus_scrape_interval": "5s", "prometheus_scrape_timeout": "4s",
                     "prometheus_evaluation_interval": "5s",
                     "cadvisor_housekeeping_interval": "5s"})
    # the containers the docker host already runs
    runtime = ContainerRuntime(docker1, tmp_path_factory.mktemp("containers")).install()
    runtime.run(MEMORY_HOG, "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 && "
                "exec sleep infinity", memory_limit=64 * 2**20, network=True)
    runtime.run(CRASH_LOOP, "exec sleep infinity")
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [mon], "nodes": [web], "docker": [docker1]},
        group_data={"all": settings})
    return {"inventory": inventory, "settings": settings, "containers": runtime,
            "hosts": {"mon": mon, "web": web, "docker1": docker1}}


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes["Loki | Restart loki and wait until ready"] == 1
    assert real.changes["Alloy | Restart alloy and wait until ready"] == 3
    assert real.changes["cAdvisor | Restart cadvisor and wait until ready"] == 1
    assert real.changes["Loki | Write loki.yaml (checked by loki -verify-config)"] == 1
    assert real.changes["Alloy | Write config.alloy (checked by alloy validate)"] == 3


def test_loki_and_alloy_are_the_doubles_and_cadvisor_is_real(stack, first_runs):
    h = stack["hosts"]
    loki_version = stack["settings"]["loki_version"]
    alloy_version = stack["settings"]["alloy_version"]
    # published at the pinned versions, and still saying they are doubles
    assert (loki_version, alloy_version) == (RELEASES["loki"]["version"],
                                             RELEASES["alloy"]["version"])
    assert h["mon"].ssh("/usr/local/bin/loki -version").stdout.strip() == \
        f"loki TEST DOUBLE (NOT Loki), standing in for loki version {loki_version}"
    assert h["web"].ssh("/usr/local/bin/alloy --version").stdout.strip() == \
        f"alloy TEST DOUBLE (NOT Alloy), standing in for alloy version {alloy_version}"
    head = h["web"].ssh("head -c 200 /usr/local/bin/alloy").stdout
    assert "ALLOY TEST DOUBLE" in head
    version = h["docker1"].ssh("/usr/local/bin/cadvisor --version").stdout
    assert f"cAdvisor version {stack['settings']['cadvisor_version']}" in version


def test_services_run_and_answer_their_readiness_paths(stack, first_runs):
    h = stack["hosts"]
    for role, units in UNITS.items():
        for unit in units:
            assert h[role].ssh(f"systemctl is-active {unit}").stdout.strip() == "active", \
                (role, unit)
    # Loki listens everywhere; cAdvisor and Alloy only where Prometheus scrapes them
    for host, address, port, path in (
            (h["mon"], "127.0.0.1", 3100, "/ready"),
            (h["docker1"], h["docker1"].ip, 8080, "/healthz"),
            *((x, x.ip, 12345, "/-/ready") for x in h.values())):
        assert host.ssh(f"curl -fsS http://{address}:{port}{path}").returncode == 0, \
            (host.ip, port, path)


def test_prometheus_scrapes_loki_alloy_and_cadvisor(stack, first_runs):
    h = stack["hosts"]
    mon = h["mon"]
    expected = {("loki", f"{mon.ip}:3100"), ("cadvisor", f"{h['docker1'].ip}:8080"),
                ("prometheus", f"{mon.ip}:9090"), ("alertmanager", f"{mon.ip}:9093")}
    expected |= {("alloy", f"{x.ip}:12345") for x in h.values()}
    expected |= {("node", f"{x.ip}:9100") for x in h.values()}
    seen = wait_targets_up(mon, expected)
    assert set(seen) == expected, f"unexpected targets: {set(seen) - expected}"
    # the targets are labelled with their inventory names
    assert seen[("cadvisor", f"{h['docker1'].ip}:8080")]["labels"]["host"] == h["docker1"].ip
    doubles_seen = prom_query(mon, "monstack_test_double_info")
    assert sorted(r["metric"]["job"] for r in doubles_seen) == [
        "alloy", "alloy", "alloy", "loki"]
    info = prom_query(mon, 'cadvisor_version_info{job="cadvisor"}')
    # Debian's build says "0.38.7+ds1", upstream's "v0.38.7"
    assert [r["metric"]["cadvisorVersion"].lstrip("v").split("+")[0] for r in info] == [
        stack["settings"]["cadvisor_version"]], info
    groups = http_json(f"http://{mon.ip}:9090/api/v1/rules")["data"]["groups"]
    by_name = {g["name"]: g for g in groups}
    assert {"loki.rules", "containers.rules"} <= set(by_name)
    for name in ("loki.rules", "containers.rules"):
        assert all(r.get("health") == "ok" for r in by_name[name]["rules"]), by_name[name]


def test_units_users_groups_and_files(stack, first_runs):
    h = stack["hosts"]
    mon, web, docker1 = h["mon"], h["web"], h["docker1"]

    def unit_lines(host, unit):
        return host.ssh(f"systemctl cat {unit}").stdout.splitlines()

    def process_user(host, unit):
        pid = host.ssh(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        return host.ssh(f"ps -o user= -p {pid}").stdout.strip(), pid

    # Loki: its own user, writes only its data folder (where the double left its mark)
    lines = unit_lines(mon, "loki")
    for line in ("User=loki", "ProtectSystem=strict", "ReadWritePaths=/var/lib/loki",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet="):
        assert line in lines, line
    assert process_user(mon, "loki")[0] == "loki"
    assert mon.ssh("stat -c '%a %U:%G' /etc/loki/loki.yaml").stdout.strip() == "640 root:loki"
    assert mon.ssh("stat -c '%U' /var/lib/loki/monstack-test-double").stdout.strip() == "loki"
    config = mon.ssh("cat /etc/loki/loki.yaml").stdout
    assert "retention_enabled: true" in config and "schema: v13" in config

    # Alloy: user alloy in the log-reading groups, shipping to the Loki host
    lines = unit_lines(web, "alloy")
    for line in ("User=alloy", "SupplementaryGroups=systemd-journal adm",
                 "ReadWritePaths=/var/lib/alloy", "ProtectSystem=strict",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in lines, line
    user, pid = process_user(web, "alloy")
    assert user == "alloy"
    groups = web.ssh(f"ps -o supgrp= -p {pid}").stdout.strip().split(",")
    assert {"systemd-journal", "adm"} <= set(groups), groups
    assert web.ssh("stat -c '%a %U:%G' /etc/alloy/config.alloy").stdout.strip() == \
        "640 root:alloy"
    config = web.ssh("cat /etc/alloy/config.alloy").stdout
    assert f'url = "http://{mon.ip}:3100/loki/api/v1/push"' in config
    assert f'external_labels = {{host = "{web.ip}"}}' in config
    assert "loki.source.journal" in config and "discovery.docker" not in config  # no Docker

    # cAdvisor: root, with only the two capabilities to read
    lines = unit_lines(docker1, "cadvisor")
    for line in ("User=root", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
                 "ProtectSystem=strict", "ProtectProc=default", "NoNewPrivileges=yes"):
        assert line in lines, line
    assert process_user(docker1, "cadvisor")[0] == "root"
    assert docker1.ssh("getent passwd cadvisor", check=False).returncode != 0  # no own user
    assert mon.ssh("systemctl cat cadvisor", check=False).returncode != 0     # docker group only


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    h = stack["hosts"]
    before = {role: service_pids(h[role], units) for role, units in UNITS.items()}
    dry = run_pyinfra(stack["inventory"], dry=True).check()
    again = run_pyinfra(stack["inventory"]).check()
    assert dry.changed_ops() == {} and again.changed_ops() == {}, (dry.changes, again.changes)
    after = {role: service_pids(h[role], units) for role, units in UNITS.items()}
    assert after == before


def test_a_loki_zip_without_checksum_is_refused_before_any_host_changes(stack, first_runs,
                                                                      tmp_path):
    checksums = {n: s for n, s in stack["settings"]["artifact_checksums"].items()
                 if not n.startswith("loki-")}
    run = run_pyinfra(stack["inventory"],
                      data={"artifact_checksums": json.dumps(checksums),
                            "artifact_cache_dir": str(tmp_path / "cache")})
    assert run.returncode != 0
    assert "no sha256 is pinned for any loki release" in run.output
    assert "artifact_checksums" in run.output
    assert "--> Beginning operation run" not in run.output   # failed while planning
    assert run.changes == {}


def test_an_alloy_config_change_reloads_alloy_without_a_restart(stack, first_runs):
    h = stack["hosts"]
    before = {role: service_pids(h[role], ["alloy"]) for role in UNITS}
    more = json.dumps(["/var/log/*.log", "/var/log/apt/*.log"])
    changed = run_pyinfra(stack["inventory"], data={"alloy_log_paths": more}).check()
    assert changed.changes["Alloy | Write config.alloy (checked by alloy validate)"] == 3
    assert changed.changes["Alloy | Reload alloy and wait until ready"] == 3
    assert not any("Restart" in op for op in changed.changed_ops()), changed.changed_ops()
    assert '"/var/log/apt/*.log"' in h["web"].ssh("cat /etc/alloy/config.alloy").stdout
    assert {role: service_pids(h[role], ["alloy"]) for role in UNITS} == before
    # and back to the inventory's settings
    back = run_pyinfra(stack["inventory"]).check()
    assert back.changes["Alloy | Reload alloy and wait until ready"] == 3


def test_the_containers_dashboard_runs_on_real_cadvisor_series(stack, first_runs):
    """Every panel query of the containers dashboard, with its variables on "All", is
    accepted by the real Prometheus and answered from real cAdvisor's series of the real
    containers (a metric or label that cAdvisor 0.38.7 does not have would leave its panel
    empty)."""
    mon = stack["hosts"]["mon"]

    def empty_queries() -> list[str]:
        return sorted(where for uid, where, expr, model in queries("prometheus")
                      if uid == "monstack-containers"
                      and not prom_query(mon, substitute(expr, model, all_values=True)))

    # rates need two samples that cAdvisor's housekeeping has moved on
    try:
        wait_for("every containers panel answered", lambda: (
            empty_queries() == []), timeout=180, interval=5)
    except AssertionError:
        raise AssertionError(f"queries without data: {empty_queries()}") from None


def alerts(mon, alertname: str, state: str) -> set[str]:
    """The containers (`name`) for which `alertname` is in `state`."""
    return {r["metric"].get("name", "") for r in prom_query(
        mon, f'ALERTS{{alertname="{alertname}", alertstate="{state}"}}')}


def test_the_container_alert_rules_fire_on_the_real_containers(stack, first_runs):
    """A container restarted three times in a row is reported restarting; the one at 60
    of its 64 MiB is near its memory limit (pending: the rule waits 5 minutes before it
    fires); neither rule names the other container nor a systemd service."""
    mon, runtime = stack["hosts"]["mon"], stack["containers"]
    hog, loop = container_id(MEMORY_HOG), container_id(CRASH_LOOP)

    def start_time() -> list[str]:
        return [r["value"][1] for r in prom_query(
            mon, f'container_start_time_seconds{{job="cadvisor", name="{loop}"}}')]

    seen = wait_for("the crash loop's start time scraped", start_time)
    for _ in range(3):
        runtime.restart(CRASH_LOOP)
        seen = wait_for("the restart scraped", lambda: (
            start_time() if start_time() not in ([], seen) else None), timeout=60)
    assert wait_for("ContainerRestarting firing", lambda: alerts(
        mon, "ContainerRestarting", "firing"), timeout=60) == {loop}
    assert wait_for("ContainerNearMemoryLimit pending", lambda: alerts(
        mon, "ContainerNearMemoryLimit", "pending"), timeout=60) == {hog}
    usage = prom_query(mon, f'container_memory_working_set_bytes{{name="{hog}"}}'
                            f' / container_spec_memory_limit_bytes{{name="{hog}"}}')
    assert 0.9 < float(usage[0]["value"][1]) <= 1, usage


def test_switching_everything_off_removes_it_cleanly(stack, first_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack["hosts"][role], names) for role, names in UNITS.items()])
