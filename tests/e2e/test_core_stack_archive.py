"""An operator deploys the core stack onto three hosts from upstream-shaped archives.

Hosts: one monitoring host, one plain node, one database host with Redis and PostgreSQL.
Archives come from the local mirror (Debian's real binaries, repacked the way upstream
publishes them, with their sha256s given as artifact_checksums).
"""

import re
import subprocess
import time
import urllib.error
from collections import Counter

import pytest

from conftest import hosts_fixture, write_inventory
from harness.dashboards import MAY_BE_EMPTY, may_be_empty, queries, substitute
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, exposure_level, http_json,
                           install_databases, mirror_settings, prom_query, service_pids,
                           wait_for, wait_targets_up)
from harness.webhook import webhook_fixture
from harness.removal import inventory_with, switch_off_and_purge
from operations.base.templates import shipped_rule_sets

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3, suites=("trixie",))  # the monitoring host runs Debian 13
SECOND_ADDRESS = "192.0.2.7"   # TEST-NET-1, a second address of the db host
UNITS = {"monitoring": ["prometheus", "alertmanager", "node_exporter"],
         "node": ["node_exporter"],
         "db": ["node_exporter", "redis_exporter", "postgres_exporter"]}


# a distinctive path, so the URL can be looked for in pyinfra's output
webhook = webhook_fixture("/hook/c2VjcmV0LXRva2Vu")


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, webhook, tmp_path_factory):
    monitoring, node, db = hosts
    install_databases(db)
    # the database host has a second interface, like a server with a public and a private
    # network: its exporters must listen only where Prometheus scrapes them
    # (added from outside: the container may not configure its own network)
    subprocess.run(["ip", "-n", fleet.profile.netns(db.name), "addr", "add",
                    f"{SECOND_ADDRESS}/32", "dev", "lo"], check=True)
    settings = {
        **mirror_settings(mirror), **CORE_ONLY,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "alertmanager_group_wait": "1s",
        # the webhook URL is a secret, given through the environment (see SECRET_ENV)
        "alertmanager_receivers": [{"name": "test-webhook", "type": "webhook",
                                    "url_secret": "TEST_WEBHOOK_URL",
                                    "severities": ["critical", "warning", "none"]}],
        "postgres_exporter_create_db_user": True,
    }
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [monitoring], "nodes": [node], "redis": [db], "postgres": [db]},
        group_data={"all": settings})
    return {"inventory": inventory, "monitoring": monitoring, "node": node, "db": db,
            "hosts": {"monitoring": monitoring, "node": node, "db": db},
            "env": {"TEST_WEBHOOK_URL": webhook.url}}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], env=stack["env"], **kw)


@pytest.fixture(scope="module")
def first_runs(stack):
    """The preview, then the real first run."""
    return preview_then_run(stack["inventory"], env=stack["env"])


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert real.total_changes > 40, real.output[-3000:]
    assert_preview_was_exact(dry, real)


def test_all_rule_files_are_one_operation_and_folders_one_per_component(stack, first_runs):
    """The first converge writes every shipped rule file in one operation (one
    promtool run) and each component's folders in one, not one operation per file or
    folder."""
    _, real = first_runs
    assert real.changes["Prometheus | Write rule files (checked by promtool)"] == 1
    assert not [op for op in real.changes if "Write rule file " in op], real.changes
    assert real.changes["Prometheus | Write scrape target files"] == 1
    assert real.changes["Prometheus | Create the prometheus folders"] == 1
    assert not [op for op in real.changes if op.startswith("Prometheus | Create /")]
    rules = stack["monitoring"].ssh("ls -A /etc/prometheus/rules").stdout.split()
    assert sorted(rules) == sorted(p.name for p in shipped_rule_sets().values()), rules


