"""pyroscope: its settings, pyroscope.yaml, the unit, the Grafana data source, and its TEST
DOUBLE (tests/harness/doubles/pyroscope_double.py), which the fleet test installs in its
place: the double must take what the deploy writes, refuse what the real one refuses
first, and store and answer what the REAL Pyroscope SDK (PyPI's pyroscope-io) sends.

The real pyroscope binary cannot run here (Debian builds none; upstream's downloads are
not reachable). Everything runs on this machine, on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from harness import doubles
from harness.doubles import pyroscope_double as double
from harness.fake_host import FakeHost
from harness.mirror import Mirror
from harness.net import Running, free_port, http_request as request
from harness.one_address import current  # noqa: F401,F811
from harness.units import directives, exec_start_argv
from operations.base import artifacts, inventory as context, placement
from operations.base.schema import SettingsError
from operations.components import pyroscope
from operations.components.grafana import provisioning as gp
from operations.components.prometheus import federation
from operations.stack import COMPONENTS, RELEASES, validate

PINNED = RELEASES["pyroscope"]["version"]


# -- the component and its settings ------------------------------------------------------------
def test_it_is_opt_in_on_the_monitoring_hosts_at_4040():
    c = COMPONENTS["pyroscope"]
    assert (c.enabled, c.group, c.port, c.scrape_job[0]) == (False, "monitoring", 4040,
                                                              "pyroscope")
    s = validate("mon1", {})
    assert s.pyroscope_enabled is False and s.pyroscope_install_method == "archive"
    assert (s.pyroscope_data_dir, s.pyroscope_retention_period) == ("/var/lib/pyroscope",
                                                                     "30d")


def test_release_entry():
    r = RELEASES["pyroscope"]
    assert r["file"].format(version=PINNED, arch="amd64") == \
        f"pyroscope_{PINNED}_linux_amd64.tar.gz"
    assert r["top_dir"] is None and r["binaries"] == {"pyroscope": "pyroscope"}
    assert r["arch"] == {"x86_64": "amd64", "aarch64": "arm64"}   # no 32-bit ARM build
    assert r["checksums"].endswith("v{version}/checksums.txt")
    assert COMPONENTS["pyroscope"].checksums == {}   # one public source only: none pinned
    assert "v1.21.1" in r["notes"] and "NO sha256" in r["notes"]


@pytest.mark.parametrize("data,problem", [
    ({"pyroscope_install_method": "package"}, "no package"),
    ({"pyroscope_retention_period": "12h"}, "at least 24h"),
    ({"pyroscope_retention_period": "1month"}, "duration"),
])
def test_settings_refused(data, problem):
    with pytest.raises(SettingsError, match=problem):
        validate("mon1", data)


@pytest.mark.parametrize("retention", ["0s", "24h", "90d", "1y"])
def test_retention_taken(retention):
    assert validate("mon1", {"pyroscope_retention_period": retention}) \
        .pyroscope_retention_period == retention


def test_loki_and_pyroscope_share_a_host_without_a_port_clash(monkeypatch):
    """Loki binds gRPC 127.0.0.1:9095, dskit's default: Pyroscope's gRPC takes another."""
    h = FakeHost("mon1", groups=("monitoring",))
    s = validate("mon1", {"loki_enabled": True, "pyroscope_enabled": True})
    monkeypatch.setattr(placement, "settings", lambda h=None: s)
    monkeypatch.setattr(placement, "runs", lambda name, h: name in ("loki", "pyroscope"))
    ports = [(x.address, x.port) for x in placement.listeners(h)]
    assert ("127.0.0.1", 9095) in ports and ("127.0.0.1", pyroscope.GRPC_PORT) in ports
    assert placement.port_clashes([h]) == []


# -- pyroscope.yaml ------------------------------------------------------------------------------
def config(**data) -> dict:
    return yaml.safe_load(pyroscope.config_content(validate("mon1", data)))


def test_config_single_binary_on_the_local_disk():
    cfg = config()
    assert cfg["target"] == "all" and cfg["multitenancy_enabled"] is False
    assert cfg["server"] == {"http_listen_address": "0.0.0.0", "http_listen_port": 4040,
                             "grpc_listen_address": "127.0.0.1", "grpc_listen_port": 9097}
    assert cfg["pyroscopedb"] == {"data_path": "/var/lib/pyroscope/data"}
    assert cfg["storage"] == {"backend": "filesystem",
                              "filesystem": {"dir": "/var/lib/pyroscope/shared"}}
    assert cfg["compactor"]["data_dir"] == "/var/lib/pyroscope/compactor"
    assert cfg["store_gateway"]["bucket_store"] == {"sync_dir": "/var/lib/pyroscope/sync"}
    assert cfg["limits"] == {"compactor_blocks_retention_period": "30d"}
    assert cfg["memberlist"] == {"bind_addr": ["127.0.0.1"], "bind_port": 7946}
    assert cfg["self_profiling"] == {"disable_push": True}
    assert cfg["analytics"] == {"reporting_enabled": False}
    # every ring advertises where the HTTP port answers on this host
    rings = [cfg["distributor"]["ring"]["instance_addr"],
             cfg["ingester"]["lifecycler"]["address"], cfg["frontend"]["instance_addr"],
             cfg["store_gateway"]["sharding_ring"]["instance_addr"],
             cfg["compactor"]["sharding_ring"]["instance_addr"],
             cfg["query_scheduler"]["ring"]["instance_addr"]]
    assert rings == ["127.0.0.1"] * 6


def test_config_follows_the_settings():
    cfg = config(pyroscope_data_dir="/srv/pyro/", pyroscope_port=4141,
                 pyroscope_listen_address="10.0.0.5", pyroscope_retention_period="0s")
    assert cfg["server"]["http_listen_address"] == "10.0.0.5"
    assert cfg["server"]["http_listen_port"] == 4141
    assert cfg["pyroscopedb"]["data_path"] == "/srv/pyro/data"
    assert cfg["storage"]["filesystem"]["dir"] == "/srv/pyro/shared"
    assert cfg["limits"]["compactor_blocks_retention_period"] == "0s"
    assert cfg["ingester"]["lifecycler"] == {"address": "10.0.0.5"}
    assert cfg["distributor"]["ring"] == {"instance_addr": "10.0.0.5"}


def test_config_on_every_ipv6_address():
    cfg = config(pyroscope_listen_address="::")
    assert cfg["ingester"]["lifecycler"] == {"address": "::1", "enable_inet6": True}
    assert cfg["compactor"]["sharding_ring"] == {"instance_addr": "::1",
                                                 "instance_enable_ipv6": True}


def test_config_says_it_has_no_authentication():
    text = pyroscope.config_content(validate("mon1", {}))
    assert "No authentication" in text and "reverse proxy" in text


def test_validator_is_modules():
    assert pyroscope.validator("/usr/local/bin/pyroscope").format(
        path="/etc/pyroscope/.pyroscope.yaml.new") == (
        "/usr/local/bin/pyroscope -config.file=/etc/pyroscope/.pyroscope.yaml.new -modules")


def test_unit(current):
    s = current({"pyroscope_enabled": True})
    lines = directives(pyroscope.unit(s, "/usr/local/bin/pyroscope").content())
    assert "User=pyroscope" in lines and "ReadWritePaths=/var/lib/pyroscope" in lines
    assert "ProtectSystem=strict" in lines and "CapabilityBoundingSet=" in lines
    assert not any(line.startswith("ExecReload") for line in lines)   # restarts on change
    assert exec_start_argv("\n".join(lines)) == [
        "/usr/local/bin/pyroscope", "-config.file=/etc/pyroscope/pyroscope.yaml"]


# -- the Grafana data source ----------------------------------------------------------------------
def test_grafana_data_source_where_a_pyroscope_runs(monkeypatch):
    def datasources(per_host):
        hosts = [FakeHost(n, groups=("monitoring",) if n.startswith("mon") else ())
                 for n in per_host]
        known = {h.name: validate(h.name, per_host[h.name]) for h in hosts}
        lookup = lambda h=None: known[(h or hosts[0]).name]  # noqa: E731
        monkeypatch.setattr(context, "inventory", hosts)
        monkeypatch.setattr(context, "current_host", hosts[0])
        for module in (context, federation, gp):
            monkeypatch.setattr(module, "settings", lookup)
        return {d["uid"]: d for d in gp.datasources(known["mon1"])}

    assert "pyroscope" not in datasources({"mon1": {}})
    found = datasources({"mon1": {}, "mon2": {"pyroscope_enabled": True,
                                              "pyroscope_port": 4141}})
    assert found["pyroscope"] == {"uid": "pyroscope", "name": "Pyroscope",
                                  "type": "grafana-pyroscope-datasource",
                                  "url": "http://mon2:4141", "access": "proxy",
                                  "isDefault": False}


# -- the double: command line and config ------------------------------------------------------------
def install(tmp_path: Path) -> Path:
    """The launcher as the deploy installs it: /usr/local/bin/pyroscope."""
    path = tmp_path / "bin" / "pyroscope"
    path.parent.mkdir(exist_ok=True)
    path.write_text(doubles.launcher("pyroscope"))
    path.chmod(0o755)
    return path


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60,
                          **kw)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_launcher_says_test_double(tmp_path):
    text = doubles.launcher("pyroscope")
    assert text.splitlines()[1] == (
        "# PYROSCOPE TEST DOUBLE (tests/harness/doubles/pyroscope_double.py): this is not "
        f"pyroscope, it stands in for pyroscope {PINNED}.")
    compile(text, "pyroscope", "exec")
    res = run([install(tmp_path), "-version"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ("pyroscope TEST DOUBLE (NOT Pyroscope), standing in for "
                                  f"pyroscope version {PINNED}")


def test_unknown_flags_and_modes_are_refused(tmp_path):
    binary = install(tmp_path)
    res = run([binary, "-config.fil=/x"])
    assert res.returncode == 2 and "flag provided but not defined: -config.fil" in res.stderr
    assert run([binary, "--verify-config"]).returncode == 2   # Loki's, not Pyroscope's
    assert run([binary, "-config.file"]).returncode == 2
    res = run([binary, "agent"])
    assert res.returncode == 1 and "deprecated" in res.stdout
    assert run([binary, "-modules", "connect"]).returncode == 1


def write_config(tmp_path: Path, s, grpc_port: int | None = None) -> Path:
    """The rendered config; run here, on free ports for gRPC and memberlist (the fixed
    ones may be taken on this machine)."""
    text = pyroscope.config_content(s)
    if grpc_port is not None:
        text = text.replace(f"grpc_listen_port: {pyroscope.GRPC_PORT}\n",
                            f"grpc_listen_port: {grpc_port}\n")
        text = text.replace(f"bind_port: {pyroscope.MEMBERLIST_PORT}\n",
                            f"bind_port: {free_port()}\n")
    path = tmp_path / "pyroscope.yaml"
    path.write_text(text)
    return path


def test_yaml_subset_reads_the_rendered_config_like_pyyaml():
    for data in ({}, {"pyroscope_data_dir": "/srv/pyro data", "pyroscope_listen_address": "::"}):
        text = pyroscope.config_content(validate("mon1", data))
        assert double.parse_yaml(text) == yaml.safe_load(text)


def test_the_deploys_check_takes_the_rendered_config(tmp_path):
    binary = install(tmp_path)
    for data in ({}, {"pyroscope_listen_address": "::", "pyroscope_retention_period": "0s"}):
        good = write_config(tmp_path, validate("mon1", data))
        res = run(pyroscope.validator(str(binary)).format(path=good).split())
        assert res.returncode == 0, res.stderr
        assert "ingester *" in res.stdout.splitlines()
        assert res.stdout.endswith("Modules marked with * are included in target All.\n")


@pytest.mark.parametrize("change,message", [
    (("storage:\n", "storage:\n  bogus_key: 1\n"), "field bogus_key not found"),
    (("  http_listen_port: 4040\n", "  http_listen_port: 4040\n  http_port: 1\n"),
     "field http_port not found in type server"),
    (("  backend: filesystem\n", "  backend: ceph\n"), "unsupported storage backend"),
    (('compactor_blocks_retention_period: "30d"', 'compactor_blocks_retention_period: "30 days"'),
     "not a valid duration"),
    (('  data_path: "/var/lib/pyroscope/data"\n', ""), "pyroscopedb.data_path"),
    (("target: all\n", "target: all,ingestr\n"), "unrecognised module name: ingestr"),
    (("server:\n", "server:\n\t"), "failed parsing config"),
])
def test_the_check_refuses_what_the_real_one_would_and_what_the_deploy_needs(tmp_path, change,
                                                                            message):
    binary = install(tmp_path)
    text = pyroscope.config_content(validate("mon1", {}))
    assert change[0] in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(change[0], change[1], 1))
    res = run(pyroscope.validator(str(binary)).format(path=bad).split())
    assert res.returncode == 1 and message in res.stderr, res.stderr
    assert res.stderr.startswith(("failed parsing config", "failed creating pyroscope"))
    res = run([binary, f"-config.file={tmp_path / 'missing.yaml'}", "-modules"])
    assert res.returncode == 1 and "no such file" in res.stderr


# -- the double running ----------------------------------------------------------------------------
@pytest.fixture
def running(tmp_path, current):
    """The double started with the unit's command line and the rendered config."""
    port = free_port()
    s = current({"pyroscope_enabled": True, "pyroscope_listen_address": "127.0.0.1",
                 "pyroscope_port": port, "pyroscope_data_dir": str(tmp_path / "data")})
    cfg = write_config(tmp_path, s, grpc_port=free_port())
    argv = [a.replace(pyroscope.CONFIG, str(cfg))
            for a in pyroscope.unit(s, str(install(tmp_path))).exec_start]

    def start():
        return Running(argv)
    return start, f"http://127.0.0.1:{port}", tmp_path / "data"


