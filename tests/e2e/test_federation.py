"""An operator runs one Prometheus per site and a global one that federates what matters
from each, so the global view holds every site, each series labelled with its site.

Hosts: two sites, `a` and `b`, each a monitoring host (Prometheus, node_exporter) and a
web host (node_exporter), their `site` given in host data; and one global host in the
group `federation`. Every Prometheus evaluates the shipped recording rules (templates/
*/*.rules.yml: job:up:sum per job, instance:node_num_cpu:sum per host, ...; the test adds
no rule of its own); the global Prometheus federates the default selection: `up` and
every recording rule's result (names with a colon), nothing else.
"""


import pytest
import yaml

from operations.base.templates import shipped_rule_sets
from conftest import hosts_fixture, write_inventory
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, http_json,
                           mirror_settings, prom_query, targets, wait_for, wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(5, suites=("bookworm", "trixie"))  # a_web: Debian 13
SCRAPE_SECONDS = 5
# every series the shipped recording rules record
RECORDED = {rule["record"] for path in shipped_rule_sets().values()
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule}


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    a_mon, a_web, b_mon, b_web, global1 = hosts
    settings = {
        **mirror_settings(mirror, ["prometheus", "node_exporter"]),
        **CORE_ONLY,
        "alertmanager_enabled": False,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        # short, so federated samples show up within seconds
        "prometheus_scrape_interval": f"{SCRAPE_SECONDS}s",
        "prometheus_scrape_timeout": "4s",
        "prometheus_evaluation_interval": f"{SCRAPE_SECONDS}s",
    }
    host_data = {a_mon.ip: {"site": "a"}, a_web.ip: {"site": "a"},
                 b_mon.ip: {"site": "b"}, b_web.ip: {"site": "b"}}
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [a_mon, b_mon], "web": [a_web, b_web], "federation": [global1]},
        group_data={"all": settings}, host_data=host_data)
    return {"inventory": inventory, "hosts": hosts, "global": global1,
            "sites": {"a": (a_mon, a_web), "b": (b_mon, b_web)}}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], **kw)


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.total_changes > 0


def test_each_site_prometheus_scrapes_only_its_site_and_carries_its_label(stack, first_runs):
    for site, (mon, web) in stack["sites"].items():
        expected = {("prometheus", f"{mon.ip}:9090"), ("node", f"{mon.ip}:9100"),
                    ("node", f"{web.ip}:9100")}
        wait_targets_up(mon, expected)
        assert {(t["labels"]["job"], t["labels"]["instance"]) for t in targets(mon)} == expected
        config = yaml.safe_load(http_json(
            f"http://{mon.ip}:9090/api/v1/status/config")["data"]["yaml"])
        assert config["global"]["external_labels"] == {"site": site}


def test_the_global_prometheus_federates_instead_of_scraping_the_sites(stack, first_runs):
    g = stack["global"]
    expected = {("prometheus", f"{g.ip}:9090"), ("node", f"{g.ip}:9100")} | {
        ("federate", f"{mon.ip}:9090") for mon, _ in stack["sites"].values()}
    wait_targets_up(g, expected)
    assert {(t["labels"]["job"], t["labels"]["instance"]) for t in targets(g)} == expected
    federate = {t["labels"]["instance"]: t for t in targets(g) if t["labels"]["job"] == "federate"}
    for site, (mon, _) in stack["sites"].items():
        assert federate[f"{mon.ip}:9090"]["labels"]["site"] == site
        assert federate[f"{mon.ip}:9090"]["scrapeUrl"].startswith(
            f"http://{mon.ip}:9090/federate?match%5B%5D=up&match%5B%5D=")
    config = yaml.safe_load(http_json(
        f"http://{g.ip}:9090/api/v1/status/config")["data"]["yaml"])
    assert "external_labels" not in config["global"]   # no site of its own
    assert [c["action"] for c in config["alerting"]["alert_relabel_configs"]] == ["labeldrop"]


def test_the_global_view_has_the_selected_series_of_both_sites_apart(stack, first_runs):
    g = stack["global"]
    want = {(site, f"{h.ip}:9100") for site, pair in stack["sites"].items() for h in pair}

    def node_up():
        got = {(r["metric"].get("site"), r["metric"]["instance"]): r["value"][1]
               for r in prom_query(g, 'up{job="node",site!=""}')}
        return set(got) == want and all(v == "1" for v in got.values()) and got

    wait_for("every site's node targets up, in the global Prometheus", node_up)
    # each series keeps the labels its site gave it (honor_labels): job, instance, host
    for r in prom_query(g, 'up{job="node",site!=""}'):
        assert r["metric"]["host"] == r["metric"]["instance"].rsplit(":", 1)[0]

    def recorded():
        got = {r["metric"]["site"]: r["value"][1]
               for r in prom_query(g, 'job:up:sum{job="node",site!=""}')}
        return got == {"a": "2", "b": "2"} and got

    wait_for("each site's recording rule in the global Prometheus", recorded)

    # a shipped per-host recording rule: one series per host of each site, with its site
    def cpus():
        got = {(r["metric"].get("site"), r["metric"]["instance"]): r["value"][1]
               for r in prom_query(g, 'instance:node_num_cpu:sum{job="node",site!=""}')}
        return set(got) == want and all(float(v) >= 1 for v in got.values()) and got

    wait_for("each site's hosts' instance:node_num_cpu:sum in the global Prometheus", cpus)


def test_series_not_selected_stay_in_their_site(stack, first_runs):
    g = stack["global"]
    wait_for("federated series", lambda: prom_query(g, 'up{site="a"}'))
    for site, (mon, _) in stack["sites"].items():
        assert len(prom_query(mon, "node_load1")) == 2   # the site has them ...
    # ... the global Prometheus does not: only the one of its own host, without a site
    assert prom_query(g, 'node_load1{site!=""}') == []
    assert [r["metric"]["instance"] for r in prom_query(g, "node_load1")] == [f"{g.ip}:9100"]
    # what arrives: `up` and the shipped recording rules' results, nothing else
    wanted = {"up", "job:up:count", "job:up:sum", "job:up:ratio", "instance:node_num_cpu:sum",
              "instance:node_memory_utilisation:ratio", "instance:node_cpu_utilisation:rate5m"}
    assert wanted <= RECORDED | {"up"}, wanted - RECORDED
    wait_for("the sites' recorded series", lambda: {
        r["metric"]["__name__"] for r in prom_query(g, '{site!="",job!="federate"}')} >= wanted)
    names = {r["metric"]["__name__"] for r in prom_query(g, '{site!="",job!="federate"}')}
    assert wanted <= names <= RECORDED | {"up"}, names


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    prometheus_hosts = [mon for mon, _ in stack["sites"].values()] + [stack["global"]]
    assert_rerun_changes_nothing(lambda: deploy(stack), [
        (h, ["prometheus", "node_exporter"] if h in prometheus_hosts else ["node_exporter"])
        for h in stack["hosts"]])