def expected_targets(stack) -> set[tuple[str, str]]:
    mon, node, db = stack["monitoring"], stack["node"], stack["db"]
    return {("node", f"{h.ip}:9100") for h in (mon, node, db)} | {
        ("redis", f"{db.ip}:9121"), ("postgres", f"{db.ip}:9187"),
        ("prometheus", f"{mon.ip}:9090"), ("alertmanager", f"{mon.ip}:9093")}


def test_every_expected_target_is_up_and_all_rule_groups_load(stack, first_runs):
    mon = stack["monitoring"]
    expected = expected_targets(stack)
    seen = wait_targets_up(mon, expected)
    assert set(seen) == expected, f"unexpected targets: {set(seen) - expected}"
    # the exporters really talk to their databases
    assert prom_query(mon, "redis_up")[0]["value"][1] == "1"
    assert prom_query(mon, "pg_up")[0]["value"][1] == "1"
    groups = http_json(f"http://{mon.ip}:9090/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in groups} >= {"host.rules", "targets.rules", "apps.rules",
                                           "redis.rules", "postgres.rules", "watchdog.rules",
                                           "monitoring.rules", "host.recording",
                                           "targets.recording"}
    assert all(r.get("health") == "ok" for g in groups for r in g["rules"])


def test_the_watchdog_alert_reaches_the_webhook_through_alertmanager(webhook, first_runs):
    alert = webhook.wait_for_alert("Watchdog", timeout=120)
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "none"
    # the deploy added the runbook link and made the dashboard uid a link where it can
    assert alert["annotations"]["runbook_url"].endswith("README.md#alert-watchdog")
    assert alert["annotations"]["dashboard"].endswith("monstack-alerts")


def test_services_run_as_their_own_users_with_tight_files(stack, first_runs):
    mon, db = stack["monitoring"], stack["db"]
    for host, unit in ((mon, "prometheus"), (mon, "alertmanager"), (db, "postgres_exporter")):
        user = host.ssh(f"systemctl show -p User --value {unit}").stdout.strip()
        assert user == unit
        pid = host.ssh(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        assert host.ssh(f"ps -o user= -p {pid}").stdout.strip() == unit
        assert host.ssh(f"getent passwd {unit} | cut -d: -f7").stdout.strip() == "/usr/sbin/nologin"
    assert mon.ssh("stat -c '%a %U:%G' /etc/alertmanager/alertmanager.yml").stdout.strip() == \
        "640 root:alertmanager"
    assert db.ssh("stat -c '%a %U:%G' /etc/postgres_exporter/postgres_exporter.env").stdout.strip() \
        == "640 root:postgres_exporter"
    unit = mon.ssh("systemctl cat prometheus").stdout
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "ReadWritePaths=/var/lib/prometheus"):
        assert line in unit


def test_exporters_listen_only_where_prometheus_scrapes_them(stack, first_runs):
    db, mon = stack["db"], stack["monitoring"]
    listening = db.ssh("ss -Hltn").stdout
    for port in (9100, 9121, 9187):
        bound = sorted(line.split()[3] for line in listening.splitlines()
                       if line.split()[3].endswith(f":{port}"))
        assert bound == [f"{db.ip}:{port}"], (port, bound)
        assert db.ssh(f"curl -fsS -o /dev/null --max-time 2 http://{SECOND_ADDRESS}:{port}/metrics",
                      check=False).returncode != 0
    # Prometheus and Alertmanager are for people: every interface by default
    assert re.search(r"\s(\*|0\.0\.0\.0):9090\s", mon.ssh("ss -Hltn").stdout)


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    assert_rerun_changes_nothing(lambda: deploy(stack), [
        (stack["hosts"][role], units) for role, units in UNITS.items()])


def test_a_no_op_run_asks_each_host_in_one_round_trip(stack, first_runs):
    """What operators wait for most: the no-op run. Each host is asked everything the
    deploy needs to know in one command (operations/base/fact_batch.py), like the floor
    `pyinfra INVENTORY exec -- true`."""
    deploy(stack).check()  # learns what a converged host is asked
    run = deploy(stack, extra=["-vv"]).check()
    assert run.changed_ops() == {}
    per_host = Counter(re.findall(r"^\[([\d.]+)\] >>> ", run.output, re.M))
    assert per_host == {h.ip: 1 for h in stack["hosts"].values()}, per_host