def label_values(base: str, name: str = "service_name") -> list[str]:
    status, body, kind = request(f"{base}/querier.v1.QuerierService/LabelValues",
                                 json.dumps({"name": name, "start": 0, "end": 1}).encode(),
                                 "application/json")
    assert status == 200 and kind == "application/json", body
    return json.loads(body).get("names", [])


def test_ready_metrics_ingest_and_query(running):
    start, base, data = running
    with start():
        assert request(f"{base}/ready")[:2] == (200, b"ready\n")
        status, body, _ = request(
            f"{base}/ingest?name=shop.cpu%7Benv%3Dtest%7D&from=1&until=2&format=folded"
            "&sampleRate=100&spyName=pyspy", b"main;work 10\n")
        assert status == 200, body
        assert label_values(base) == ["shop"]
        assert label_values(base, "env") == ["test"]
        (profile,) = (data / "data" / "anonymous" / "head" / "shop").iterdir()
        assert profile.read_bytes() == b"main;work 10\n"
        # a name Pyroscope cannot read: refused and counted
        assert request(f"{base}/ingest?name=%7Benv%3Dx%7D", b"x 1\n")[0] == 400
        status, body, _ = request(f"{base}/metrics")
        text = body.decode()
        assert 'monstack_test_double_info{program="pyroscope",version="%s"} 1' % PINNED in text
        assert 'pyroscope_distributor_received_compressed_bytes_count{tenant="anonymous",' \
               'type="process_cpu"} 1' in text
        assert 'pyroscope_discarded_samples_total{reason="invalid_labels",' \
               'tenant="anonymous"} 1' in text
        assert request(f"{base}/nothing")[0] == 404
    with start():   # what it stored answers after a restart
        assert label_values(base) == ["shop"]
    for folder in ("shared", "compactor", "sync"):
        assert (data / folder).is_dir()


