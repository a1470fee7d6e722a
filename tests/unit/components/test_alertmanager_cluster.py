"""An operator puts Alertmanager on several hosts: they gossip with each other (over mutual
TLS where the stack has TLS), and settings that would break the cluster are refused. One
host stays exactly as before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harness import debian, pki
from harness.peers import inventory  # noqa: F401
from operations.components.alertmanager import server as alertmanager
from operations.base import inventory as context
from operations.base.schema import SettingsError
from operations.components.alertmanager.server import cluster_size_problems as alertmanager_cluster_size_problems
from operations.stack import validate
from harness.fake_host import FakeHost as Host


# -- Alertmanager cluster -------------------------------------------------------------------
def test_a_single_alertmanager_opens_no_gossip_port(inventory):
    am = Host("10.0.0.11")
    s = inventory(am, [am])
    assert alertmanager.flags(s, "/usr/local/bin/alertmanager") == [
        "/usr/local/bin/alertmanager", "--config.file=/etc/alertmanager/alertmanager.yml",
        "--storage.path=/var/lib/alertmanager", "--web.listen-address=0.0.0.0:9093",
        "--cluster.listen-address="]


def test_three_alertmanagers_each_gossip_with_the_two_others(inventory):
    a, b, c = Host("10.0.0.11"), Host("10.0.0.12"), Host("10.0.0.13")
    s = inventory(b, [c, a, b], data={"alertmanager_extra_flags": ["--log.level=debug"]})
    assert alertmanager.flags(s, "/usr/local/bin/alertmanager", ["--web.config.file=w"]) == [
        "/usr/local/bin/alertmanager", "--config.file=/etc/alertmanager/alertmanager.yml",
        "--storage.path=/var/lib/alertmanager", "--web.listen-address=0.0.0.0:9093",
        # gossip only where the peers reach this host, and that address advertised
        "--cluster.listen-address=10.0.0.12:9094",
        "--cluster.advertise-address=10.0.0.12:9094",
        "--cluster.peer=10.0.0.11:9094", "--cluster.peer=10.0.0.13:9094",
        "--cluster.peer-timeout=15s",
        "--web.config.file=w", "--log.level=debug"]


def test_peers_are_reached_at_their_scrape_address_and_their_own_cluster_port(inventory):
    a = Host("am1.example.org", {"am1.example.org": "192.168.5.1"})
    b = Host("am2.example.org")
    s = inventory(a, [a, b], per_host={
        "am2.example.org": {"scrape_address": "192.168.5.2", "alertmanager_cluster_port": 9700}})
    assert alertmanager.cluster_flags(s) == [
        "--cluster.listen-address=192.168.5.1:9094",
        "--cluster.advertise-address=192.168.5.1:9094",
        "--cluster.peer=192.168.5.2:9700", "--cluster.peer-timeout=15s"]


def test_behind_nat_gossip_listens_everywhere_and_advertises_the_reached_address(inventory):
    a, b = Host("203.0.113.5", addresses={}), Host("203.0.113.6", addresses={})
    s = inventory(a, [a, b])
    assert alertmanager.cluster_flags(s) == [
        "--cluster.listen-address=0.0.0.0:9094",
        "--cluster.advertise-address=203.0.113.5:9094",
        "--cluster.peer=203.0.113.6:9094", "--cluster.peer-timeout=15s"]
    # a name cannot be advertised: Alertmanager then picks a private address of its own
    named, other = Host("am1.example.org", addresses={}), Host("am2.example.org", {})
    s = inventory(named, [named, other])
    assert alertmanager.cluster_flags(s) == ["--cluster.listen-address=0.0.0.0:9094",
                                             "--cluster.peer=am2.example.org:9094",
                                             "--cluster.peer-timeout=15s"]


def test_an_explicit_listen_address_is_where_gossip_listens_and_peers_call(inventory):
    a, b = Host("am1"), Host("am2")
    s = inventory(a, [a, b], per_host={"am1": {"alertmanager_listen_address": "10.9.0.1"},
                                       "am2": {"alertmanager_listen_address": "10.9.0.2"}})
    assert alertmanager.cluster_flags(s) == [
        "--cluster.listen-address=10.9.0.1:9094", "--cluster.advertise-address=10.9.0.1:9094",
        "--cluster.peer=10.9.0.2:9094", "--cluster.peer-timeout=15s"]


def test_ipv6_gossip_addresses_are_bracketed(inventory):
    a, b = Host("fd00::1"), Host("fd00::2")
    s = inventory(a, [a, b])
    assert alertmanager.cluster_flags(s) == [
        "--cluster.listen-address=[fd00::1]:9094", "--cluster.advertise-address=[fd00::1]:9094",
        "--cluster.peer=[fd00::2]:9094", "--cluster.peer-timeout=15s"]


def test_the_cluster_port_must_differ_from_the_web_port():
    with pytest.raises(SettingsError, match="alertmanager_cluster_port"):
        validate("am1", {"alertmanager_cluster_port": 9093})


# -- gossip over mutual TLS -----------------------------------------------------------------
TLS = {"tls_enabled": True, "tls_cert_file": "pki/{host}.crt", "tls_key_file": "pki/{host}.key",
       "tls_ca_file": "pki/ca.crt"}
TLS_FLAG = "--cluster.tls-config=/etc/alertmanager/cluster-tls.yml"


def test_with_tls_enabled_the_cluster_gossips_over_mutual_tls(inventory):
    a, b, c = Host("10.0.0.11"), Host("10.0.0.12"), Host("10.0.0.13")
    s = inventory(a, [a, b, c], data=TLS)
    assert alertmanager.cluster_flags(s)[-2:] == ["--cluster.peer-timeout=15s", TLS_FLAG]
    assert alertmanager.gossip_encrypted(s)


def test_a_single_alertmanager_gets_no_cluster_tls_even_with_tls(inventory):
    am = Host("10.0.0.11")
    s = inventory(am, [am], data=TLS)
    assert alertmanager.cluster_flags(s) == ["--cluster.listen-address="]
    assert not alertmanager.gossip_encrypted(s)


@pytest.mark.parametrize("data", [{}, {**TLS, "alertmanager_cluster_tls_enabled": "false"}])
def test_gossip_stays_plain_without_tls_or_when_turned_off(inventory, data):
    a, b = Host("10.0.0.11"), Host("10.0.0.12")
    s = inventory(a, [a, b], data=data)
    flags = alertmanager.cluster_flags(s)
    assert not any(f.startswith("--cluster.tls-config") for f in flags)
    assert "--cluster.peer-timeout=15s" in flags


def test_the_peer_timeout_is_a_setting(inventory):
    a, b = Host("10.0.0.11"), Host("10.0.0.12")
    s = inventory(a, [a, b], data={"alertmanager_cluster_peer_timeout": "3s",
                                   "alertmanager_group_interval": "10s"})
    assert alertmanager.cluster_flags(s)[-1] == "--cluster.peer-timeout=3s"


def test_the_cluster_tls_file_is_mutual_tls_with_the_hosts_certificate():
    data = yaml.safe_load(alertmanager.cluster_tls_yml())
    # the exact keys Alertmanager reads (it refuses unknown ones: yaml.UnmarshalStrict)
    assert data == {
        "tls_server_config": {"cert_file": "/etc/alertmanager/tls.crt",
                              "key_file": "/etc/alertmanager/tls.key",
                              "client_auth_type": "RequireAndVerifyClientCert",
                              "client_ca_file": "/etc/monstack/ca.crt"},
        "tls_client_config": {"cert_file": "/etc/alertmanager/tls.crt",
                              "key_file": "/etc/alertmanager/tls.key",
                              "ca_file": "/etc/monstack/ca.crt"}}


def run_trial(tls_file: Path, config: Path) -> subprocess.CompletedProcess:
    binary = str(debian.program("alertmanager"))
    command = alertmanager.trial_command(binary).replace(
        alertmanager.CONFIG, str(config)).format(path=str(tls_file))
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)


def test_the_trial_start_refuses_a_cluster_tls_file_alertmanager_cannot_use(tmp_path):
    config = tmp_path / "alertmanager.yml"
    config.write_text("route: {receiver: x}\nreceivers: [{name: x}]\n")
    pki.make_ca(tmp_path)
    cert, _ = pki.make_cert(tmp_path, "am1", ips=["127.0.0.1"], usage="serverAuth,clientAuth")
    missing_key = tmp_path / "bad.yml"
    missing_key.write_text(alertmanager.cluster_tls_yml()
                           .replace("/etc/alertmanager/tls.crt", str(cert))
                           .replace("/etc/alertmanager/tls.key", str(tmp_path / "none.key"))
                           .replace("/etc/monstack/ca.crt", str(tmp_path / "ca.crt")))
    res = run_trial(missing_key, config)
    assert res.returncode != 0
    assert "gossip" in res.stderr and "none.key" in res.stderr, res.stderr
    unknown_key = tmp_path / "typo.yml"
    unknown_key.write_text("tls_server_config:\n  cert_flie: x\n")
    res = run_trial(unknown_key, config)
    assert res.returncode != 0 and "cert_flie" in res.stderr, res.stderr


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    pki.make_ca(folder)
    pki.make_cert(folder, "both", ips=["10.0.0.11"], dns=["am1.example.org"],
                  usage="serverAuth,clientAuth")
    pki.make_cert(folder, "server-only", ips=["10.0.0.11"])
    pki.make_cert(folder, "name-only", dns=["am1.example.org"], usage="serverAuth,clientAuth")
    return {p.stem: p.read_text() for p in folder.glob("*.crt")}


def test_a_certificate_for_clients_and_the_gossip_address_is_accepted(certs):
    assert alertmanager.gossip_certificate_problem(certs["both"], "10.0.0.11") is None
    # an address Alertmanager picks itself cannot be checked
    assert alertmanager.gossip_certificate_problem(certs["name-only"], "am1.example.org") is None


def test_a_certificate_only_for_servers_is_refused(certs):
    problem = alertmanager.gossip_certificate_problem(certs["server-only"], "10.0.0.11")
    assert "clientAuth" in problem


def test_a_certificate_without_the_gossip_ip_is_refused(certs):
    problem = alertmanager.gossip_certificate_problem(certs["name-only"], "10.0.0.11")
    assert "IP:10.0.0.11" in problem and "none" in problem
    problem = alertmanager.gossip_certificate_problem(certs["both"], "10.0.0.12")
    assert "IP:10.0.0.12" in problem and "10.0.0.11" in problem


class PackagedHost(Host):
    def __init__(self, name, version):
        super().__init__(name)
        self.version = version

    def get_fact(self, fact, **kw):
        if fact is alertmanager.PackageVersion:
            return self.version
        return super().get_fact(fact, **kw)


@pytest.mark.parametrize("version, refused", [("0.21.0+ds-1", True), ("0.25.0-1+b4", False),
                                              (None, False)])
def test_a_package_without_cluster_tls_is_refused_before_anything_changes(
        inventory, monkeypatch, certs, version, refused):
    a, b = PackagedHost("10.0.0.11", version), Host("10.0.0.12")
    s = inventory(a, [a, b], data={**TLS, "alertmanager_install_method": "package"})
    monkeypatch.setattr(alertmanager, "protection",
                        lambda: type("P", (), {"cert_pem": certs["both"]})())
    if refused:
        with pytest.raises(SettingsError, match="prometheus-alertmanager 0.21.0.* lacks"):
            alertmanager.check_gossip_tls(s)
    else:
        alertmanager.check_gossip_tls(s)


def test_a_certificate_peers_cannot_verify_is_refused_naming_the_way_out(
        inventory, monkeypatch, certs):
    a, b = Host("10.0.0.11"), Host("10.0.0.12")
    s = inventory(a, [a, b], data=TLS)
    monkeypatch.setattr(alertmanager, "protection",
                        lambda: type("P", (), {"cert_pem": certs["server-only"]})())
    with pytest.raises(SettingsError, match="host 10.0.0.11: tls_cert_file cannot encrypt.*"
                                            "alertmanager_cluster_tls_enabled = 'false'"):
        alertmanager.check_gossip_tls(s)


# -- the cluster's timing against its size, and the settings of it --------------------------
def size_problems(size: int, **data) -> list[str]:
    return alertmanager_cluster_size_problems(validate("am1", data).values, size)


def test_the_default_timing_suits_clusters_of_up_to_twenty_alertmanagers():
    # 5m groups, 15 s peer timeout: the 20th waits 285 s
    assert size_problems(20) == []
    (problem,) = size_problems(21)
    assert "alertmanager_group_interval (5m) must be longer" in problem
    assert "(21 - 1) x alertmanager_cluster_peer_timeout (15s) = 300s" in problem


@pytest.mark.parametrize("interval, timeout, size, ok", [
    ("10s", "3s", 3, True),      # the HA test's: the third waits 6 s
    ("30s", "15s", 3, False),    # the third checks on the first one's next flush
    ("29s", "15s", 2, True),
    ("1m", "15s", 5, False),
    ("10s", "15s", 1, True),     # no cluster: no waiting
])
def test_a_group_interval_too_short_for_the_cluster_is_an_error(interval, timeout, size, ok):
    problems = size_problems(size, alertmanager_group_interval=interval,
                             alertmanager_cluster_peer_timeout=timeout)
    assert (problems == []) is ok, problems


def test_cluster_flags_refuse_that_timing_too_for_a_deploy_of_ones_own(inventory):
    a, b, c = Host("10.0.0.11"), Host("10.0.0.12"), Host("10.0.0.13")
    s = inventory(a, [a, b, c], data={"alertmanager_group_interval": "20s"})
    with pytest.raises(SettingsError, match="host 10.0.0.11: alertmanager_group_interval"):
        alertmanager.cluster_flags(s)


def test_an_archive_version_without_cluster_tls_is_refused_when_the_gossip_would_use_it():
    old = {**TLS, "alertmanager_version": "0.23.0"}
    (problem,) = size_problems(2, **old)
    assert "alertmanager_version 0.23.0 lacks" in problem and "0.24.0" in problem
    assert size_problems(1, **old) == []       # no cluster, no gossip
    assert size_problems(2, **old, alertmanager_cluster_tls_enabled="false") == []
    assert size_problems(2, **TLS, alertmanager_version="0.24.0") == []


@pytest.mark.parametrize("data, message", [
    ({"alertmanager_cluster_peer_timeout": "1d"}, r"alertmanager_cluster_peer_timeout \(1d\)"),
    ({"alertmanager_cluster_peer_timeout": "0s"}, "must be longer than 0"),
    ({"alertmanager_cluster_peer_timeout": "soon"}, "is not a duration"),
    ({"alertmanager_cluster_tls_enabled": "true"}, "needs tls_enabled"),
    ({"alertmanager_cluster_tls_enabled": "yes"}, "is not one of auto, true, false"),
    ({"alertmanager_extra_flags": ["--cluster.peer-timeout=3s"]},
     "--cluster.peer-timeout is set by monstack.*use the setting "
     "alertmanager_cluster_peer_timeout"),
    ({**TLS, "alertmanager_extra_flags": ["--cluster.tls-config=/x.yml"]},
     "--cluster.tls-config is set by monstack"),
])
def test_bad_cluster_settings_are_refused(data, message):
    with pytest.raises(SettingsError, match=message):
        validate("am1", data)


def test_a_gossip_tls_config_of_ones_own_is_allowed_when_monstack_sets_none():
    validate("am1", {"alertmanager_extra_flags": ["--cluster.tls-config=/x.yml"]})
    validate("am1", {**TLS, "alertmanager_cluster_tls_enabled": False,
                     "alertmanager_extra_flags": ["--cluster.tls-config=/x.yml"]})


@pytest.fixture
def real_inventory(monkeypatch, tmp_path):
    """validate_inventory() on a real pyinfra inventory of `groups` with `data` for all."""
    from pyinfra.api import Config, Inventory, State
    from pyinfra.context import ctx_inventory, ctx_state
    made = []

    def check(groups: dict[str, list[str]], data: dict, per_host: dict | None = None):
        names = sorted({n for hosts in groups.values() for n in hosts})
        common = {"secrets_file": str(tmp_path / "secrets.yml"), **data}
        inv = Inventory(([(n, {**common, **(per_host or {}).get(n, {})}) for n in names], {}),
                        **{g: (hosts, {}) for g, hosts in groups.items()})
        monkeypatch.setattr(context, "_validated", {})
        for cm in (ctx_inventory.use(inv), ctx_state.use(State(inv, Config()))):
            made.append(cm)
            cm.__enter__()
        context.validate_inventory()

    yield check
    for cm in reversed(made):
        cm.__exit__(None, None, None)


def test_the_whole_inventory_is_checked_before_anything_is_planned(real_inventory):
    short = {"alertmanager_group_interval": "30s"}
    with pytest.raises(SettingsError) as caught:
        real_inventory({"monitoring": ["mon1", "mon2", "mon3"], "web": ["web1"]}, short)
    message = str(caught.value)
    assert message.startswith("invalid deploy data:")
    # one line per Alertmanager host, none for the host without one
    assert [line.split(":")[0].strip() for line in message.splitlines()[1:]] == [
        "host mon1", "host mon2", "host mon3"]
    assert "(3 - 1) x alertmanager_cluster_peer_timeout (15s) = 30s" in message
    # two Alertmanagers wait 15 s at most: 30 s groups are fine
    real_inventory({"monitoring": ["mon1", "mon2"]}, short)


def test_alertmanagers_that_would_not_understand_each_others_gossip_are_refused(
        real_inventory):
    with pytest.raises(SettingsError, match="gossip over TLS on mon1, mon3 and in plain text "
                                            "on mon2.*same value for every Alertmanager"):
        real_inventory({"monitoring": ["mon1", "mon2", "mon3"]}, TLS,
                       per_host={"mon2": {"alertmanager_cluster_tls_enabled": "false"}})
    # outside the cluster (no Alertmanager there) the setting does not matter
    real_inventory({"monitoring": ["mon1", "mon2"], "web": ["web1"]}, TLS,
                   per_host={"web1": {"alertmanager_cluster_tls_enabled": "false"}})
