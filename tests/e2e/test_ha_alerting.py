"""An operator runs the monitoring stack on three hosts so that losing one loses no alert.

Each host of the `monitoring` group runs Prometheus, Alertmanager and node_exporter: the
three Prometheus scrape the same targets (each with its own `replica` label) and send
every alert to all three Alertmanagers, which gossip with each other so that a
notification goes out once, not once per Alertmanager, and a silence made on one holds
on all. The cluster is upgraded to a newer Alertmanager, and the replicas from Debian 12's
Prometheus 2.42 to sid's 3.5, in one run, one host at a time, while alerts keep arriving
once each and never two Prometheus are down together. Then one host is powered off: the
alerts still arrive.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import CORE_ONLY, http_json, mirror_settings, wait_for, wait_targets_up
from harness.webhook import webhook_fixture

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3, suites=("bookworm", "trixie"))  # one replica on Debian 13

# Short intervals, so the test sees several notifications of the always-firing Watchdog.
GROUP_INTERVAL, REPEAT_INTERVAL, PEER_TIMEOUT = 10, 20, 3
# Alertmanager checks a group every group interval and repeats a notification once the
# last one (sent by any peer, as gossiped) is older than the repeat interval: one
# Watchdog every 20-30 s. Duplicates from another Alertmanager would come a peer timeout
# or two (3 or 6 s) after the first, or at once. Arrival times at the webhook jitter by
# well under a second; 3 s of tolerance keeps the check clear of that and still far
# from a duplicate's gap.
JITTER = 3
WINDOW = 90   # seconds of deliveries counted: three or four repeats
# The longest a firing alert may wait for its next notification while one Alertmanager is
# down: the repeat interval, then the next flush of a survivor's group (one group
# interval at most), which waits its position in the cluster (up to two peer timeouts)
# before it checks the gossiped log and sends.
LONGEST_GAP = REPEAT_INTERVAL + GROUP_INTERVAL + 2 * PEER_TIMEOUT + JITTER
OLD_ALERTMANAGER = "bookworm"   # upgraded to the newest real build (debian.NEWEST)
OLD_PROMETHEUS = "bookworm"     # 2.42, upgraded to sid's 3.5 in the same run
PROMETHEUS_ROLLING = "Prometheus | Restart prometheus one host at a time and wait until ready"


webhook = webhook_fixture("/hook/ha")


@pytest.fixture(scope="module")
def trio(hosts, fleet, mirror, webhook, tmp_path_factory):
    settings = {
        # Debian 12's Alertmanager and Prometheus at first: the rolling upgrade below
        # brings the newest
        **mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"],
                          suites={"alertmanager": OLD_ALERTMANAGER,
                                  "prometheus": OLD_PROMETHEUS}),
        **CORE_ONLY,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "alertmanager_group_wait": "1s",
        "alertmanager_group_interval": f"{GROUP_INTERVAL}s",
        "alertmanager_repeat_interval": f"{REPEAT_INTERVAL}s",
        # The n-th Alertmanager of a cluster waits n peer timeouts (default 15 s) before it
        # checks whether a notification was sent. That only deduplicates while those waits
        # are shorter than the group interval: with 10 s groups and 15 s steps the third
        # one's check falls on the first one's next flush and both send (the deploy
        # refuses that timing).
        "alertmanager_cluster_peer_timeout": f"{PEER_TIMEOUT}s",
        # only the Watchdog (severity none) reaches the webhook: nothing else to count
        "alertmanager_receivers": [{"name": "dead-mans-switch", "type": "webhook",
                                    "url_secret": "TEST_WEBHOOK_URL", "severities": ["none"]}],
    }
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": list(hosts)}, group_data={"all": settings})
    return {"inventory": inventory, "hosts": list(hosts), "fleet": fleet, "settings": settings,
            "env": {"TEST_WEBHOOK_URL": webhook.url}}


def deploy(trio):
    return run_pyinfra(trio["inventory"], env=trio["env"])


@pytest.fixture(scope="module")
def deployed(trio):
    return deploy(trio).check()


def am_url(host, path: str) -> str:
    return f"http://{host.ip}:9093/api/v2/{path}"


def cluster_of(host) -> dict:
    return http_json(am_url(host, "status"))["cluster"]


def wait_for_one_cluster(hosts) -> None:
    for host in hosts:
        wait_for(f"{host.ip}'s cluster ready with {len(hosts)} peers",
                   lambda: (c := cluster_of(host))["status"] == "ready"
                   and len(c["peers"]) == len(hosts), timeout=90)


def test_every_alertmanager_is_in_one_cluster_of_three(trio, deployed):
    wait_for_one_cluster(trio["hosts"])
    addresses = {p["address"] for p in cluster_of(trio["hosts"][0])["peers"]}
    assert addresses == {f"{h.ip}:9094" for h in trio["hosts"]}


def test_each_prometheus_names_itself_and_scrapes_the_same_targets(trio, deployed):
    everyone = trio["hosts"]
    expected = ({("node", f"{h.ip}:9100") for h in everyone}
                | {("alertmanager", f"{h.ip}:9093") for h in everyone}
                | {("prometheus", f"{h.ip}:9090") for h in everyone})
    for host in everyone:
        assert set(wait_targets_up(host, expected)) == expected
        config = yaml.safe_load(http_json(
            f"http://{host.ip}:9090/api/v1/status/config")["data"]["yaml"])
        assert config["global"]["external_labels"] == {"replica": host.ip}
        assert len(config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == 3


def watchdogs_since(webhook, since: float) -> list[tuple[float, dict]]:
    return [(t, p) for t, p in webhook.received if t >= since
            and any(a["labels"].get("alertname") == "Watchdog" for a in p.get("alerts", []))]


def test_the_watchdog_arrives_once_per_repeat_interval_not_once_per_replica(
        trio, deployed, webhook):
    # before the mesh formed each Alertmanager was alone and sent its own: count after
    wait_for_one_cluster(trio["hosts"])
    start = time.monotonic() + GROUP_INTERVAL
    time.sleep(GROUP_INTERVAL + WINDOW)
    deliveries = watchdogs_since(webhook, start)
    times = [t for t, _ in deliveries]
    gaps = [round(b - a, 1) for a, b in zip(times, times[1:])]
    print("Watchdog notifications (s into the window, sent by):",
          [(round(t - start, 1), p["externalURL"]) for t, p in deliveries], "gaps:", gaps)
    if any(gap < REPEAT_INTERVAL - JITTER for gap in gaps):
        for host in trio["hosts"]:   # what each Alertmanager saw, for the report
            print(host.ip, cluster_of(host), host.ssh(
                "journalctl -u alertmanager --no-pager -o cat | grep -iE "
                "'cluster|notify|gossip|peer' | tail -n 25", check=False).stdout)
    assert len(deliveries) >= 2, f"only {len(deliveries)} Watchdog notifications in {WINDOW} s"
    assert all(gap >= REPEAT_INTERVAL - JITTER for gap in gaps), f"duplicates: gaps {gaps} s"
    for _, payload in deliveries:
        # three replicas fired it; with their replica label dropped it is one alert
        (alert,) = payload["alerts"]
        assert "replica" not in alert["labels"], alert["labels"]


def test_a_silence_made_on_one_alertmanager_holds_on_the_others(trio, deployed):
    first, *others = trio["hosts"]
    now = datetime.now(timezone.utc)
    silence = {"matchers": [{"name": "alertname", "value": "PlannedMaintenance",
                             "isRegex": False, "isEqual": True}],
               "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
               "createdBy": "test_ha_alerting", "comment": "web1 is being rebuilt"}
    request = urllib.request.Request(am_url(first, "silences"), method="POST",
                                     data=json.dumps(silence).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        silence_id = json.loads(resp.read())["silenceID"]
    for host in others:
        wait_for(f"silence {silence_id} on {host.ip}",
                   lambda: any(s["id"] == silence_id and s["status"]["state"] == "active"
                               for s in http_json(am_url(host, "silences"))),
                   timeout=30, interval=0.5)


def test_a_second_run_changes_nothing(trio, deployed):
    # while every host is up: a powered-off one cannot be deployed to
    assert deploy(trio).check().changed_ops() == {}


def alertmanager_version(host) -> str | None:
    try:
        return http_json(am_url(host, "status"), timeout=2)["versionInfo"]["version"]
    except OSError:   # down, restarting
        return None


def prometheus_version(host) -> str | None:
    """Its upstream version (Debian's builds say 3.5.3+ds1)."""
    try:
        return http_json(f"http://{host.ip}:9090/api/v1/status/buildinfo",
                         timeout=2)["data"]["version"].split("+")[0]
    except OSError:   # down, restarting
        return None


def down_window(host, unit: str = "alertmanager") -> tuple[int, int]:
    """When `unit` last left the active state (its stop began) and last entered it
    (its new process started), in microseconds of the kernel's monotonic clock, which the
    fleet's hosts (containers of one machine) share."""
    out = host.ssh("systemctl show -p ActiveExitTimestampMonotonic "
                   f"-p ActiveEnterTimestampMonotonic {unit}").stdout
    values = dict(line.split("=", 1) for line in out.split())
    return int(values["ActiveExitTimestampMonotonic"]), int(values["ActiveEnterTimestampMonotonic"])


def fire(hosts, alert: dict) -> None:
    """What a Prometheus does with a firing alert: post it to every Alertmanager (those
    that answer)."""
    body = json.dumps([alert]).encode()
    for host in hosts:
        request = urllib.request.Request(am_url(host, "alerts"), method="POST", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=2).close()
        except urllib.error.HTTPError:
            raise   # it answered, and refused the alert
        except OSError:
            pass    # this one is restarting: the others have it


class ReadinessPoller:
    """Asks each Prometheus' /-/ready every POLL seconds (a thread per host) until
    stopped; `samples[name]`: (monotonic time, ready) of each answer or failure."""

    POLL = 0.2

    def __init__(self, hosts):
        self.hosts, self.stop = hosts, threading.Event()
        self.samples: dict[str, list[tuple[float, bool]]] = {h.name: [] for h in hosts}
        self.threads = [threading.Thread(target=self.poll, args=(h,), daemon=True)
                        for h in hosts]

    def poll(self, host) -> None:
        while not self.stop.is_set():
            asked = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://{host.ip}:9090/-/ready",
                                            timeout=1) as resp:
                    ready = resp.status == 200
            except OSError:   # refused, 503 while starting, timed out
                ready = False
            self.samples[host.name].append((asked, ready))
            self.stop.wait(max(0.0, self.POLL - (time.monotonic() - asked)))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def down_spans(self) -> dict[str, list[tuple[float, float]]]:
        """Each host's spans of answers that were not ready: (first, last) of each run
        of them (a host down between two polls that both found it ready is not seen)."""
        spans = {}
        for name, samples in self.samples.items():
            spans[name], start, last = [], None, None
            for asked, ready in samples:
                if not ready:
                    start = asked if start is None else start
                    last = asked
                elif start is not None:
                    spans[name].append((start, last))
                    start = None
            if start is not None:
                spans[name].append((start, last))
        return spans