def proto_field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_push_api_json_and_protobuf(running):
    """push.v1.PusherService/Push as Alloy's pyroscope.write sends it (connect protocol)."""
    start, base, data = running
    push = f"{base}/push.v1.PusherService/Push"
    with start():
        message = {"series": [{"labels": [{"name": "service_name", "value": "api"},
                                          {"name": "__name__", "value": "process_cpu"}],
                               "samples": [{"rawProfile": base64.b64encode(b"PPROF1").decode(),
                                            "ID": "a"}]}]}
        status, body, kind = request(push, json.dumps(message).encode(), "application/json")
        assert (status, kind) == (200, "application/json") and json.loads(body) == {}
        label = proto_field(1, proto_field(1, b"service_name") + proto_field(2, b"worker"))
        sample = proto_field(2, proto_field(1, b"PPROF2"))
        status, body, kind = request(push, proto_field(1, label + sample), "application/proto")
        assert (status, body, kind) == (200, b"", "application/proto")
        assert label_values(base) == ["api", "worker"]
        # LabelValues in protobuf: LabelValuesResponse.names (1)
        status, body, kind = request(f"{base}/querier.v1.QuerierService/LabelValues",
                                     proto_field(1, b"service_name"), "application/proto")
        assert status == 200 and [v for _, v in double.proto_fields(body)] == [b"api", b"worker"]
        assert request(push, b"{}", "text/plain")[0] == 415
        nameless = {"series": [{"labels": [], "samples": []}]}
        assert request(push, json.dumps(nameless).encode(), "application/json")[0] == 400
    assert (data / "data" / "anonymous" / "head" / "worker").is_dir()
    (stored,) = (data / "data" / "anonymous" / "head" / "api").iterdir()
    assert stored.read_bytes() == b"PPROF1"


