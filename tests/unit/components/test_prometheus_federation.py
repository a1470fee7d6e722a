"""Federation: an operator gives each site's hosts a `site` and puts a host in the group
`federation`. Each site's Prometheus then scrapes only its own site's hosts and labels its
series `site="<site>"`; the global Prometheus scrapes the hosts without a site (itself)
and federates the selected series of every site's Prometheus.

The inventory is a real pyinfra Inventory; prometheus.yml is checked by Debian's promtool.
"""

from __future__ import annotations

import pytest
import yaml

from harness.debian import promtool_accepts, upstream_version
from operations.components.grafana import provisioning as grafana_provisioning
from operations.components.prometheus import server as prometheus, targets
from operations.base.schema import SettingsError
from operations.stack import validate

SITES = {"paris": ["paris-mon", "paris-web"], "berlin": ["berlin-mon", "berlin-web"]}
DEFAULT_MATCH = ["up", '{__name__=~".+:.+"}']


def two_sites(inventory, data: dict | None = None, global_hosts=("global1",)):
    """Two sites, each a monitoring host and a web host, and the global Prometheus (the
    version of the promtool that checks its config)."""
    return inventory(
        {"monitoring": ["paris-mon", "berlin-mon"], "web": ["paris-web", "berlin-web"],
         **SITES, "federation": list(global_hosts)},
        {"prometheus_version": upstream_version("prometheus"), **(data or {})},
        group_data={site: {"site": site} for site in SITES})


def rendered(use, name: str) -> tuple[str, dict]:
    s = use(name)
    jobs = [job for job in targets.inventory_jobs() if job["groups"]]
    text = prometheus.config_content(s, jobs)
    return text, yaml.safe_load(text)


def scrape_configs(cfg: dict) -> dict[str, dict]:
    return {c["job_name"]: c for c in cfg["scrape_configs"]}


def node_targets(use, name: str) -> list[str]:
    use(name)
    jobs = {j["name"]: j for j in targets.inventory_jobs()}
    return [t for g in jobs["node"]["groups"] for t in g["targets"]]


# -- the global Prometheus -------------------------------------------------------------------
def test_the_global_prometheus_federates_every_site(inventory, tmp_path):
    use = two_sites(inventory)
    text, cfg = rendered(use, "global1")
    jobs = scrape_configs(cfg)
    assert jobs["federate"] == {
        "job_name": "federate", "honor_labels": True, "metrics_path": "/federate",
        "params": {"match[]": DEFAULT_MATCH},
        "static_configs": [
            {"targets": ["berlin-mon:9090"], "labels": {"site": "berlin", "host": "berlin-mon"}},
            {"targets": ["paris-mon:9090"], "labels": {"site": "paris", "host": "paris-mon"}}]}
    # it is no site's Prometheus: no site label of its own, no replica of the sites'
    assert "external_labels" not in cfg["global"]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["global1:9090"]}]
    # alerts on the series of a site's replicas (federated with their replica label) are
    # one alert, as the site's own are
    assert cfg["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop",
                                                         "regex": "replica"}]
    promtool_accepts(text, tmp_path)


def test_the_global_prometheus_scrapes_no_target_of_a_site(inventory):
    use = two_sites(inventory)
    assert node_targets(use, "global1") == ["global1:9100"]
    use("global1")
    for job in targets.inventory_jobs():
        for group in job["groups"]:
            assert group["labels"]["host"] == "global1", job


def test_the_selection_is_a_setting(inventory):
    use = two_sites(inventory, {"prometheus_federate_match": ['{__name__=~"job:.+"}',
                                                              'up{job="node"}']})
    _, cfg = rendered(use, "global1")
    assert scrape_configs(cfg)["federate"]["params"] == {
        "match[]": ['{__name__=~"job:.+"}', 'up{job="node"}']}


def test_the_federate_scrape_uses_the_stacks_tls_and_login(inventory, tmp_path):
    use = two_sites(inventory, {
        "tls_enabled": True, "tls_cert_file": "/pki/{host}.crt",
        "tls_key_file": "/pki/{host}.key", "tls_ca_file": "/pki/ca.crt",
        "basic_auth_enabled": True})
    text, cfg = rendered(use, "global1")
    federate = scrape_configs(cfg)["federate"]
    assert federate["scheme"] == "https"
    assert federate["tls_config"] == {"ca_file": "/etc/monstack/ca.crt"}
    assert federate["basic_auth"] == {"username": "prometheus",
                                      "password_file": "/etc/prometheus/basic_auth_password"}
    assert federate["honor_labels"] is True and federate["metrics_path"] == "/federate"


def test_two_global_prometheus_are_an_ha_pair_federating_both_sites(inventory):
    use = two_sites(inventory, global_hosts=("global1", "global2"))
    _, cfg = rendered(use, "global2")
    assert cfg["global"]["external_labels"] == {"replica": "global2"}
    jobs = scrape_configs(cfg)
    assert jobs["prometheus"]["static_configs"] == [
        {"targets": ["global1:9090", "global2:9090"]}]
    assert [c["targets"] for c in jobs["federate"]["static_configs"]] == [
        ["berlin-mon:9090"], ["paris-mon:9090"]]


