"""The fault matrix: an upgrade of the core stack cut short at every step, and converged by
the next run.

The upgrade: Prometheus, Alertmanager and node_exporter from Debian 12's builds (2.42,
0.25, 1.5) to the newest Debian builds (3.5.3, 0.33, 1.11), repacked as upstream archives
on the local mirror, together with a change of each one's config or flags, so that every
component has an install, a config and a restart step. Each of at least ten hosts runs the
old stack; on each, the controller is killed (SIGKILL) after a different step of the
upgrade: after every changed step of the preview in turn. After the kill one re-run must
leave every service running the new version (asked over HTTP: buildinfo, /metrics
build_info), the new settings in effect, every target up and nothing staged left behind;
a further run changes nothing and restarts nothing.

The same with a cut connection instead of a kill: the link of one of two hosts goes down
while its Prometheus is uploaded. That host's run fails within `connection_lost_after`
(pyinfra alone waits for ever), the other host finishes; once the link is back, one re-run
converges both.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import hosts_fixture, write_inventory
from harness.debian import OLDEST
from harness.pyinfra_cli import PYINFRA, REPO, parse_results, run_pyinfra, run_pyinfra_killed_after
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, http_json, mirror_settings,
                           wait_for, wait_targets_up)

pytestmark = pytest.mark.fleet

COMPONENTS = ["prometheus", "alertmanager", "node_exporter"]
UNITS = COMPONENTS
KILLED = 13            # hosts, one kill point each (the upgrade has 13 changed steps)
hosts = hosts_fixture(KILLED + 2)
PARALLEL = 4           # pyinfra runs at once (the controller has two cores)
# the settings changed with the upgrade: one config file, and flags of each unit
CHANGES = {"prometheus_scrape_interval": "20s", "prometheus_retention_time": "20d",
           "alertmanager_group_wait": "20s",
           "node_exporter_extra_flags": "['--collector.processes']"}
LOST_AFTER = "15s"


def versions_running(h) -> dict[str, str]:
    """What each service says it is (Debian's builds carry a "+ds" suffix)."""
    prometheus = http_json(f"http://{h.ip}:9090/api/v1/status/buildinfo")["data"]["version"]
    alertmanager = http_json(f"http://{h.ip}:9093/api/v2/status")["versionInfo"]["version"]
    return {"prometheus": prometheus.split("+")[0], "alertmanager": alertmanager.split("+")[0],
            "node_exporter": node_exporter_running(h)}


def node_exporter_running(h) -> str:
    with urllib.request.urlopen(f"http://{h.ip}:9100/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    return re.search(r'node_exporter_build_info\{[^}]*version="([^"]+)"',
                     metrics).group(1).split("+")[0]


def settings_in_effect(h) -> bool:
    config = http_json(f"http://{h.ip}:9090/api/v1/status/config")["data"]["yaml"]
    flags = http_json(f"http://{h.ip}:9090/api/v1/status/flags")["data"]
    am = http_json(f"http://{h.ip}:9093/api/v2/status")["config"]["original"]
    node = h.ssh("cat /proc/$(systemctl show -p MainPID --value node_exporter)/cmdline "
                 "| tr '\\0' ' '").stdout
    return ("scrape_interval: 20s" in config and flags["storage.tsdb.retention.time"] == "20d"
            and "group_wait: 20s" in am and "--collector.processes" in node)


def staged_leftovers(h) -> str:
    return h.ssh("find /usr/local/bin /etc -name '*.monstack-new'").stdout.strip()


@pytest.fixture(scope="module")
def lab(hosts, fleet, mirror, tmp_path_factory):
    common = {**CORE_ONLY, "artifact_cache_dir": str(tmp_path_factory.mktemp("cache")),
              "connection_lost_after": LOST_AFTER}
    old = mirror_settings(mirror, COMPONENTS, suites={c: OLDEST for c in COMPONENTS})
    new = mirror_settings(mirror, COMPONENTS)
    checksums = {**old.pop("artifact_checksums"), **new.pop("artifact_checksums")}
    group_data = {"all": {**common, **old, "artifact_checksums": checksums}}
    folder = tmp_path_factory.mktemp("inventories")
    # each host a monitoring host of its own (one inventory each: no Alertmanager cluster
    # across them), the last two one inventory: a monitoring host and a node
    inventories = [write_inventory(folder / f"h{i}" / "inventory.py", fleet,
                                   {"monitoring": [h]}, group_data=group_data)
                   for i, h in enumerate(hosts[:KILLED])]
    pair = hosts[KILLED:]
    inventories.append(write_inventory(folder / "pair" / "inventory.py", fleet,
                                       {"monitoring": [pair[0]], "nodes": [pair[1]]},
                                       group_data=group_data))
    # the old stack everywhere; the first run fills the controller's artifact cache
    run_pyinfra(inventories[0]).check()
    with ThreadPoolExecutor(PARALLEL) as pool:
        for run in pool.map(run_pyinfra, inventories[1:]):
            run.check()
    upgrade = {**CHANGES, **{k: v for k, v in new.items() if k.endswith("_version")}}
    old_versions = {c: old[f"{c}_version"] for c in COMPONENTS}
    new_versions = {c: new[f"{c}_version"] for c in COMPONENTS}
    assert versions_running(hosts[0]) == old_versions
    return {"hosts": hosts, "inventories": inventories, "upgrade": upgrade,
            "new_versions": new_versions, "fleet": fleet}


def converges(lab, inventory, watched) -> None:
    """One re-run: every service on the new version with the new settings, targets up,
    nothing staged left; a further run changes and restarts nothing."""
    run_pyinfra(inventory, data=lab["upgrade"]).check()
    mon = watched[0]
    for h in watched:
        assert node_exporter_running(h) == lab["new_versions"]["node_exporter"]
        assert staged_leftovers(h) == "", h.name
    assert versions_running(mon) == lab["new_versions"]
    wait_for("the new settings in effect", lambda: settings_in_effect(mon))
    wait_targets_up(mon, {("prometheus", f"{mon.ip}:9090"), ("alertmanager", f"{mon.ip}:9093"),
                          *{("node", f"{h.ip}:9100") for h in watched}})
    assert_rerun_changes_nothing(lambda: run_pyinfra(inventory, data=lab["upgrade"]),
                                 [(mon, UNITS), *[(h, ["node_exporter"]) for h in watched[1:]]])


@pytest.fixture(scope="module")
def steps(lab):
    """The upgrade's changed steps in order, from its preview on the first host."""
    dry = run_pyinfra(lab["inventories"][0], dry=True, data=lab["upgrade"]).check()
    return list(dry.changed_ops())


def test_the_upgrade_has_an_install_a_config_and_a_restart_step_for_each_component(steps):
    names = "\n".join(steps)
    for component, label in (("prometheus", "Prometheus"), ("alertmanager", "Alertmanager"),
                             ("node_exporter", "node_exporter")):
        assert re.search(rf"^{label} \| Install {component} \S+ from the release archive$",
                         names, re.M), names
        assert re.search(rf"^{label} \| Restart {component} and wait until ready$", names,
                         re.M), names
    assert "Prometheus | Write prometheus.yml (checked by promtool)" in steps
    assert "Alertmanager | Write alertmanager.yml (checked by amtool)" in steps
    assert "node_exporter | Install the node_exporter systemd unit" in steps
    # a kill after each step but the last: at least ten points
    assert len(steps) - 1 >= 10, steps


def kill_points(steps: list[str]) -> list[str]:
    """After each step but the last; a spread of KILLED of them if there are more."""
    points = steps[:-1]
    if len(points) <= KILLED:
        return points
    return [points[round(i * (len(points) - 1) / (KILLED - 1))] for i in range(KILLED)]


def test_a_run_killed_after_any_step_is_finished_by_the_next_run(lab, steps):
    points = kill_points(steps)
    failures, lock = {}, threading.Lock()

    def one(i: int) -> None:
        inventory, h = lab["inventories"][i], lab["hosts"][i]
        try:
            run_pyinfra_killed_after(inventory, points[i], data=lab["upgrade"])
            converges(lab, inventory, [h])
        except Exception as exc:   # every point is tried; all failures are reported
            with lock:
                failures[points[i]] = f"{type(exc).__name__}: {str(exc)[-3000:]}"

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(one, range(len(points))))
    assert failures == {}


def test_a_host_whose_link_is_cut_mid_run_fails_alone_and_the_next_run_converges(lab):
    fleet, (mon, node) = lab["fleet"], lab["hosts"][KILLED:]
    inventory = lab["inventories"][-1]
    cmd = [*PYINFRA, "-y", *sum((["--data", f"{k}={v}"] for k, v in lab["upgrade"].items()),
                                []), str(inventory), "deploy.py"]
    proc = subprocess.Popen(cmd, cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    output, cut_at = [], None
    try:
        for line in proc.stdout:
            output.append(line)
            if cut_at is None and re.match(
                    r"--> Starting operation: Prometheus \| Install prometheus \S+ from", line):
                fleet.link(mon, up=False)     # while the 100 MB program is on its way
                cut_at = time.monotonic()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        fleet.link(mon, up=True)
    text = "".join(output)
    assert cut_at is not None, text[-3000:]
    given_up_after = time.monotonic() - cut_at
    assert proc.returncode != 0, text[-3000:]
    # the cut host is named and given up within the setting (plus the rest of the run)
    assert given_up_after < 15 + 90, given_up_after
    _, errors = parse_results(text)
    assert errors.get("Prometheus | Install prometheus "
                      f"{lab['new_versions']['prometheus']} from the release archive") == 1, \
        text[-3000:]
    # the node finished its part of the run
    assert node_exporter_running(node) == lab["new_versions"]["node_exporter"]
    wait_for("the cut host answers again", lambda: mon.ssh("true", check=False).returncode == 0)
    converges(lab, inventory, [mon, node])