def overlapping(spans: dict[str, list[tuple[float, float]]]) -> list:
    """Pairs of spans of two hosts that overlap in time: both not ready at once."""
    flat = sorted((a, b, name) for name, each in spans.items() for a, b in each)
    return [(x, y) for i, x in enumerate(flat) for y in flat[i + 1:]
            if x[2] != y[2] and y[0] <= x[1]]


def deliveries_of(webhook, name: str, since: float, until: float) -> list[float]:
    return [t for t, p in webhook.received if since <= t <= until
            and p.get("status") == "firing"
            and any(a["labels"].get("alertname") == name for a in p.get("alerts", []))]


def test_a_rolling_upgrade_keeps_every_alert_coming_once(trio, deployed, webhook, mirror,
                                                         tmp_path):
    """The cluster is upgraded from Debian 12's Alertmanager to the newest build, and the
    Prometheus replicas from Debian 12's 2.42 to sid's 3.5, in one run: one Alertmanager
    at a time goes down and is back in the cluster of three before the next goes, one
    Prometheus at a time goes down and is ready before the next goes (seen by a poller
    of their /-/ready), and meanwhile the Watchdog keeps arriving once per repeat
    interval, and an alert that starts firing halfway is delivered once."""
    everyone = trio["hosts"]
    wait_for_one_cluster(everyone)
    old = {h.name: (alertmanager_version(h), down_window(h)) for h in everyone}
    old_prometheus = {h.name: (prometheus_version(h), down_window(h, "prometheus"))
                      for h in everyone}
    upgrade = mirror_settings(mirror, ["alertmanager", "prometheus"])
    new_version = upgrade["alertmanager_version"]
    new_prometheus = upgrade["prometheus_version"]
    assert all(version != new_version for version, _ in old.values()), (old, new_version)
    assert all(version.startswith("2.42.") for version, _ in old_prometheus.values()), \
        old_prometheus
    assert new_prometheus.startswith("3."), new_prometheus
    settings = {**trio["settings"], "alertmanager_version": new_version,
                "prometheus_version": new_prometheus,
                "artifact_checksums": {**trio["settings"]["artifact_checksums"],
                                       **upgrade["artifact_checksums"]}}
    inventory = write_inventory(tmp_path / "inventory.py", trio["fleet"],
                                {"monitoring": everyone}, group_data={"all": settings})

    dry = run_pyinfra(inventory, dry=True, env=trio["env"]).check()
    assert dry.changed_ops().get(
        "Alertmanager | Restart alertmanager one host at a time and wait until ready") == 3, \
        dry.changed_ops()
    assert dry.changed_ops().get(PROMETHEUS_ROLLING) == 3, dry.changed_ops()
    poller = ReadinessPoller(everyone).__enter__()
    try:
        wait_for("every Prometheus polled ready", lambda: all(
            s and s[-1][1] for s in poller.samples.values()), timeout=30, interval=0.5)
        started = time.monotonic()
        done: dict = {}
        run = threading.Thread(target=lambda: done.update(
            run=run_pyinfra(inventory, env=trio["env"])))
        run.start()
        # halfway: the first Alertmanager runs the new build, the others the old one
        wait_for("the first Alertmanager upgraded",
                 lambda: any(alertmanager_version(h) == new_version for h in everyone),
                 timeout=600, interval=0.5)
        probe_fired = time.monotonic()
        now = datetime.now(timezone.utc)
        probe = {"labels": {"alertname": "RollingUpgradeProbe", "severity": "none",
                            "job": "test_ha_alerting"},
                 "annotations": {"summary": "fired while the cluster is being upgraded"},
                 "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
        fire(everyone, probe)
        assert run.is_alive(), "the upgrade was over before the probe alert fired"
        while run.is_alive():   # as Prometheus re-sends: a restarted one gets it too
            run.join(timeout=5)
            fire(everyone, probe)
        real = done["run"].check()
        finished = time.monotonic()
        # each Prometheus back and ready after the run, polled a few times more
        wait_for("every Prometheus ready again", lambda: all(
            s[-1][0] > finished and s[-1][1] for s in poller.samples.values()),
            timeout=60, interval=0.5)
    finally:
        poller.__exit__(None, None, None)
    assert_preview_was_exact(dry, real)

    # every Alertmanager runs the new build, in one cluster of three again
    wait_for_one_cluster(everyone)
    assert {h.name: alertmanager_version(h) for h in everyone} == {
        h.name: new_version for h in everyone}
    # one down at a time: each stop began after the one before had started again (and,
    # by the deploy's wait, rejoined)
    windows = sorted((down_window(h), h.name) for h in everyone)
    print("Alertmanager down windows (us, monotonic):", windows)
    for (window, name) in windows:
        assert window[1] > old[name][1][1], f"{name} was not restarted"
    for (earlier, a), (later, b) in zip(windows, windows[1:]):
        assert later[0] > earlier[1], f"{a} and {b} were down together: {windows}"

    # every Prometheus runs 3.5, restarted one at a time: each stop began after the one
    # before had started again, and never were two found not ready at once
    assert {h.name: prometheus_version(h) for h in everyone} == {
        h.name: new_prometheus for h in everyone}
    windows = sorted((down_window(h, "prometheus"), h.name) for h in everyone)
    spans = poller.down_spans()
    print("Prometheus down windows (us, monotonic):", windows, "; not ready (s into the "
          "run):", {n: [(round(a - started, 1), round(b - started, 1)) for a, b in each]
                    for n, each in spans.items()})
    for (window, name) in windows:
        assert window[1] > old_prometheus[name][1][1], f"Prometheus on {name} was not restarted"
    for (earlier, a), (later, b) in zip(windows, windows[1:]):
        assert later[0] > earlier[1], f"Prometheus on {a} and {b} were down together: {windows}"
    assert overlapping(spans) == [], f"two Prometheus not ready at once: {spans}"
    assert all(samples and samples[-1][1] for samples in poller.samples.values())

    # deliveries through the upgrade, and one repeat after it
    counted_until = finished + REPEAT_INTERVAL + GROUP_INTERVAL
    time.sleep(max(0.0, counted_until - time.monotonic()))
    watchdogs = deliveries_of(webhook, "Watchdog", started, counted_until)
    probes = deliveries_of(webhook, "RollingUpgradeProbe", probe_fired, counted_until)
    gaps = [round(b - a, 1) for a, b in zip(watchdogs, watchdogs[1:])]
    probe_gaps = [round(b - a, 1) for a, b in zip(probes, probes[1:])]
    print(f"upgrade took {finished - started:.0f} s; Watchdog at",
          [round(t - started, 1) for t in watchdogs], "gaps", gaps,
          "; probe at", [round(t - started, 1) for t in probes])
    assert len(watchdogs) >= 2, watchdogs
    assert watchdogs[0] - started <= LONGEST_GAP, "no Watchdog as the upgrade began"
    assert all(REPEAT_INTERVAL - JITTER <= gap <= LONGEST_GAP for gap in gaps), \
        f"Watchdog gaps {gaps} s: a duplicate (< {REPEAT_INTERVAL - JITTER}) or a silence " \
        f"(> {LONGEST_GAP})"
    assert probes, "the alert fired during the upgrade was never delivered"
    assert all(gap >= REPEAT_INTERVAL - JITTER for gap in probe_gaps), \
        f"the probe alert was delivered twice: gaps {probe_gaps} s"

    # and the upgraded cluster is left as the deploy wants it
    assert run_pyinfra(inventory, env=trio["env"]).check().changed_ops() == {}


def test_with_one_host_powered_off_the_watchdog_still_arrives(trio, deployed, webhook):
    first, second, third = trio["hosts"]
    trio["fleet"].stop(third)
    off = time.monotonic()
    # the survivors notice, and one of them keeps notifying
    wait_for("the survivors drop the powered-off peer",
               lambda: all(len(cluster_of(h)["peers"]) == 2 for h in (first, second)),
               timeout=60)
    wait_for("a Watchdog after the power-off",
               lambda: watchdogs_since(webhook, off), timeout=90)