# -- each site's Prometheus ------------------------------------------------------------------
def test_a_site_prometheus_scrapes_its_site_and_carries_its_label(inventory, tmp_path):
    use = two_sites(inventory)
    text, cfg = rendered(use, "paris-mon")
    assert cfg["global"]["external_labels"] == {"site": "paris"}
    jobs = scrape_configs(cfg)
    assert "federate" not in jobs
    # the only Prometheus of its site: no replica label, scrapes itself only
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["paris-mon:9090"]}]
    assert node_targets(use, "paris-mon") == ["paris-mon:9100", "paris-web:9100"]
    assert node_targets(use, "berlin-mon") == ["berlin-mon:9100", "berlin-web:9100"]
    promtool_accepts(text, tmp_path)


def test_the_site_label_name_and_value_can_be_set(inventory):
    use = inventory(
        {"monitoring": ["a-mon"], "a": ["a-mon"], "federation": ["global1"]},
        {"prometheus_site_label": "datacenter"},
        group_data={"a": {"site": "a", "prometheus_external_labels": {"datacenter": "fra-1",
                                                                        "env": "prod"}}})
    _, cfg = rendered(use, "a-mon")
    assert cfg["global"]["external_labels"] == {"datacenter": "fra-1", "env": "prod"}
    _, cfg = rendered(use, "global1")
    assert scrape_configs(cfg)["federate"]["static_configs"] == [
        {"targets": ["a-mon:9090"], "labels": {"datacenter": "a", "host": "a-mon"}}]


def test_two_prometheus_of_one_site_are_replicas_of_that_site(inventory):
    use = inventory({"monitoring": ["a1", "a2", "b1"], "a": ["a1", "a2"], "b": ["b1"]},
                    group_data={"a": {"site": "a"}, "b": {"site": "b"}})
    _, cfg = rendered(use, "a2")
    assert cfg["global"]["external_labels"] == {"site": "a", "replica": "a2"}
    assert scrape_configs(cfg)["prometheus"]["static_configs"] == [
        {"targets": ["a1:9090", "a2:9090"]}]
    assert cfg["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop",
                                                         "regex": "replica"}]
    _, cfg = rendered(use, "b1")
    assert cfg["global"]["external_labels"] == {"site": "b"}
    assert "alert_relabel_configs" not in cfg["alerting"]


def test_without_sites_nor_federation_the_config_is_as_before(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]})
    text, cfg = rendered(use, "mon1")
    assert "external_labels" not in cfg["global"]
    assert "federate" not in scrape_configs(cfg)
    assert node_targets(use, "mon1") == ["mon1:9100", "web1:9100"]


def test_grafana_of_a_site_shows_its_own_site_by_default(inventory):
    use = two_sites(inventory)

    def prometheus_sources(name):
        return [(d["uid"], d["url"]) for d in grafana_provisioning.datasources(use(name))
                if d["uid"].startswith("prometheus")]

    assert prometheus_sources("paris-mon") == [
        ("prometheus", "http://paris-mon:9090"), ("prometheus-2", "http://berlin-mon:9090"),
        ("prometheus-3", "http://global1:9090")]
    assert prometheus_sources("berlin-mon")[0] == ("prometheus", "http://berlin-mon:9090")


# -- what is refused before anything runs ----------------------------------------------------
def test_a_federated_prometheus_without_a_site_is_refused(inventory):
    with pytest.raises(SettingsError) as exc:
        inventory({"monitoring": ["mon1", "mon2"], "a": ["mon1"], "federation": ["global1"]},
                  group_data={"a": {"site": "a"}})
    message = str(exc.value)
    assert "host mon2 runs Prometheus without a `site`" in message
    assert "group federation" in message and "mon1" not in message


def test_a_host_of_a_site_without_prometheus_is_refused(inventory):
    with pytest.raises(SettingsError) as exc:
        inventory({"monitoring": ["mon1"], "web": ["web1"], "a": ["mon1"], "b": ["web1"]},
                  group_data={"a": {"site": "a"}, "b": {"site": "b"}})
    assert "host web1 (site 'b') is scraped by no Prometheus" in str(exc.value)


def test_a_host_without_a_site_and_no_global_prometheus_is_refused(inventory):
    with pytest.raises(SettingsError) as exc:
        inventory({"monitoring": ["mon1"], "web": ["web1"], "a": ["mon1"]},
                  group_data={"a": {"site": "a"}})
    assert "host web1 (no site) is scraped by no Prometheus" in str(exc.value)


@pytest.mark.parametrize("data,message", [
    ({"prometheus_federate_match": []}, "prometheus_federate_match must name at least one"),
    ({"prometheus_federate_match": ["up{job="]},
     "prometheus_federate_match: 'up{job=' is not a series selector"),
    ({"prometheus_federate_match": [{"job": "node"}]},
     "prometheus_federate_match: {'job': 'node'} is not a series selector"),
    ({"prometheus_federate_match": "up"}, "prometheus_federate_match: expected a list"),
    ({"prometheus_site_label": "data-center"},
     "prometheus_site_label ('data-center') is not a Prometheus label name"),
    ({"prometheus_site_label": "replica"}, "must differ from prometheus_replica_label"),
    ({"site": 3}, "site: expected a string, got int 3"),
    ({"site": "  "}, "site must not be blank"),
    ({"prometheus_federate_group": ""}, "prometheus_federate_group must not be blank"),
    ({"prometheus_federation_group": "x"}, "did you mean 'prometheus_federate_group'?"),
])
def test_bad_federation_settings_are_refused(data, message):
    with pytest.raises(SettingsError) as exc:
        validate("mon1", data)
    assert message in str(exc.value)


def test_the_selection_from_the_command_line_is_read_as_a_list():
    s = validate("global1", {"prometheus_federate_match": '["up", "{job=\\"node\\"}"]'})
    assert s.prometheus_federate_match == ["up", '{job="node"}']
