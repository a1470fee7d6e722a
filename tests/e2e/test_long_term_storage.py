"""An operator keeps samples for the long term: two Prometheus replicas write to
VictoriaMetrics over remote_write, and an outage of the store loses nothing.

Hosts: two Prometheus replicas (group monitoring, each labelled replica=<its name> by
its host data) and two long-term stores (group victoriametrics): one from Debian's
package, one from the upstream-shaped tarball on the mirror (Debian's binary repacked as
victoria-metrics-prod), so both install methods run in the one deploy. Besides the
automatic entry to each store, the operator lists one remote_write of their own, to the
packaged store, with a login from a secret and write relabelling that keeps only `up`.
"""

import json
import time
import urllib.parse
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, http_json,
                           mirror_settings, wait_for, wait_targets_up)
from harness.removal import inventory_with, switch_off_and_purge

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(4, suites=("bookworm", "trixie"))  # mon2: Debian 13
SCRAPE_SECONDS = 5
OUTAGE_SECONDS = 60
PASSWORD = "bHRzLXBhc3N3b3Jk-remote-write"   # distinctive, to look for it in every output
PASSWORD_FILE = "/etc/prometheus/remote_write/own-entry.password"
# VictoriaMetrics shows samples only once they are older than -search.latencyOffset (30 s)
LATENCY_OFFSET = 30


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon1, mon2, packaged, archived = hosts
    settings = {
        **mirror_settings(mirror, ["prometheus", "node_exporter", "victoriametrics"]),
        **CORE_ONLY,
        "alertmanager_enabled": False,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        # short, so the outage window holds a dozen scrapes and the test stays short
        "prometheus_scrape_interval": f"{SCRAPE_SECONDS}s",
        "prometheus_scrape_timeout": "4s",
        "prometheus_remote_write": [{
            "url": f"http://{packaged.ip}:8428/api/v1/write", "name": "own-entry",
            "basic_auth": {"username": "prometheus", "password_secret": "TEST_LTS_PASSWORD"},
            "queue_config": {"max_backoff": "2s"},
            # drop every series but `up`, and mark what came this way
            "write_relabel_configs": [
                {"source_labels": ["__name__"], "regex": "up", "action": "keep"},
                {"target_label": "via", "replacement": "own-entry"}]}],
    }
    host_data = {mon1.ip: {"prometheus_external_labels": {"replica": mon1.name}},
                 mon2.ip: {"prometheus_external_labels": {"replica": mon2.name}},
                 packaged.ip: {"victoriametrics_install_method": "package"},
                 archived.ip: {"victoriametrics_install_method": "archive"}}
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [mon1, mon2], "victoriametrics": [packaged, archived]},
        group_data={"all": settings}, host_data=host_data)
    return {"inventory": inventory, "replicas": [mon1, mon2], "packaged": packaged,
            "archived": archived, "hosts": hosts, "env": {"TEST_LTS_PASSWORD": PASSWORD},
            "vm_version": settings["victoriametrics_version"]}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], env=stack["env"], **kw)


@pytest.fixture(scope="module")
def first_runs(stack):
    return preview_then_run(stack["inventory"], env=stack["env"])


def vm_get(store, path: str, **params) -> dict:
    return http_json(f"http://{store.ip}:8428{path}?" + urllib.parse.urlencode(params))


def vm_get_lines(store, path: str, **params) -> list[dict]:
    """An export: one JSON object per line."""
    url = f"http://{store.ip}:8428{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


def vm_query(store, query: str) -> list[dict]:
    data = vm_get(store, "/api/v1/query", query=query, nocache=1)
    assert data["status"] == "success", data
    return data["data"]["result"]