def test_a_broken_rule_file_fails_the_run_and_prometheus_keeps_its_config(stack, first_runs,
                                                                        tmp_path):
    mon = stack["monitoring"]
    broken = tmp_path / "broken.rules.yml"
    broken.write_text("groups:\n  - name: broken\n    rules:\n"
                      "      - alert: Broken\n        expr: sum(rate(up[5m]) > \n")
    pid_before = service_pids(mon, ["prometheus"])
    rules_url = f"http://{mon.ip}:9090/api/v1/rules"
    def loaded_rules():
        return sorted((g["file"], r["name"]) for g in http_json(rules_url)["data"]["groups"]
                      for r in g["rules"])

    # one bad file among many: a good new file beside it, and the shipped ones
    good = tmp_path / "good.rules.yml"
    good.write_text("groups:\n  - name: good\n    rules:\n"
                    "      - alert: Good\n        expr: up == 0\n")
    live_before = mon.ssh("cd /etc/prometheus/rules && ls -A && sha1sum *").stdout
    rules_before = loaded_rules()
    run = deploy(stack, data={"prometheus_rule_files": f"[{good}, {broken}]"})
    assert run.returncode != 0
    assert "monstack: /etc/prometheus/rules/broken.rules.yml failed validation" in run.output
    assert "good.rules.yml failed" not in run.output
    assert "parse error" in run.output.lower() or "could not parse" in run.output.lower() \
        or "unclosed" in run.output.lower(), run.output[-3000:]
    # no live rule file replaced or added, no staged file left
    assert mon.ssh("cd /etc/prometheus/rules && ls -A && sha1sum *").stdout == live_before
    assert service_pids(mon, ["prometheus"]) == pid_before
    assert loaded_rules() == rules_before
    assert mon.ssh("curl -fsS http://127.0.0.1:9090/-/ready").returncode == 0


def test_a_checksum_mismatch_on_the_mirror_fails_before_any_host_changes(
        stack, first_runs, mirror, tmp_path):
    node = stack["node"]
    binary_before = node.ssh("sha256sum /usr/local/bin/node_exporter").stdout
    name = next(n for n in mirror.checksums() if n.startswith("node_exporter-"))
    mirror.faults[name] = "corrupt"
    try:
        # a fresh controller cache, so the archive is downloaded (corrupted) again
        run = deploy(stack, data={"artifact_cache_dir": str(tmp_path / "cache"),
                                "node_exporter_extra_flags": "['--collector.disable-defaults', '--collector.cpu']"})
    finally:
        mirror.faults.pop(name)
    assert run.returncode != 0
    assert f"checksum mismatch for {name}" in run.output
    assert "--> Beginning operation run" not in run.output  # failed while planning
    assert run.changes == {}
    assert node.ssh("sha256sum /usr/local/bin/node_exporter").stdout == binary_before
    assert not list((tmp_path / "cache").glob("node_exporter-*"))


def test_the_webhook_secret_never_appears_in_any_output(stack, first_runs, webhook):
    dry, real = first_runs
    verbose = deploy(stack, dry=True, extra=["-vvv"]).check()
    secret = webhook.url
    for run in (dry, real, verbose):
        assert secret not in run.output
        assert "c2VjcmV0LXRva2Vu" not in run.output
    # but it is in the config, readable only by root and the alertmanager group
    mon = stack["monitoring"]
    assert "c2VjcmV0LXRva2Vu" in mon.ssh("cat /etc/alertmanager/alertmanager.yml").stdout


