"""Where each component listens: scraped components bind only to the address Prometheus
reaches them at ("auto"); the rest on every interface unless told otherwise."""

from __future__ import annotations

import pytest

from operations.base import inventory as context
from operations.stack import validate
from harness.fake_host import FakeHost as Host


@pytest.fixture
def plan_for(monkeypatch):
    def build(name: str, data: dict | None = None, addresses: dict | None = None) -> Host:
        h = Host(name, addresses or {})
        s = validate(name, data or {})
        monkeypatch.setattr(context, "settings", lambda x=None: s)
        monkeypatch.setattr(context, "current_host", h)
        return h
    return build


@pytest.mark.parametrize("name,addresses,listen,url", [
    # an exporter binds to the inventory address and nowhere else
    ("10.1.0.7", {"10.1.0.7": "10.1.0.7"}, "10.1.0.7:9100", "http://10.1.0.7:9100/metrics"),
    # an IPv6 address is bracketed
    ("fd00::7", {"fd00::7": "fd00::7"}, "[fd00::7]:9100", "http://[fd00::7]:9100/metrics"),
    # an address the host does not have means every interface (NAT: the scrape address
    # is translated)
    ("203.0.113.9", {}, "0.0.0.0:9100", "http://127.0.0.1:9100/metrics"),
], ids=["the inventory address", "IPv6 bracketed", "not the host's: every interface"])
def test_an_exporter_binds_to_its_scrape_address_alone_where_the_host_has_it(
        plan_for, name, addresses, listen, url):
    plan_for(name, addresses=addresses)
    assert context.listen_address("node_exporter") == listen
    assert context.local_url("node_exporter", "/metrics") == url


def test_a_host_name_is_resolved_on_the_host(plan_for):
    h = plan_for("db1.lan", addresses={"db1.lan": "192.168.1.20"})
    assert context.listen_address("postgres_exporter") == "192.168.1.20:9187"
    assert h.asked == ["db1.lan"]


def test_scrape_address_decides_the_interface(plan_for):
    h = plan_for("web1.example.org", {"scrape_address": "10.9.0.3"},
                 addresses={"10.9.0.3": "10.9.0.3"})
    assert context.listen_address("redis_exporter") == "10.9.0.3:9121"
    assert h.asked == ["10.9.0.3"]
    assert context.endpoint("redis_exporter", h) == "10.9.0.3:9121"  # what Prometheus scrapes


def test_local_means_loopback_without_asking_the_host(plan_for):
    h = plan_for("@local")
    assert context.listen_address("node_exporter") == "127.0.0.1:9100"
    assert h.asked == []


def test_what_users_and_other_hosts_reach_listens_everywhere(plan_for):
    h = plan_for("mon1", addresses={"mon1": "10.0.0.2"})
    for component in ("prometheus", "alertmanager", "pushgateway", "loki", "grafana"):
        assert context.bind_address(component) == "0.0.0.0", component
    assert h.asked == []


def test_an_explicit_listen_address_wins(plan_for):
    h = plan_for("mon1", {"node_exporter_listen_address": "127.0.0.1"},
                 addresses={"mon1": "10.0.0.2"})
    assert context.listen_address("node_exporter") == "127.0.0.1:9100"
    assert h.asked == []
