"""An operator turns on the two opt-in host exporters on every host: process_exporter with
named process groups (sshd and cron) and systemd_exporter (unit states and restarts).

Hosts: `mon`, Debian 12, the monitoring host; `node`, Debian 13. Both exporters are
Debian's real builds from sid (process-exporter 0.8.7, systemd_exporter 0.7.0, the only
build of it), repacked as upstream's archives on the test mirror with their sha256s given
as artifact_checksums (systemd_exporter pins none: an operator gives it the same way).
cron is installed on both hosts first, as an operator's host has it. On `node`, a
transient unit fails on purpose (`systemd-run /bin/false`) and another is restarted by
systemd every few seconds, so the failed-unit and restart metrics have something to show.

What is tested: --dry lists exactly what the first run does; every target is up; the named
groups are reported with their group names on both hosts, counted by an exporter that runs
as its own user; systemd_exporter reads the units over the system D-Bus from its sandbox
(units seen on both hosts, the failed one failed, the restarts counted); the rule sets
load; the units run as their own users, listening only where Prometheus scrapes; the
package method of systemd_exporter is refused on Debian 12 and 13 with one error naming
the cause; a second run changes and restarts nothing.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.dashboards import queries, substitute
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, exposure_level, http_json,
                           mirror_settings, prom_query, wait_for, wait_targets_up)
from harness.removal import inventory_with, switch_off_and_purge
from operations.stack import COMPONENTS

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2, suites=("bookworm", "trixie"))   # node runs Debian 13
RUNS = {"prometheus", "alertmanager", "node_exporter", "process_exporter", "systemd_exporter"}
UNITS = {"mon": ["prometheus", "alertmanager", "node_exporter", "process_exporter",
                 "systemd_exporter"],
         "node": ["node_exporter", "process_exporter", "systemd_exporter"]}
GROUPS = [{"name": "sshd", "comm": ["sshd"]}, {"name": "cron", "comm": ["cron"]}]
FAILED_UNIT = "monstack-e2e-fails.service"
FLAPPING_UNIT = "monstack-e2e-flaps.service"


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, node = hosts
    for h in hosts:
        h.ssh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
              "cron >/dev/null && systemctl is-active cron", timeout=600)
    # a unit that failed, and one that systemd keeps restarting (3 s a cycle: under the
    # default start limit of 5 starts in 10 s)
    node.ssh(f"systemd-run --unit={FAILED_UNIT} /bin/false; sleep 2; "
             f"systemctl is-failed {FAILED_UNIT}")
    node.ssh(f"systemd-run --unit={FLAPPING_UNIT} -p Restart=always -p RestartSec=1 "
             "/bin/sh -c 'sleep 2; exit 1'")
    # Debian's real builds (sid's), repacked like upstream's archives
    settings = mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter",
                                        "process_exporter", "systemd_exporter"])
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    settings.update({
        "process_exporter_enabled": True, "systemd_exporter_enabled": True,
        "process_exporter_names": GROUPS,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "prometheus_scrape_interval": "5s", "prometheus_scrape_timeout": "4s",
    })
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [mon], "nodes": [node]}, group_data={"all": settings})
    return {"inventory": inventory, "settings": settings, "hosts": {"mon": mon, "node": node}}


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes["process_exporter | Restart process_exporter and wait until ready"] == 2
    assert real.changes["systemd_exporter | Restart systemd_exporter and wait until ready"] == 2
    assert real.changes[
        "process_exporter | Write process_exporter.yml (checked on the controller)"] == 2


def test_the_exporters_are_debians_sid_builds(stack, first_runs):
    s = stack["settings"]
    assert (s["process_exporter_version"], s["systemd_exporter_version"]) == ("0.8.7", "0.7.0")
    for h in stack["hosts"].values():
        # Debian's build says its version in the revision: "0.8.7-2"
        out = h.ssh("/usr/local/bin/process_exporter -version 2>&1").stdout
        assert "revision: 0.8.7" in out, out
        out = h.ssh("/usr/local/bin/systemd_exporter --version 2>&1").stdout
        assert "version 0.7.0" in out, out


def test_every_target_is_up_and_the_rule_sets_load(stack, first_runs):
    h = stack["hosts"]
    mon = h["mon"]
    expected = {("prometheus", f"{mon.ip}:9090"), ("alertmanager", f"{mon.ip}:9093")}
    for x in h.values():
        expected |= {("node", f"{x.ip}:9100"), ("process", f"{x.ip}:9256"),
                     ("systemd", f"{x.ip}:9558")}
    seen = wait_targets_up(mon, expected)
    assert set(seen) == expected, f"unexpected targets: {set(seen) - expected}"
    assert seen[("systemd", f"{h['node'].ip}:9558")]["labels"]["host"] == h["node"].ip

    def evaluated() -> dict:
        """The two rule groups once Prometheus has evaluated them (health `unknown` until
        the first evaluation, up to an interval after a restart)."""
        groups = {g["name"]: g for g in
                  http_json(f"http://{mon.ip}:9090/api/v1/rules")["data"]["groups"]}
        wanted = {n: groups.get(n) for n in ("processes.rules", "systemd.rules")}
        if all(g and all(r.get("health") != "unknown" for r in g["rules"])
               for g in wanted.values()):
            return wanted
        return {}

    for name, group in wait_for("both rule groups evaluated", evaluated).items():
        assert all(r.get("health") == "ok" for r in group["rules"]), group


def test_the_named_groups_are_reported_on_both_hosts(stack, first_runs):
    h = stack["hosts"]
    mon = h["mon"]

    def groups():
        found = {}
        for r in prom_query(mon, 'namedprocess_namegroup_num_procs{job="process"}'):
            found.setdefault(r["metric"]["host"], {})[r["metric"]["groupname"]] = \
                float(r["value"][1])
        return found if set(found) == {x.ip for x in h.values()} else None

    found = wait_for("both hosts' process groups", groups)
    for x in h.values():
        assert set(found[x.ip]) == {"sshd", "cron"}, found
        assert all(n >= 1 for n in found[x.ip].values()), found
    # memory and start time too, with the group's name
    rss = prom_query(mon, 'namedprocess_namegroup_memory_bytes{job="process", '
                          'groupname="cron", memtype="resident"}')
    assert len(rss) == 2 and all(float(r["value"][1]) > 0 for r in rss), rss
    started = prom_query(mon, 'namedprocess_namegroup_oldest_start_time_seconds'
                              '{job="process", groupname="sshd"}')
    assert len(started) == 2 and all(float(r["value"][1]) > 1.7e9 for r in started), started
    # the config on the host is the rendered groups, readable only by the exporter's group
    node = h["node"]
    assert node.ssh("stat -c '%a %U:%G' /etc/process_exporter/process_exporter.yml"
                    ).stdout.strip() == "640 root:process_exporter"


def test_systemd_units_failed_and_restarting_are_seen(stack, first_runs):
    h = stack["hosts"]
    mon, node = h["mon"], h["node"]
    # units read over D-Bus on both hosts
    per_host = wait_for("units of both hosts", lambda: {
        r["metric"]["host"] for r in prom_query(
            mon, 'count by (host) (systemd_unit_state{job="systemd", state="active"} == 1)')
    } == {x.ip for x in h.values()} or None)
    assert per_host
    failed = wait_for("the failed unit", lambda: prom_query(
        mon, f'systemd_unit_state{{job="systemd", name="{FAILED_UNIT}", state="failed"}} == 1'))
    assert [r["metric"]["host"] for r in failed] == [node.ip], failed
    assert failed[0]["metric"]["type"] == "service"
    # the restart counter (--systemd.collector.enable-restart-count) grows
    query = f'systemd_service_restart_total{{job="systemd", name="{FLAPPING_UNIT}"}}'
    first = wait_for("the restart count", lambda: prom_query(mon, query))
    before = float(first[0]["value"][1])
    assert before > 0, first
    wait_for("more restarts", lambda: float(prom_query(mon, query)[0]["value"][1]) > before,
             timeout=60)


def test_units_run_as_their_own_users_in_their_sandbox(stack, first_runs):
    for role, x in stack["hosts"].items():
        for unit, extra in (("process_exporter", "ProtectProc=default"),
                            ("systemd_exporter", "ProtectProc=invisible")):
            lines = x.ssh(f"systemctl cat {unit}").stdout.splitlines()
            for line in (f"User={unit}", "ProtectSystem=strict", "NoNewPrivileges=yes",
                         "CapabilityBoundingSet=", extra):
                assert line in lines, (role, unit, line)
            pid = x.ssh(f"systemctl show -p MainPID --value {unit}").stdout.strip()
            assert x.ssh(f"ps -o user= -p {pid}").stdout.strip() == unit, (role, unit)
        listening = x.ssh("ss -Hltn").stdout
        for port in (9256, 9558):
            bound = sorted(line.split()[3] for line in listening.splitlines()
                           if line.split()[3].endswith(f":{port}"))
            assert bound == [f"{x.ip}:{port}"], (role, port, bound)


# as test_core_stack_archive.py's limit for the core units
EXPOSURE_LIMIT = 2.0


def test_both_units_score_ok_in_systemd_analyze_security(stack, first_runs):
    scores = {}
    for role, x in stack["hosts"].items():
        for unit in ("process_exporter", "systemd_exporter"):
            scores[f"{role}/{unit}"] = exposure_level(x, unit)
    print("systemd-analyze security exposure:", scores)
    assert all(score <= EXPOSURE_LIMIT for score in scores.values()), scores


def test_every_query_of_both_dashboards_returns_data(stack, first_runs):
    """monstack-processes and monstack-systemd, as Grafana sends them with "All"
    selected: the real Prometheus accepts every query and each shows data here (a failed
    unit and a restarting one exist; stat panels count with `or vector(0)`)."""
    mon = stack["hosts"]["mon"]
    # rates and increases need samples: three successful scrapes of each exporter
    wait_for("three scrapes of the four exporter targets", lambda: len(prom_query(
        mon, 'sum_over_time(up{job=~"process|systemd"}[5m]) >= 3')) == 4, timeout=120,
        interval=3)
    empty = []
    for uid, where, expr, model in queries("prometheus"):
        if uid not in ("monstack-processes", "monstack-systemd"):
            continue
        if not prom_query(mon, substitute(expr, model, all_values=True)):
            empty.append((uid, where))
    assert empty == []


def test_the_package_method_of_systemd_exporter_is_refused_on_debian_12_and_13(stack,
                                                                              first_runs):
    run = run_pyinfra(stack["inventory"], dry=True,
                      data={"systemd_exporter_install_method": "package"})
    assert run.returncode != 0
    causes = [f"Debian {n} ({c}) has no prometheus-systemd-exporter package"
              for n, c in (("12", "bookworm"), ("13", "trixie"))]
    assert any(cause in run.output for cause in causes), run.output[-3000:]
    assert "Debian ships it only in sid/unstable" in run.output
    assert "Traceback" not in run.output


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    h = stack["hosts"]
    assert_rerun_changes_nothing(lambda: run_pyinfra(stack["inventory"]),
                                 [(h[role], units) for role, units in UNITS.items()])


def test_switching_everything_off_removes_it_cleanly(stack, first_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack["hosts"][role], names) for role, names in UNITS.items()])