def test_diff_shows_rendered_config_changes_with_secrets_masked(stack, first_runs, webhook):
    """A cautious operator previews a change with --diff: the changed lines of the
    rendered config show, no secret does (neither the live one nor its replacement)."""
    new_secret = webhook.url.replace("c2VjcmV0LXRva2Vu", "bmV3LXNlY3JldA")
    preview = run_pyinfra(stack["inventory"], env={"TEST_WEBHOOK_URL": new_secret},
                          data={"alertmanager_repeat_interval": "5h"}, dry=True,
                          extra=["--diff", "-vvv"]).check()
    assert "Will modify" in preview.output and "alertmanager.yml" in preview.output
    shown = re.sub(r"\x1b\[[0-9;]*m", "", preview.output)  # without colours
    assert re.search(r"^\s*-\s+repeat_interval: 4h$", shown, re.M), shown[-3000:]
    assert re.search(r"^\s*\+\s+repeat_interval: 5h$", shown, re.M)
    for value in ("c2VjcmV0LXRva2Vu", "bmV3LXNlY3JldA", webhook.url, new_secret):
        assert value not in preview.output
    assert preview.changes  # a preview: the host still has the old config
    assert "c2VjcmV0LXRva2Vu" in stack["monitoring"].ssh(
        "cat /etc/alertmanager/alertmanager.yml").stdout


def test_nothing_on_the_hosts_is_world_writable(stack, first_runs):
    for host in stack["hosts"].values():
        found = host.ssh(
            "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run \\) -prune "
            "-o -perm -0002 ! -type l ! -type s ! -type c ! \\( -type d -perm -1000 \\) -print"
        ).stdout.split()
        assert found == [], f"{host.name}: world-writable: {found}"
        for path in ("/etc/prometheus", "/var/lib/prometheus", "/etc/alertmanager",
                     "/var/lib/alertmanager"):
            if host is stack["monitoring"]:
                mode = host.ssh(f"stat -c %a {path}").stdout.strip()
                assert mode == "750", f"{path} is {mode}"


# `systemd-analyze security` exposure (0 = locked down, 10 = fully exposed). 2.0 is the top
# of its "OK" band; cAdvisor-like root services would need a higher one.
EXPOSURE_LIMIT = 2.0


def test_every_unit_scores_ok_in_systemd_analyze_security(stack, first_runs):
    scores = {}
    for role, units in UNITS.items():
        host = stack["hosts"][role]
        for unit in units:
            scores[f"{role}/{unit}"] = exposure_level(host, unit)
    print("systemd-analyze security exposure:", scores)
    assert all(score <= EXPOSURE_LIMIT for score in scores.values()), scores


def test_every_dashboard_query_runs_on_the_real_prometheus(stack, first_runs):
    """Each PromQL expression of the shipped dashboards, as Grafana would send it with
    "All" selected, is accepted by the real Prometheus; those about what runs here return
    data (metric names that exist only in a typo would return nothing)."""
    mon = stack["monitoring"]
    wait_targets_up(mon, expected_targets(stack))
    # rates need two samples of every series in their window, and a target's first scrape
    # can lack a series that starts with the first thing it counts (Prometheus' own
    # samples-appended counter, scraped before anything was appended): three scrapes that
    # succeeded (a failed one, e.g. timed out on a loaded machine, records only up=0)
    deadline = time.monotonic() + 120
    while len(prom_query(mon, "sum_over_time(up[5m]) >= 3")) < len(expected_targets(stack)):
        assert time.monotonic() < deadline, (
            "targets not scraped three times successfully after 120 s: "
            f"{prom_query(mon, 'sum_over_time(up[5m])')}")
        time.sleep(3)
    # the hosts dashboard reads recording rules (rates over 5m): wait for an evaluation
    # after those scrapes
    nodes = {i for job, i in expected_targets(stack) if job == "node"}
    wait_for("instance:node_cpu_utilisation:rate5m of every node target", lambda: {
        r["metric"]["instance"] for r in prom_query(mon, "instance:node_cpu_utilisation:rate5m")
    } == nodes, timeout=60)
    errors, empty = [], []
    for uid, where, expr, model in queries("prometheus"):
        query = substitute(expr, model, all_values=True)
        try:
            result = prom_query(mon, query)
        except urllib.error.HTTPError as exc:
            errors.append(f"{uid} {where}: {exc.read().decode()[:300]}")
            continue
        if not result:
            empty.append((uid, where))
    assert errors == []
    # dashboards about what runs here must show data, but for panels that are empty on a
    # healthy stack (nothing failing, nothing down)
    missing = [(uid, where) for uid, where in empty
               if uid in MUST_SHOW_DATA and (uid, where) not in QUIET_ON_A_HEALTHY_STACK
               and not may_be_empty(uid, where)]
    assert missing == [], (f"no data (all empty: {empty}); scrapes of the last 5 minutes: "
                           f"{prom_query(mon, 'up[5m]')}")


