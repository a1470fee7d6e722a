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


def test_an_exporter_binds_to_the_inventory_address_and_nowhere_else(plan_for):
    plan_for("10.1.0.7", addresses={"10.1.0.7": "10.1.0.7"})
    assert context.listen_address("node_exporter") == "10.1.0.7:9100"
    assert context.local_url("node_exporter", "/metrics") == "http://10.1.0.7:9100/metrics"


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


def test_an_address_the_host_does_not_have_means_every_interface(plan_for):
    plan_for("203.0.113.9", addresses={})   # NAT: the scrape address is translated
    assert context.listen_address("node_exporter") == "0.0.0.0:9100"
    assert context.local_url("node_exporter", "/metrics") == "http://127.0.0.1:9100/metrics"


def test_local_means_loopback_without_asking_the_host(plan_for):
    h = plan_for("@local")
    assert context.listen_address("node_exporter") == "127.0.0.1:9100"
    assert h.asked == []


def test_an_ipv6_address_is_bracketed(plan_for):
    plan_for("fd00::7", addresses={"fd00::7": "fd00::7"})
    assert context.listen_address("node_exporter") == "[fd00::7]:9100"
    assert context.local_url("node_exporter", "/m") == "http://[fd00::7]:9100/m"


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