def test_a_data_folder_it_cannot_create_fails_the_start(tmp_path, current):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    s = current({"pyroscope_enabled": True, "pyroscope_listen_address": "127.0.0.1",
                 "pyroscope_port": free_port(), "pyroscope_data_dir": str(blocker / "data")})
    cfg = write_config(tmp_path, s, grpc_port=free_port())
    res = run([install(tmp_path), f"-config.file={cfg}"])
    assert res.returncode == 1 and "failed running pyroscope: mkdir" in res.stderr


def test_a_grpc_port_another_program_holds_fails_the_start(tmp_path, current):
    """As Loki's 127.0.0.1:9095 would, had pyroscope.yaml left dskit's default."""
    s = current({"pyroscope_enabled": True, "pyroscope_listen_address": "127.0.0.1",
                 "pyroscope_port": free_port(), "pyroscope_data_dir": str(tmp_path / "d")})
    taken = double.listening_socket("127.0.0.1", 0)
    try:
        cfg = write_config(tmp_path, s, grpc_port=taken.getsockname()[1])
        res = run([install(tmp_path), f"-config.file={cfg}"])
    finally:
        taken.close()
    assert res.returncode == 1 and "failed running pyroscope: listen tcp 127.0.0.1:" in res.stderr


# -- the REAL Pyroscope SDK against the double ------------------------------------------------------
SDK_PROGRAM = textwrap.dedent("""
    import sys, time
    import pyroscope
    pyroscope.configure(application_name=sys.argv[1], server_address=sys.argv[2],
                        sample_rate=100, upload_interval=1, tags={"env": "unit"})
    end = time.monotonic() + 4
    n = 0
    while time.monotonic() < end:   # CPU work for the profiler to see
        n += sum(i * i for i in range(1000))
    pyroscope.shutdown()
""")


