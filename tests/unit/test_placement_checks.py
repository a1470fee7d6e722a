"""What runs where, refused before anything is planned: two programs of one host on one
port, a group setting naming no group of the inventory. Each case builds a real pyinfra
inventory and validates it as deploy.py does; the example inventories validate as they
are, with the project's group_data/all.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from operations import stack
from operations.base import inventory as context
from operations.base.placement import Listener, hosts_named, share_a_port
from operations.base.schema import SettingsError

REPO = Path(__file__).resolve().parents[2]
FIX_PORT = ("where only one program of a host can listen: give {change} another port, or "
            "bind the two to different IP addresses of the host (<component>_listen_address; "
            "auto, 0.0.0.0 and :: take every address)")


def refused(build, groups: dict, data: dict | None = None,
            host_data: dict | None = None) -> list[str]:
    """The errors validate_inventory() gives for that inventory, one per line ([]: none)."""
    try:
        build(groups, data, host_data)
    except SettingsError as exc:
        head, *errors = str(exc).split("\n  ")
        assert head == "invalid deploy data:"
        return errors
    return []


def clash(host: str, first: str, second: str, port: int, change: str) -> str:
    return (f"host {host}: {first} and {second} both take port {port}, "
            + FIX_PORT.format(change=change))


# -- ports ---------------------------------------------------------------------------------
def test_alertmanager_on_node_exporters_port_is_refused(inventory):
    assert refused(inventory, {"monitoring": ["mon1"]}, {"alertmanager_port": "9100"}) == [
        clash("mon1", "node_exporter_port (on auto)", "alertmanager_port (on 0.0.0.0)", 9100,
              "alertmanager_port")]


def test_grafana_on_prometheus_port_is_refused(inventory):
    assert refused(inventory, {"monitoring": ["mon1"]}, {"grafana_port": 9090}) == [
        clash("mon1", "prometheus_port (on 0.0.0.0)", "grafana_port (on 0.0.0.0)", 9090,
              "grafana_port")]


def test_the_alertmanager_gossip_port_counts_on_a_lone_alertmanager(inventory):
    assert refused(inventory, {"monitoring": ["mon1"]},
                   {"alertmanager_cluster_port": 9090}) == [
        # Alertmanager comes first in deploy order; the port changed is the one to fix
        clash("mon1", "alertmanager_cluster_port (on 0.0.0.0)", "prometheus_port (on 0.0.0.0)",
              9090, "alertmanager_cluster_port")]


def test_the_ports_vmstorage_serves_vminsert_and_vmselect_on_count(inventory):
    assert refused(inventory, {"monitoring": ["mon1"], "vmstorage": ["mon1"]},
                   {"vmstorage_vmselect_port": 9093}) == [
        clash("mon1", "alertmanager_port (on 0.0.0.0)", "vmstorage_vmselect_port (on 0.0.0.0)",
              9093, "vmstorage_vmselect_port")]


def test_lokis_fixed_grpc_port_counts(inventory):
    assert refused(inventory, {"monitoring": ["mon1"]}, {"grafana_port": 9095}) == [
        clash("mon1", "Loki's gRPC port (on 127.0.0.1)", "grafana_port (on 0.0.0.0)", 9095,
              "grafana_port")]


def test_a_setting_is_named_as_the_one_to_change_when_it_comes_first(inventory):
    # Loki's gRPC port is no setting: the clashing port to change is Alertmanager's
    data = {"alertmanager_port": 9095, "loki_enabled": True}
    assert refused(inventory, {"monitoring": ["mon1"]}, data) == [
        clash("mon1", "alertmanager_port (on 0.0.0.0)", "Loki's gRPC port (on 127.0.0.1)",
              9095, "alertmanager_port")]


def test_two_clashes_on_one_host_are_two_errors(inventory):
    errors = refused(inventory, {"monitoring": ["mon1"]},
                     {"alertmanager_port": 9100, "grafana_port": 9090})
    assert [e.split(" both take")[0] for e in errors] == [
        "host mon1: node_exporter_port (on auto) and alertmanager_port (on 0.0.0.0)",
        "host mon1: prometheus_port (on 0.0.0.0) and grafana_port (on 0.0.0.0)"]


def test_two_ip_addresses_of_a_host_may_share_a_port(inventory):
    assert refused(inventory, {"monitoring": ["mon1"]}, {
        "node_exporter_listen_address": "10.0.0.5", "alertmanager_listen_address": "127.0.0.1",
        "alertmanager_port": 9100}) == []


@pytest.mark.parametrize("node,alertmanager", [("127.0.0.1", "127.0.0.1"),
                                               ("::1", "0:0:0:0:0:0:0:1")])
def test_one_ip_address_twice_clashes(inventory, node, alertmanager):
    errors = refused(inventory, {"monitoring": ["mon1"]}, {
        "node_exporter_listen_address": node, "alertmanager_listen_address": alertmanager,
        "alertmanager_port": 9100})
    assert errors == [clash("mon1", f"node_exporter_port (on {node})",
                            f"alertmanager_port (on {alertmanager})", 9100, "alertmanager_port")]


@pytest.mark.parametrize("wide", ["0.0.0.0", "::", "auto"])
def test_every_interface_and_auto_clash_with_any_address(inventory, wide):
    errors = refused(inventory, {"monitoring": ["mon1"]}, {
        "node_exporter_listen_address": "192.168.1.5", "alertmanager_listen_address": wide,
        "alertmanager_port": 9100})
    assert errors == [clash("mon1", "node_exporter_port (on 192.168.1.5)",
                            f"alertmanager_port (on {wide})", 9100, "alertmanager_port")]


def test_ports_of_two_hosts_never_clash(inventory):
    assert refused(inventory, {"monitoring": ["mon1"], "web": ["web1"]},
                   {"alertmanager_port": 9100},
                   {"mon1": {"node_exporter_enabled": False}}) == []


def test_what_does_not_run_on_the_host_takes_no_port(inventory):
    # Grafana disabled; cAdvisor's group `docker` is not this host's; Pushgateway is off by
    # default
    assert refused(inventory, {"monitoring": ["mon1"]}, {
        "grafana_enabled": False, "grafana_port": 9090, "cadvisor_port": 9100,
        "pushgateway_port": 9093}) == []


def test_the_default_ports_of_every_component_on_one_host_do_not_clash(inventory):
    groups = {c.group: ["big1"] for c in stack.COMPONENTS.values() if c.group != "all"}
    assert set(groups) >= {"monitoring", "redis", "postgres", "docker", "vmstorage"}
    assert refused(inventory, groups, {"pushgateway_enabled": True,
                                       "blackbox_exporter_enabled": True}) == []


def test_share_a_port_compares_addresses_of_one_port_only():
    lo, lan = Listener("a", "127.0.0.1", 9100), Listener("b", "10.0.0.5", 9100)
    assert not share_a_port(lo, lan)
    assert share_a_port(lo, Listener("c", "127.0.0.1", 9100))
    assert share_a_port(Listener("d", "::", 9100), lo)
    assert not share_a_port(Listener("e", "0.0.0.0", 9101), lo)


# -- groups ----------------------------------------------------------------------------------
@pytest.mark.parametrize("groups,data,error", [
    ({"monitoring": ["mon1"], "web": ["web1"]}, {"node_exporter_group": "al"},
     "hosts mon1, web1: node_exporter_group ('al') names no group of the inventory, so "
     "it places node_exporter on no host (did you mean 'all'?): fix the name (the "
     "inventory's groups: 'monitoring', 'web', 'all'), put hosts in that group, or leave "
     "it at its default ('all')"),
    ({"monitoring": ["mon1"]}, {"prometheus_group": "monitorng"},
     "host mon1: prometheus_group ('monitorng') names no group of the inventory, so it "
     "places prometheus on no host (did you mean 'monitoring'?): fix the name (the "
     "inventory's groups: 'monitoring', 'all'), put hosts in that group, or leave it at "
     "its default ('monitoring')"),
    # an optional component's group too, once given
    ({"monitoring": ["mon1"]}, {"redis_exporter_group": "cache"},
     "host mon1: redis_exporter_group ('cache') names no group of the inventory, so it "
     "places redis_exporter on no host: fix the name (the inventory's groups: "
     "'monitoring', 'all'), put hosts in that group, or leave it at its default "
     "('redis')"),
], ids=["typo of all", "typo of monitoring", "optional component"])
def test_a_group_no_host_is_in_is_refused_with_a_suggestion_where_one_is_close(
        inventory, groups, data, error):
    assert refused(inventory, groups, data) == [error]


def test_the_default_groups_of_optional_components_may_be_absent(inventory):
    # no redis, postgres, docker, victoriametrics, vmstorage, ... and no federation group
    assert refused(inventory, {"monitoring": ["mon1"], "web": ["web1"]}) == []


def test_a_group_given_for_an_optional_component_is_taken_once_it_exists(inventory):
    assert refused(inventory, {"monitoring": ["mon1"], "cache": ["cache1"]},
                   {"redis_exporter_group": "cache"}) == []


def test_a_disabled_component_may_name_any_group(inventory):
    assert refused(inventory, {"monitoring": ["mon1"]},
                   {"redis_exporter_group": "cache", "redis_exporter_enabled": False}) == []


def test_only_the_hosts_where_it_is_enabled_are_named(inventory):
    errors = refused(inventory, {"monitoring": ["mon1"], "web": ["web1", "web2"]},
                     {"node_exporter_group": "wbe"},
                     {"mon1": {"node_exporter_enabled": False}})
    assert errors == [
        "hosts web1, web2: node_exporter_group ('wbe') names no group of the inventory, so "
        "it places node_exporter on no host (did you mean 'web'?): fix the name (the "
        "inventory's groups: 'monitoring', 'web', 'all'), put hosts in that group, or leave "
        "it at its default ('all')"]


def test_many_hosts_are_named_in_one_error():
    assert hosts_named(["a", "b", "c", "d", "e"]) == "hosts a, b, c and 2 more"
    assert hosts_named(["a"]) == "host a"


def test_a_one_host_inventory_in_no_group_monitors_itself(inventory):
    use = inventory({"all": ["laptop"]})
    assert use("laptop").prometheus_group == "monitoring"
    assert context.runs("prometheus") and context.runs("alertmanager")


def test_a_group_given_to_a_standalone_host_must_exist_too(inventory):
    assert refused(inventory, {"all": ["laptop"]}, {"prometheus_group": "mon"}) == [
        "host laptop: prometheus_group ('mon') names no group of the inventory, so it places "
        "prometheus on no host: fix the name (the inventory's groups: 'all'), put hosts in "
        "that group, or leave it at its default ('monitoring')"]


def test_the_federate_group_is_checked_where_prometheus_runs(inventory):
    errors = refused(inventory, {"monitoring": ["mon1"], "global": ["g1"]},
                     {"prometheus_federate_group": "globl"})
    assert errors == [
        "hosts g1, mon1: prometheus_federate_group ('globl') names no group of the "
        "inventory, so it places prometheus on no host (did you mean 'global'?): fix the "
        "name (the inventory's groups: 'global', 'monitoring'), put hosts in that group, or "
        "leave it at its default ('federation')"]
    assert refused(inventory, {"monitoring": ["mon1"]},
                   {"prometheus_federate_group": "globl", "prometheus_enabled": False}) == []


def test_all_is_no_group_of_the_federate_group(inventory):
    # `all` means every host only to <component>_group: no host is in a group `all`
    errors = refused(inventory, {"monitoring": ["mon1"]}, {"prometheus_federate_group": "all"})
    assert len(errors) == 1 and "prometheus_federate_group ('all') names no group" in errors[0]


# -- the example inventories, with the project's group_data/all.py --------------------------
# Loaded as the pyinfra CLI loads them (its inventory reader, from the repository's top
# folder), in a process of its own: importing pyinfra_cli patches ssl for every test after.
VALIDATE_AS_THE_CLI_DOES = """
import sys
from pyinfra.api import Config, State
from pyinfra.context import ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory
import operations.stack
from operations.base.inventory import validate_inventory
state = State(check_for_changes=False)
with ctx_state.use(state):
    inventory = make_inventory(sys.argv[1], cwd=".")
    state.init(inventory, Config())
    with ctx_inventory.use(inventory):
        validate_inventory()
print(" ".join(h.name for h in inventory))
"""


@pytest.mark.parametrize("name,hosts", [
    ("inventories/prod.py", 5), ("inventories/homelab.py", 3), ("inventories/laptop.py", 1),
    ("inventories/demo.py", 3), ("@local", 1)])
def test_the_example_inventories_validate(name, hosts):
    res = subprocess.run([sys.executable, "-c", VALIDATE_AS_THE_CLI_DOES, name], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(res.stdout.split()) == hosts
