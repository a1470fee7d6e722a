"""An operator's run is cut short: the controller dies (SIGKILL) in the middle of an
upgrade, after the new Prometheus, its config and its unit were in place and before it
was restarted; later, in the
middle of a config change, after prometheus.yml was written and before the reload. The
next run must finish the job: its `--dry` names the restart (or reload) and why, the run
does it, and the run after it changes nothing.

Real binaries: Debian 12's Prometheus 2.42 and the newest Debian build (3.5.3), repacked
as upstream archives on the local mirror. One Debian 12 host.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.debian import OLDEST
from harness.pyinfra_cli import run_pyinfra, run_pyinfra_killed_after
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, http_json,
                           mirror_settings, service_pids, wait_for, wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)
COMPONENTS = ["prometheus", "alertmanager", "node_exporter"]
UNITS = ["prometheus", "alertmanager", "node_exporter"]


@pytest.fixture(scope="module")
def lab(hosts, fleet, mirror, tmp_path_factory):
    (mon,) = hosts
    common = {**CORE_ONLY, "artifact_cache_dir": str(tmp_path_factory.mktemp("cache"))}
    old = mirror_settings(mirror, COMPONENTS, suites={c: OLDEST for c in COMPONENTS})
    new = mirror_settings(mirror, COMPONENTS)
    checksums = {**old.pop("artifact_checksums"), **new.pop("artifact_checksums")}
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    write_inventory(inventory, fleet, {"monitoring": [mon]},
                    group_data={"all": {**common, **old, "artifact_checksums": checksums}})
    run_pyinfra(inventory).check()
    wait_targets_up(mon, {("prometheus", f"{mon.ip}:9090")})
    return {"inventory": inventory, "mon": mon, "old": old, "new": new}


def running_prometheus(mon) -> str:
    """What the running Prometheus says it is, without Debian's "+ds" suffix."""
    info = http_json(f"http://{mon.ip}:9090/api/v1/status/buildinfo")
    return info["data"]["version"].split("+")[0]


def test_an_upgrade_killed_before_the_restart_is_finished_by_the_next_run(lab):
    mon, new_version = lab["mon"], lab["new"]["prometheus_version"]
    old_version = lab["old"]["prometheus_version"]
    assert running_prometheus(mon) == old_version
    upgrade = {"prometheus_version": new_version}
    # killed once everything is in place, before the restart
    run_pyinfra_killed_after(lab["inventory"], "Prometheus | Install the prometheus systemd unit",
                             data=upgrade)
    # the new program is on disk, the old one still answers
    assert new_version in mon.ssh("/usr/local/bin/prometheus --version 2>&1 | head -1").stdout
    assert running_prometheus(mon) == old_version

    dry = run_pyinfra(lab["inventory"], dry=True, data=upgrade).check()
    assert dry.changed_ops() == {"Prometheus | Restart prometheus and wait until ready": 1}
    assert "prometheus runs on what an earlier run left: its program was replaced" in dry.output

    run = run_pyinfra(lab["inventory"], data=upgrade).check()
    assert run.changed_ops() == dry.changed_ops()
    assert running_prometheus(mon) == new_version
    assert_rerun_changes_nothing(lambda: run_pyinfra(lab["inventory"], data=upgrade),
                                 [(mon, UNITS)])


def test_a_config_change_killed_before_the_reload_is_finished_by_the_next_run(lab):
    mon = lab["mon"]
    change = {"prometheus_version": lab["new"]["prometheus_version"],
              "prometheus_scrape_interval": "12s"}
    run_pyinfra_killed_after(lab["inventory"],
                             "Prometheus | Write prometheus.yml (checked by promtool)",
                             data=change)
    assert "scrape_interval: 12s" in mon.ssh("cat /etc/prometheus/prometheus.yml").stdout

    def interval_in_effect() -> str:
        config = http_json(f"http://{mon.ip}:9090/api/v1/status/config")["data"]["yaml"]
        return "scrape_interval: 12s" in config

    assert not interval_in_effect()    # written, never reloaded
    pids = service_pids(mon, UNITS)
    dry = run_pyinfra(lab["inventory"], dry=True, data=change).check()
    assert dry.changed_ops() == {"Prometheus | Reload prometheus and wait until ready": 1}
    assert ("prometheus runs on what an earlier run left: /etc/prometheus/prometheus.yml "
            "changed after it last started or reloaded") in dry.output

    run = run_pyinfra(lab["inventory"], data=change).check()
    assert run.changed_ops() == dry.changed_ops()
    wait_for("the new scrape interval in effect", interval_in_effect)
    assert service_pids(mon, UNITS) == pids            # reloaded, not restarted
    assert_rerun_changes_nothing(lambda: run_pyinfra(lab["inventory"], data=change),
                                 [(mon, UNITS)])


def test_a_downgrade_below_2_55_is_refused_where_prometheus_3_ran(lab):
    """Prometheus 3 runs now (the tests above): going back to 2.42 would leave a data
    folder that 2.42 cannot read. Refused while planning, unless the operator says so."""
    mon = lab["mon"]
    back = {"prometheus_version": lab["old"]["prometheus_version"]}
    pids = service_pids(mon, UNITS)
    for dry in (True, False):
        run = run_pyinfra(lab["inventory"], dry=dry, data=back)
        assert run.returncode != 0
        assert (f"prometheus_version {back['prometheus_version']} on {mon.ip}: Prometheus "
                f"{lab['new']['prometheus_version']} runs there") in run.output
        assert "prometheus_allow_downgrade = True" in run.output
        assert "--> Beginning operation run" not in run.output
    assert service_pids(mon, UNITS) == pids
    assert running_prometheus(mon) == lab["new"]["prometheus_version"]
    # on purpose: the preview then shows the install of the old release
    allowed = run_pyinfra(lab["inventory"], dry=True,
                          data={**back, "prometheus_allow_downgrade": "true"}).check()
    assert allowed.changed_ops()[
        f"Prometheus | Install prometheus {back['prometheus_version']} from the release "
        "archive"] == 1
