"""An operator runs the monitoring stack on three hosts so that losing one loses no alert.

Each host of the `monitoring` group runs Prometheus, Alertmanager and node_exporter: the
three Prometheus scrape the same targets (each with its own `replica` label) and send
every alert to all three Alertmanagers, which gossip with each other so that a
notification goes out once, not once per Alertmanager, and a silence made on one holds
on all. Then one host is powered off: the alerts still arrive.
"""

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import run_pyinfra
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


webhook = webhook_fixture("/hook/ha")


@pytest.fixture(scope="module")
def trio(hosts, fleet, mirror, webhook, tmp_path_factory):
    settings = {
        **mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"]),
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
    return {"inventory": inventory, "hosts": list(hosts), "fleet": fleet,
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
