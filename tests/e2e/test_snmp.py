"""An operator monitors network devices over SNMP: snmp_exporter on the monitoring host,
Prometheus probing each device through it.

Hosts (Debian 12): a monitoring host with Prometheus and snmp_exporter from the mirror
(Debian sid's builds repacked as upstream's archives; the snmp_exporter archive carries
upstream's snmp.yml of that tag, see harness.mirror.upstream_snmp_yml), and a "device"
running Debian's snmpd with a v2c community (UDP 161) and a v3 user (authPriv, UDP 1161
too). Three devices are listed: the v2c one, the v3 one, and the v2c agent asked with a
wrong community, which must be reported down. The community and v3 passwords come from
the environment (the secret store) and never appear in pyinfra's output.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (CORE_ONLY, mirror_settings, prom_query, service_pids, wait_for,
                           wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2)
COMMUNITY = "fleet-Comm-4d1x"
WRONG_COMMUNITY = "not-the-community-93"
V3_USER, V3_AUTH, V3_PRIV = "monstack", "auth-Pass-7q2w9", "priv-Pass-3k8m1"
SECRET_ENV = {"SNMP_COMMUNITY": COMMUNITY, "SNMP_WRONG_COMMUNITY": WRONG_COMMUNITY,
              "SNMP_V3_AUTH": V3_AUTH, "SNMP_V3_PRIV": V3_PRIV}
SECRETS = tuple(SECRET_ENV.values())

SNMPD_CONF = f"""\
agentAddress udp:161,udp:1161
rocommunity {COMMUNITY} default
rouser {V3_USER} priv
sysLocation monstack fleet
sysContact nobody@example.org
"""


def install_snmpd(device) -> None:
    """Debian's snmpd answering v2c (the community, any source) and v3 (authPriv)."""
    device.ssh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
               "snmpd snmp >/dev/null && systemctl stop snmpd", timeout=600)
    device.ssh(f"cat > /etc/snmp/snmpd.conf <<'EOF'\n{SNMPD_CONF}EOF\n"
               f"echo 'createUser {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}' "
               ">> /var/lib/snmp/snmpd.conf && systemctl start snmpd && "
               "systemctl is-active snmpd")
    # the agent answers both ways before the deploy (else the test would measure snmpd)
    device.ssh(f"snmpget -v2c -c {COMMUNITY} 127.0.0.1 1.3.6.1.2.1.1.3.0 && "
               f"snmpget -v3 -l authPriv -u {V3_USER} -a SHA -A {V3_AUTH} -x AES -X {V3_PRIV} "
               "127.0.0.1:1161 1.3.6.1.2.1.1.3.0")


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    monitoring, device = hosts
    install_snmpd(device)
    d = device.ip
    settings = {
        **mirror_settings(mirror, ["prometheus", "snmp_exporter"]), **CORE_ONLY,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "alertmanager_enabled": False, "node_exporter_enabled": False,
        "snmp_exporter_enabled": True,
        "snmp_exporter_auths": {
            "fleet_v2": {"version": 2, "community_secret": "SNMP_COMMUNITY"},
            "wrong_v2": {"version": 2, "community_secret": "SNMP_WRONG_COMMUNITY"},
            "fleet_v3": {"version": 3, "username": V3_USER, "security_level": "authPriv",
                         "auth_protocol": "SHA", "password_secret": "SNMP_V3_AUTH",
                         "priv_protocol": "AES", "priv_password_secret": "SNMP_V3_PRIV"},
        },
        "snmp_exporter_devices": [
            {"target": d, "auth": "fleet_v2", "labels": {"role": "v2c"}},
            {"target": f"{d}:1161", "auth": "fleet_v3", "labels": {"role": "v3"}},
            {"target": f"{d}:161", "auth": "wrong_v2", "module": "system"},
        ],
    }
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [monitoring], "devices": [device]}, group_data={"all": settings})
    return {"inventory": inventory, "monitoring": monitoring, "device": device}


def no_secret_in(*runs) -> None:
    for run in runs:
        for value in SECRETS:
            assert value not in run.output, f"a secret is in the output of {run.command}"


def test_devices_are_probed_and_the_wrong_community_is_down(stack):
    mon, d = stack["monitoring"], stack["device"].ip
    dry, real = preview_then_run(stack["inventory"], env=SECRET_ENV)
    assert_preview_was_exact(dry, real)
    diff = run_pyinfra(stack["inventory"], dry=True, env=SECRET_ENV, extra=["--diff"]).check()
    no_secret_in(dry, real, diff)

    assert mon.ssh("stat -c '%a %U %G' /etc/snmp_exporter/snmp.yml").stdout.split() == [
        "640", "root", "snmp_exporter"]
    assert mon.ssh("/usr/local/bin/snmp_exporter --dry-run "
                   "--config.file=/etc/snmp_exporter/snmp.yml").returncode == 0

    wait_targets_up(mon, {("snmp", d), ("snmp", f"{d}:1161"),
                          ("snmp_exporter", f"{mon.ip}:9116")}, timeout=120)
    for metric in ("snmp_scrape_pdus_returned", "ifOperStatus", "sysUpTime"):
        found = wait_for(f"{metric} of both devices", lambda m=metric: {
            r["metric"]["instance"] for r in prom_query(mon, f'{m}{{job="snmp"}}')
        } >= {d, f"{d}:1161"} or None, timeout=120)
        assert found
    roles = {r["metric"]["role"] for r in prom_query(mon, 'ifOperStatus{job="snmp"}')}
    assert roles == {"v2c", "v3"}
    # the loopback interface of the device is up, as IF-MIB says it (1)
    assert any(r["value"][1] == "1" for r in prom_query(
        mon, f'ifOperStatus{{job="snmp", instance="{d}", ifDescr="lo"}}'))

    wait_for("the wrong community reported down", lambda: [
        r for r in prom_query(mon, f'up{{job="snmp", instance="{d}:161"}}')
        if r["value"][1] == "0"], timeout=120)
    assert prom_query(mon, f'snmp_scrape_pdus_returned{{instance="{d}:161"}}') == []

    again = run_pyinfra(stack["inventory"], env=SECRET_ENV).check()
    assert again.changed_ops() == {}
    no_secret_in(again)


def test_a_changed_config_is_reloaded_not_restarted(stack):
    mon = stack["monitoring"]
    before = service_pids(mon, ["snmp_exporter"])
    data = {"snmp_exporter_modules": "[if_mib, system, ip_mib]"}
    dry = run_pyinfra(stack["inventory"], dry=True, env=SECRET_ENV, data=data).check()
    real = run_pyinfra(stack["inventory"], env=SECRET_ENV, data=data).check()
    assert_preview_was_exact(dry, real)
    no_secret_in(dry, real)
    assert "snmp_exporter | Reload snmp_exporter and wait until ready" in real.changed_ops()
    assert service_pids(mon, ["snmp_exporter"]) == before
    assert "ip_mib:" in mon.ssh("cat /etc/snmp_exporter/snmp.yml").stdout
    assert run_pyinfra(stack["inventory"], env=SECRET_ENV, data=data).check(
        ).changed_ops() == {}