def replicas_in(store, query: str = "count by (replica) (up)") -> dict[str, str]:
    return {r["metric"].get("replica"): r["value"][1] for r in vm_query(store, query)}


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(stack, first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes.get("VictoriaMetrics | Install the victoria-metrics package") == 1
    assert real.changes.get(f"VictoriaMetrics | Install victoria-metrics {stack['vm_version']} "
                            "from the release archive") == 1


def test_both_replicas_samples_are_queryable_from_every_store(stack, first_runs):
    mon1, mon2 = stack["replicas"]
    packaged, archived = stack["packaged"], stack["archived"]
    for replica in (mon1, mon2):   # each replica scrapes every host and both stores
        wait_targets_up(replica, {("node", f"{h.ip}:9100") for h in stack["hosts"]}
                        | {("victoriametrics", f"{s.ip}:8428") for s in (packaged, archived)})
    for store in (packaged, archived):
        found = wait_for(f"both replicas in {store.name}",
                         lambda: len(replicas_in(store)) == 2 and replicas_in(store),
                         timeout=120)
        assert set(found) == {mon1.name, mon2.name}


def test_write_relabelling_keeps_only_what_the_own_entry_asks_for(stack, first_runs):
    packaged, archived = stack["packaged"], stack["archived"]
    via = wait_for("series sent by the own entry",
                   lambda: vm_query(packaged, 'count by (__name__) ({via="own-entry"})'),
                   timeout=120)
    assert [r["metric"]["__name__"] for r in via] == ["up"]
    assert vm_query(archived, 'count({via="own-entry"})') == []


def test_the_login_is_a_0640_file_never_in_the_config_or_the_output(stack, first_runs):
    dry, real = first_runs
    for run in (dry, real):
        assert PASSWORD not in run.output
    for replica in stack["replicas"]:
        assert replica.ssh(f"stat -c '%a %U:%G' {PASSWORD_FILE}").stdout.strip() == \
            "640 root:prometheus"
        assert replica.ssh(f"cat {PASSWORD_FILE}").stdout.strip() == PASSWORD
        config = replica.ssh("cat /etc/prometheus/prometheus.yml").stdout
        assert PASSWORD not in config and f"password_file: {PASSWORD_FILE}" in config


def test_the_stores_run_as_their_own_user_the_package_unit_masked(stack, first_runs):
    packaged, archived = stack["packaged"], stack["archived"]
    assert "/usr/bin/victoria-metrics " in packaged.ssh("systemctl cat victoriametrics").stdout
    assert "/usr/local/bin/victoria-metrics " in archived.ssh(
        "systemctl cat victoriametrics").stdout
    assert packaged.ssh("systemctl is-enabled victoria-metrics",
                        check=False).stdout.strip() == "masked"
    for store in (packaged, archived):
        pid = store.ssh("systemctl show -p MainPID --value victoriametrics").stdout.strip()
        assert store.ssh(f"ps -o user= -p {pid}").stdout.strip() == "victoriametrics"
        assert store.ssh("stat -c '%a %U' /var/lib/victoriametrics").stdout.strip() == \
            "750 victoriametrics"
        # as locked down as every other unit (test_core_stack_archive: at most 2.0)
        out = store.ssh("systemd-analyze security victoriametrics.service --no-pager").stdout
        line = [x for x in out.splitlines() if "Overall exposure level" in x][0]
        assert float(line.split(":")[1].split()[0]) <= 2.0, line


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    again = assert_rerun_changes_nothing(lambda: deploy(stack), [
        *((h, ["prometheus"]) for h in stack["replicas"]),
        *((h, ["victoriametrics"]) for h in (stack["packaged"], stack["archived"]))])
    assert PASSWORD not in again.output


def node_samples(store, start: float, end: float) -> dict[str, list[float]]:
    """Raw samples of `up{job="node"}` in the store: series (instance/replica) -> sorted
    scrape times in seconds."""
    raw = vm_get_lines(store, "/api/v1/export", **{"match[]": 'up{job="node"}',
                                                      "start": int(start), "end": int(end)})
    return {f'{r["metric"]["instance"]}/{r["metric"]["replica"]}':
            sorted(t / 1000 for t in r["timestamps"]) for r in raw}


def test_a_minute_without_the_store_leaves_no_gap(stack, first_runs):
    """Stop the archived store for a minute: Prometheus keeps the samples it cannot send
    (its WAL) and sends them when the store is back. Then every step of the outage window,
    at two scrape intervals, has a value in every series of `up{job="node"}` (4 hosts x 2
    replicas), and the raw samples are never further apart than one scrape interval and a
    half: a sample lost in the outage would leave a hole of at least two intervals.
    (Sent late, the samples keep the time they were scraped at.)"""
    store = stack["archived"]
    # Steps of two scrape intervals: a step looks back one step for a sample, and scrapes
    # jitter, so at one interval a late scrape can leave a step empty without any sample
    # being lost; at two, every step holds a sample unless one was lost (the raw check
    # below is the exact one).
    step = 2 * SCRAPE_SECONDS
    # The window opens one step before the stop and its first step looks back one more:
    # every series must already have samples that far back, or the window's first steps
    # are empty because the series had not begun yet, not because anything was lost.
    wait_for("8 series in the store", lambda: len(node_samples(
        store, time.time() - 600, time.time())) == 8)
    begun = max(times[0] for times in node_samples(
        store, time.time() - 600, time.time()).values())
    time.sleep(max(0.0, begun + 3 * step - time.time()))

    stopped = time.time()
    store.ssh("systemctl stop victoriametrics")
    time.sleep(OUTAGE_SECONDS)
    assert store.ssh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8428/health",
                     check=False).stdout != "200"
    store.ssh("systemctl start victoriametrics && /usr/local/lib/monstack/wait-ready "
              "victoriametrics http://127.0.0.1:8428/health 60")
    started = time.time()
    # the window on multiples of the step, so the store's steps are these very times
    start = (int(stopped) // step - 1) * step
    end = (int(started) // step + 1) * step
    steps = set(range(start, end + 1, step))
    # the whole window must be older than the store's latency offset before it shows
    time.sleep(max(0.0, end + LATENCY_OFFSET + SCRAPE_SECONDS - time.time()))

    def missing_steps() -> dict[str, list[int]]:
        data = vm_get(store, "/api/v1/query_range", query='up{job="node"}', start=start,
                      end=end, step=f"{step}s", nocache=1)["data"]["result"]
        return {f'{r["metric"]["instance"]}/{r["metric"]["replica"]}':
                sorted(steps - {int(float(t)) for t, _ in r["values"]}) for r in data}

    def widest_gaps() -> dict[str, float]:
        return {series: max(b - a for a, b in zip(times, times[1:]))
                for series, times in node_samples(store, start - step, end).items()}

    def complete():
        missing = missing_steps()
        return len(missing) == 8 and not any(missing.values()) and missing

    try:
        found = wait_for("every step of the outage window", complete, timeout=90)
    except AssertionError:
        raise AssertionError(
            f"store stopped at {stopped:.1f}, back at {started:.1f}; steps without a value: "
            f"{missing_steps()}; widest raw gap per series (s): {widest_gaps()}") from None
    assert {series.split("/")[1] for series in found} == {h.name for h in stack["replicas"]}

    samples = node_samples(store, start - step, end)
    assert len(samples) == 8
    for series, times in samples.items():
        assert max(b - a for a, b in zip(times, times[1:])) <= 1.5 * SCRAPE_SECONDS, series
        assert times[0] <= start - SCRAPE_SECONDS and times[-1] >= end - SCRAPE_SECONDS, series


def test_switching_everything_off_removes_it_cleanly(stack, first_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [*[(mon, ["prometheus", "node_exporter"]) for mon in stack["replicas"]],
                          *[(stack[store], ["victoriametrics", "node_exporter"])
                            for store in ("packaged", "archived")]], env=stack["env"])
