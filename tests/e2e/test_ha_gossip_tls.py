"""An operator who serves the stack over TLS gets the Alertmanager cluster's gossip
encrypted and authenticated too (issue 8).

Three hosts run only Alertmanager, with `tls_enabled` and one certificate per host from a
throw-away CA, valid for the host's IP address and for TLS clients. Their gossip then runs
over mutual TLS (`--cluster.tls-config`, Debian's real Alertmanager 0.25.0): they form one
cluster and share silences, while a peer without a certificate of that CA, or one speaking
plain gossip, is turned away.
"""

import json
import socket
import ssl
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import hosts_fixture, write_inventory
from harness import pki
from harness.pyinfra_cli import run_pyinfra
from harness.stack import CORE_ONLY, mirror_settings, wait_for

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(3, suites=("bookworm", "trixie"))  # a peer on Debian 13
CLUSTER_TLS = "/etc/alertmanager/cluster-tls.yml"


@pytest.fixture(scope="module")
def trio(hosts, fleet, mirror, tmp_path_factory):
    certs = tmp_path_factory.mktemp("pki")
    pki.make_ca(certs)
    for h in hosts:
        pki.make_cert(certs, h.ip, ips=[h.ip], usage="serverAuth,clientAuth")
    settings = {
        **mirror_settings(mirror, ["alertmanager"]), **CORE_ONLY,
        "prometheus_enabled": False, "node_exporter_enabled": False,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "tls_enabled": True, "tls_cert_file": f"{certs}/{{host}}.crt",
        "tls_key_file": f"{certs}/{{host}}.key", "tls_ca_file": f"{certs}/ca.crt",
    }
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": list(hosts)}, group_data={"all": settings})
    return {"inventory": inventory, "hosts": list(hosts), "certs": certs}


@pytest.fixture(scope="module")
def deployed(trio):
    return run_pyinfra(trio["inventory"]).check()


def api(trio, host, path: str, body: dict | None = None):
    """Alertmanager's API over https, the server checked against the test CA."""
    request = urllib.request.Request(
        f"https://{host.ip}:9093/api/v2/{path}", method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"})
    tls = ssl.create_default_context(cafile=str(trio["certs"] / "ca.crt"))
    with urllib.request.urlopen(request, timeout=10, context=tls) as resp:
        return json.loads(resp.read())


def test_the_three_alertmanagers_form_one_cluster_over_mutual_tls(trio, deployed):
    for host in trio["hosts"]:
        cluster = wait_for(
            f"{host.ip}'s cluster ready with 3 peers",
            lambda: (c := api(trio, host, "status")["cluster"])["status"] == "ready"
            and len(c["peers"]) == 3 and c, timeout=90)
        assert {p["address"] for p in cluster["peers"]} == {f"{h.ip}:9094" for h in trio["hosts"]}
        unit = host.ssh("systemctl show -p ExecStart --value alertmanager").stdout
        assert f"--cluster.tls-config={CLUSTER_TLS}" in unit
        assert host.ssh(f"stat -c '%a %U:%G' {CLUSTER_TLS}").stdout.split() == [
            "640", "root:alertmanager"]
        assert "using TLS for gossip" in host.ssh(
            "journalctl -u alertmanager --no-pager -o cat").stdout


def test_a_silence_made_on_one_alertmanager_is_active_on_the_others(trio, deployed):
    first, *others = trio["hosts"]
    now = datetime.now(timezone.utc)
    silence_id = api(trio, first, "silences", {
        "matchers": [{"name": "alertname", "value": "PlannedMaintenance", "isRegex": False,
                      "isEqual": True}],
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "test_ha_gossip_tls", "comment": "gossiped over TLS"})["silenceID"]
    for host in others:
        wait_for(f"silence {silence_id} on {host.ip}",
                   lambda: any(s["id"] == silence_id and s["status"]["state"] == "active"
                               for s in api(trio, host, "silences")),
                   timeout=30, interval=0.5)


def gossip_attempt(host, tls: ssl.SSLContext | None):
    """Connect to `host`'s gossip port (with `tls`, or plain TCP) and send what a
    memberlist peer would; returns the reply (b"": hung up) or the error raised."""
    try:
        with socket.create_connection((host.ip, 9094), timeout=5) as sock:
            if tls:
                sock = tls.wrap_socket(sock, server_hostname=host.ip)
            sock.sendall(b"\x0a\x00\x00\x00" + b"\x0a\x06v1.0.0\x10\x01")
            return sock.recv(100)
    except (OSError, ssl.SSLError) as exc:   # reset, timeout, TLS alert
        return exc


def read_errors(trio, host) -> float:
    """alertmanager_tls_transport_read_errors_total: gossip connections it turned away."""
    tls = ssl.create_default_context(cafile=str(trio["certs"] / "ca.crt"))
    with urllib.request.urlopen(f"https://{host.ip}:9093/metrics", timeout=10,
                                context=tls) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("alertmanager_tls_transport_read_errors_total "):
                return float(line.split()[1])
    raise AssertionError("no alertmanager_tls_transport_read_errors_total")


def test_a_peer_without_a_certificate_of_the_ca_or_in_plain_text_is_refused(trio, deployed):
    first, second, _ = trio["hosts"]
    certs = trio["certs"]
    # memberlist's plain gossip would use UDP as well: with TLS there is no UDP socket
    assert first.ssh("ss -Hunl 'sport = :9094'").stdout.strip() == ""
    ca = str(certs / "ca.crt")
    anonymous = ssl.create_default_context(cafile=ca)
    other = certs / "other"
    pki.make_ca(other, "another CA")
    pki.make_cert(other, "intruder", ips=[second.ip], usage="serverAuth,clientAuth")
    stranger = ssl.create_default_context(cafile=ca)
    stranger.load_cert_chain(other / "intruder.crt", other / "intruder.key")
    for what, tls in (("plain gossip", None), ("TLS without a certificate", anonymous),
                      ("a certificate of another CA", stranger)):
        before = read_errors(trio, first)
        outcome = gossip_attempt(first, tls)
        print(what, "->", repr(outcome))
        if tls is not None:   # the handshake fails with a TLS alert (or a hang-up)
            assert isinstance(outcome, (ssl.SSLError, ConnectionResetError)) or outcome == b"", \
                (what, outcome)
        wait_for(f"{what} counted as a read error", lambda: read_errors(trio, first) > before,
                   timeout=10)
    # nobody joined: still the three of the stack
    assert {p["address"] for p in api(trio, first, "status")["cluster"]["peers"]} == {
        f"{h.ip}:9094" for h in trio["hosts"]}
    # while a certificate of the stack's CA gets through the handshake (the port is alive)
    peer = ssl.create_default_context(cafile=ca)
    peer.load_cert_chain(certs / f"{second.ip}.crt", certs / f"{second.ip}.key")
    with socket.create_connection((first.ip, 9094), timeout=10) as sock:
        with peer.wrap_socket(sock, server_hostname=first.ip) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert tls.getpeercert()["subjectAltName"] == (("IP Address", first.ip),)


def test_a_second_run_changes_nothing(trio, deployed):
    assert run_pyinfra(trio["inventory"]).check().changed_ops() == {}
