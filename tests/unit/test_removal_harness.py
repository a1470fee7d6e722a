"""tests/harness/removal.py, the last step of the end-to-end modules: the inventory it
writes, the settings it reads back as the CLI does, the removal operations it expects and
its look at a host (here a folder of this machine standing in for one)."""

from __future__ import annotations

import subprocess

import pytest

from harness import removal
from operations.stack import INSTALLED


def write_module_inventory(folder):
    """An inventory as conftest.write_inventory writes one: a host with data of its own."""
    folder.mkdir()
    (folder / "inventory.py").write_text(
        "monitoring = [\n    ('10.9.0.1', {'ssh_user': 'root', "
        "'process_exporter_enabled': True}),\n]\n"
        "nodes = [\n    ('10.9.0.2', {'node_exporter_install_method': 'package'}),\n]\n")
    (folder / "group_data").mkdir()
    (folder / "group_data" / "all.py").write_text(
        "prometheus_scrape_interval = '20s'\nvictoriametrics_enabled = True\n"
        "process_exporter_names = [{'name': 'sshd', 'comm': ['sshd']}]\n")
    return folder / "inventory.py"


def test_the_settings_are_over_the_hosts_own_data_and_its_group_data(tmp_path):
    source = write_module_inventory(tmp_path / "module")
    extra = removal.switch_off_settings(["process_exporter", "node_exporter", "haproxy"])
    assert extra == {"process_exporter_enabled": False, "process_exporter_purge_data": True,
                     "node_exporter_enabled": False, "node_exporter_purge_data": True,
                     "haproxy_enabled": False}
    written = removal.inventory_with(source, tmp_path / "off")(extra)
    assert written.parent == tmp_path / "off"
    s = removal.host_settings(written)
    assert sorted(s) == ["10.9.0.1", "10.9.0.2"]
    mon, node = s["10.9.0.1"], s["10.9.0.2"]
    # the host's own True is overridden; its group data and the project's are kept
    assert not mon.process_exporter_enabled and mon.process_exporter_purge_data
    assert not node.node_exporter_enabled and node.node_exporter_purge_data
    assert node.node_exporter_install_method == "package"
    assert mon.prometheus_scrape_interval == "20s" and mon.victoriametrics_enabled
    assert mon.prometheus_enabled   # a setting the extra does not name: the project's


def test_the_removal_operations_expected_of_each_kind(tmp_path):
    s = removal.host_settings(removal.inventory_with(
        write_module_inventory(tmp_path / "module"), tmp_path / "off")({}))
    mon, node = s["10.9.0.1"], s["10.9.0.2"]
    stop = "Remove {} (disabled here): stop, disable, unit, programs"
    config = "Remove {}'s config and started stamp (disabled here)"
    purge = "Remove {0}'s data and service user (disabled here, {0}_purge_data)"
    package = "Remove {}'s package (disabled here)"
    name = "redis_exporter"   # no data folder, but a user of its own
    assert removal.removal_ops(name, mon) == [stop.format(name), config.format(name),
                                              purge.format(name)]
    name = "node_exporter"
    assert removal.removal_ops(name, node) == [stop.format(name), package.format(name),
                                               config.format(name), purge.format(name)]
    name = "cadvisor"   # runs as no user of its own, keeps no data
    assert removal.removal_ops(name, mon) == [stop.format(name), config.format(name)]
    assert "haproxy" not in INSTALLED


class LocalHost:
    """A host whose shell is this machine's."""

    def ssh(self, command, check=True, timeout=120):
        res = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                             timeout=timeout)
        assert res.returncode == 0 or not check, res.stderr
        return res


@pytest.fixture
def here(tmp_path, monkeypatch):
    for name in ("UNIT_DIR", "BIN_DIR", "STARTED"):
        (tmp_path / name).mkdir()
        monkeypatch.setattr(removal, name, str(tmp_path / name))
    return tmp_path


def test_what_is_left_names_each_thing_found_and_nothing_once_gone(here, tmp_path):
    s = removal.host_settings(removal.inventory_with(
        write_module_inventory(tmp_path / "module"), tmp_path / "off")({}))["10.9.0.1"]
    host = LocalHost()
    assert removal.what_is_left(host, "alertmanager", s) == []
    (here / "UNIT_DIR" / "alertmanager.service").write_text("[Unit]\n")
    (here / "BIN_DIR" / "amtool").write_text("")
    (here / "STARTED" / "alertmanager.service").write_text("")
    assert removal.what_is_left(host, "alertmanager", s) == [
        f"unit file {here}/UNIT_DIR/alertmanager.service",
        f"program {here}/BIN_DIR/amtool", "started stamp of alertmanager"]
    for path in ("UNIT_DIR/alertmanager.service", "BIN_DIR/amtool",
                 "STARTED/alertmanager.service"):
        (here / path).unlink()
    assert removal.what_is_left(host, "alertmanager", s) == []