MUST_SHOW_DATA = {"monstack-hosts", "monstack-redis", "monstack-postgres", "monstack-stack"}
# (the hosts dashboard's panels that may be empty, with their reasons, are
# harness.dashboards.MAY_BE_EMPTY: containers have no temperature sensors and refuse the
# timex collector's adjtimex(2); no unit failed. The filesystem panels read each host's
# data disk, harness.fleet.DISK, as the containers' overlayfs root is left out)
QUIET_ON_A_HEALTHY_STACK = {
    # no rule fails
    ("monstack-stack", "panel 9 'Rule evaluation failures' ref A"),
    # backups are off (backup_enabled's default): no backup metrics
    ("monstack-stack", "panel 22 'Backup age' ref A"),
    ("monstack-stack", "panel 23 'Backup size and failures' ref A"),
    ("monstack-stack", "panel 23 'Backup size and failures' ref B"),
    # an idle Redis: no key lookups yet (hit rate of nothing), and no maxmemory set
    ("monstack-redis", "panel 3 'Hit rate' ref A"),
    ("monstack-redis", "panel 6 'Hit rate' ref A"),
    ("monstack-redis", "panel 5 'Memory' ref B"),
}


def test_every_hosts_dashboard_query_returns_data_for_each_host(stack, first_runs):
    """The hosts dashboard with one host selected, as an operator looks at it: every query
    of every panel returns data for each of the three hosts (Debian 13 containers running
    sid's node_exporter 1.11.1 with the systemd collector), but for the panels named in
    MAY_BE_EMPTY (temperature sensors, the clock panels, whose adjtimex(2) the containers
    refuse, the failed-units table); the filesystem panels show each host's data disk
    (harness.fleet.DISK, a real ext4 mount). Runs
    after test_every_dashboard_query_runs_on_the_real_prometheus, whose waits (three
    scrapes, the recording rules evaluated) it relies on."""
    mon = stack["monitoring"]
    hosts = {r["metric"]["host"] for r in prom_query(mon, 'up{job="node"} == 1')}
    assert len(hosts) == 3, hosts
    found = [(where, expr, model) for uid, where, expr, model in queries("prometheus")
             if uid == "monstack-hosts"]
    assert len({w.split(" ref ")[0] for w, _, _ in found}) >= 40, "fewer than 40 panels"
    missing, let_off = [], set()
    for host in sorted(hosts):
        for where, expr, model in found:
            query = substitute(expr.replace("$host", re.escape(host).replace("\\", "\\\\")),
                               model, all_values=True)
            if prom_query(mon, query):
                continue
            if may_be_empty("monstack-hosts", where):
                let_off.add(where)
            else:
                missing.append((host, where, query))
    print("empty, as MAY_BE_EMPTY allows:", sorted(let_off))
    assert missing == []
    # the exceptions stay few (test_dashboards checks each names a panel that says so)
    assert len(MAY_BE_EMPTY["monstack-hosts"]) <= 6


def test_switching_everything_off_removes_it_cleanly(stack, first_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack[role], UNITS[role])
                          for role in ("monitoring", "node", "db")], env=stack["env"])
