"""An operator on Debian prefers the distribution's packages: install_method = package.

Two hosts, Debian 12 and Debian 13, each running the whole core stack from its own
release's packages (Prometheus 2.42 and 2.53, whose promtool is a package of its own from
Debian 13 on; Alertmanager 0.25 and 0.28; the exporters of each release), as an HA pair
of Prometheus servers and a two-member Alertmanager cluster.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, http_json,
                           install_databases, prom_query, wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2, suites=("bookworm", "trixie"))
COMPONENTS = ["prometheus", "alertmanager", "node_exporter", "redis_exporter",
              "postgres_exporter"]
# Debian 12 and Debian 13's own packages
VERSIONS = {"bookworm": {"prometheus": "2.42.0", "alertmanager": "0.25.0"},
            "trixie": {"prometheus": "2.53.3", "alertmanager": "0.28.1"}}


@pytest.fixture(scope="module")
def stack(hosts, fleet, tmp_path_factory):
    for h in hosts:
        install_databases(h)
    settings = {**CORE_ONLY, **{f"{c}_install_method": "package" for c in COMPONENTS}}
    settings["postgres_exporter_create_db_user"] = True
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": hosts, "redis": hosts, "postgres": hosts},
        group_data={"all": settings})
    dry, real = preview_then_run(inventory)
    return {"inventory": inventory, "hosts": hosts, "dry": dry, "real": real}


def test_dry_run_matches_the_first_package_install(stack):
    assert_preview_was_exact(stack["dry"], stack["real"])
    assert stack["real"].changes.get("Prometheus | Install the prometheus package") == 2


def test_each_release_runs_its_own_packaged_versions(stack):
    for h in stack["hosts"]:
        # Debian's builds say "2.42.0+ds"
        build = http_json(f"http://{h.ip}:9090/api/v1/status/buildinfo")["data"]
        assert build["version"].split("+")[0] == VERSIONS[h.suite]["prometheus"], (h.suite, build)
        status = http_json(f"http://{h.ip}:9093/api/v2/status")["versionInfo"]
        assert status["version"].split("+")[0] == VERSIONS[h.suite]["alertmanager"], \
            (h.suite, status)
        # Debian 13's promtool is its own package, installed with prometheus
        assert h.ssh("promtool --version").returncode == 0


def test_packaged_binaries_serve_every_target(stack):
    expected = {(job, f"{h.ip}:{port}") for h in stack["hosts"]
                for job, port in (("node", 9100), ("redis", 9121), ("postgres", 9187),
                                  ("prometheus", 9090), ("alertmanager", 9093))}
    for h in stack["hosts"]:
        wait_targets_up(h, expected)
        assert [r["value"][1] for r in prom_query(h, "pg_up")] == ["1", "1"]
        # our units run the distribution's binaries
        assert "/usr/bin/prometheus-node-exporter" in h.ssh("systemctl cat node_exporter").stdout
        assert "/usr/bin/prometheus " in h.ssh("systemctl cat prometheus").stdout + " "


def test_rules_load_on_both_releases(stack):
    for h in stack["hosts"]:
        groups = http_json(f"http://{h.ip}:9090/api/v1/rules")["data"]["groups"]
        assert groups and all(r.get("health") == "ok" for g in groups for r in g["rules"]), \
            h.suite


def test_the_packages_own_units_never_run_beside_ours(stack):
    for h in stack["hosts"]:
        for unit in ("prometheus-node-exporter", "prometheus-redis-exporter",
                     "prometheus-postgres-exporter", "prometheus-alertmanager"):
            assert h.ssh(f"systemctl is-enabled {unit}", check=False).stdout.strip() == \
                "masked", (h.suite, unit)
            assert h.ssh(f"systemctl is-active {unit}", check=False).stdout.strip() == \
                "inactive", (h.suite, unit)
        # no policy-rc.d left behind by the install
        assert h.ssh("test -e /usr/sbin/policy-rc.d", check=False).returncode != 0


def test_a_second_package_run_changes_nothing(stack):

    assert_rerun_changes_nothing(lambda: run_pyinfra(stack["inventory"]),
                                 [(h, COMPONENTS) for h in stack["hosts"]])
