"""The demo's pieces that need no hosts: its fleet profile, inventory, sources, secrets."""

import runpy
import stat
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

import demo.__main__ as demo_cli
from demo import mirror
from demo.profile import DEMO, SSH, SSH_KEY, address
from harness.fleet import BRIDGE, CONTROLLER_IP, FLEET, NET, RUN, Fleet, Host


def test_the_default_profile_names_the_test_fleet_as_before():
    fleet = Fleet()
    host = Host(2, "amd64", fleet)
    assert (FLEET.net, FLEET.bridge, FLEET.controller_ip, FLEET.run) == (NET, BRIDGE,
                                                                         CONTROLLER_IP, RUN)
    assert (host.name, host.ip, host.dir) == ("h2", f"{NET}.12", RUN / "hosts/h2")
    assert FLEET.netns(host.name) == "hl-h2" and fleet._veth(host) == "hl-v2"
    assert fleet._cgroup_dirs(host)[0] == Path("/sys/fs/cgroup/systemd/monstack-fleet/h2")
    assert FLEET.apt_proxy_conf() == f'Acquire::http::Proxy "http://{CONTROLLER_IP}:3142";\n'


def test_the_demo_profile_shares_no_name_with_the_test_fleet():
    fleet, demo = Fleet(FLEET), Fleet(DEMO)
    for attr in ("net", "bridge", "run", "netns_prefix", "host_prefix", "cgroup", "proxy_cache"):
        assert getattr(FLEET, attr) != getattr(DEMO, attr), attr
    h, d = Host(1, "amd64", fleet), Host(1, "amd64", demo)
    assert h.name != d.name                       # nspawn --machine, hostname
    assert not DEMO.netns(d.name).startswith(FLEET.netns(FLEET.host_prefix))
    assert not FLEET.netns(h.name).startswith(DEMO.netns(DEMO.host_prefix))
    assert fleet._veth(h) != demo._veth(d)
    assert DEMO.own_proxy_socket and not FLEET.own_proxy_socket
    assert not str(DEMO.run).startswith(str(FLEET.run) + "/")
    assert demo.key == fleet.key == SSH_KEY       # shared, like the base rootfs


def test_the_shipped_inventory_names_the_demo_hosts():
    inventory = runpy.run_path(str(REPO / "inventories/demo.py"))
    assert inventory["monitoring"] == [(address(1), SSH)]
    assert inventory["web"] == [(address(2), SSH)]
    assert inventory["redis"] == [(address(3), SSH)]
    hosts, data = inventory["postgres"]
    assert hosts == [(address(3), SSH)] and data == {"postgres_exporter_create_db_user": True}
    assert address(1) == f"{DEMO.net}.11"


def test_group_data_leaves_out_what_could_not_be_had():
    sources = [
        mirror.Source("prometheus", "debian", "prometheus-2.42.0.linux-amd64.tar.gz", "a" * 64,
                      "2.42.0"),
        mirror.Source("grafana", "skipped", note="grafana skipped: ..."),
        mirror.Source("loki", "artifacts", "loki-linux-amd64.zip", "b" * 64),
        mirror.Source("alloy", "apt"),
        mirror.Source("cadvisor", "upstream", "cadvisor-v0.57.0-linux-amd64", "c" * 64),
    ]
    data = mirror.group_data(sources)
    assert data["artifact_checksums"] == {"prometheus-2.42.0.linux-amd64.tar.gz": "a" * 64,
                                          "loki-linux-amd64.zip": "b" * 64,
                                          "cadvisor-v0.57.0-linux-amd64": "c" * 64}
    assert data["prometheus_version"] == "2.42.0"
    assert data["grafana_enabled"] is False
    assert data["loki_install_method"] == "archive"
    assert "alloy_install_method" not in data and "alloy_enabled" not in data
    assert data["cadvisor_group"] == "web"


def test_a_users_file_is_used_only_when_it_matches_the_pinned_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(mirror, "MIRROR_DIR", tmp_path / "mirror")
    fake = tmp_path / "given" / mirror.release_file("grafana", "x86_64")
    fake.parent.mkdir()
    fake.write_bytes(b"not grafana")
    with pytest.raises(mirror.DemoError, match="is not the pinned"):
        mirror._from_user("grafana", fake)
    assert not (tmp_path / "mirror" / fake.name).exists()
    # no sha256 is pinned for Loki's zip: the user's file is taken, and said to be trusted
    zip_file = tmp_path / "given" / "loki-linux-amd64.zip"
    zip_file.write_bytes(b"zip")
    source = mirror._from_user("loki", zip_file)
    assert source.how == "artifacts" and "trusts your file" in source.note
    assert (tmp_path / "mirror/loki-linux-amd64.zip").read_bytes() == b"zip"


def test_the_password_file_is_private_and_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_cli, "RUN", tmp_path)
    monkeypatch.setattr(demo_cli, "SECRETS", tmp_path / "secrets.yml")
    path = demo_cli.password_file()
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_cli.password_file().read_text() == first
    import yaml
    password = yaml.safe_load(first)["GRAFANA_ADMIN_PASSWORD"]
    assert isinstance(password, str) and len(password) >= 20