def test_the_real_python_sdk_reaches_the_double(running):
    pytest.importorskip("pyroscope", reason="PyPI's pyroscope-io (scripts/setup.sh --test)")
    start, base, data = running
    with start():
        assert request(f"{base}/ready")[0] == 200
        res = subprocess.run([sys.executable, "-c", SDK_PROGRAM, "monstack-unit-app", base],
                             capture_output=True, text=True, timeout=90)
        assert res.returncode == 0, res.stderr
        deadline = time.monotonic() + 20
        while "monstack-unit-app" not in label_values(base) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert label_values(base) == ["monstack-unit-app"]
        assert label_values(base, "env") == ["unit"]
    profiles = list((data / "data" / "anonymous" / "head" / "monstack-unit-app").iterdir())
    assert profiles and all(p.stat().st_size > 0 for p in profiles)


# -- the release file ------------------------------------------------------------------------------
def test_release_file_installs_through_the_artifact_code(tmp_path):
    mirror = Mirror(tmp_path / "mirror", host="127.0.0.1").start()
    try:
        data = doubles.publish(mirror, tmp_path / "work", components=("pyroscope",))
        name = f"pyroscope_{PINNED}_linux_amd64.tar.gz"
        assert set(data["artifact_checksums"]) == {name}
        assert (data["pyroscope_install_method"], data["pyroscope_version"]) == ("archive",
                                                                                 PINNED)
        with tarfile.open(tmp_path / "mirror" / name) as tar:
            (member,) = tar.getmembers()
            assert (member.name, member.mode) == ("pyroscope", 0o755)   # at the root
        artifact, folder = artifacts.prepare("pyroscope", PINNED, "x86_64", mirror.base_url,
                                             data["artifact_checksums"], str(tmp_path / "cache"))
        (path,) = artifacts.binary_paths(artifact, folder).values()
        assert os.access(path, os.X_OK)
        assert path.read_text().startswith("#!/bin/sh\n# PYROSCOPE TEST DOUBLE")
        assert run([path, "-version"]).stdout.startswith("pyroscope TEST DOUBLE")
    finally:
        mirror.stop()
