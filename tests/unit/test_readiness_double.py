"""The HTTP readiness TEST DOUBLE of Loki, Alloy and cAdvisor (tests/harness/doubles), which
the fleet test installs in their place: it must take the command lines and configs the
deploy really produces, refuse what the real programs refuse first, answer readiness and
/metrics, and its release files must install through the real artifact code.

Everything runs on this machine: the double listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

from harness import doubles
from harness.doubles import http_readiness_double as double
from harness.mirror import Mirror
from harness.net import Running, free_port, http_request
from operations.components import alloy, cadvisor, loki
from operations.base import artifacts, inventory as context
from operations.stack import RELEASES, validate


def install(tmp_path: Path, program: str) -> Path:
    """The launcher as the deploy installs it: /usr/local/bin/<program>."""
    path = tmp_path / "bin" / program
    path.parent.mkdir(exist_ok=True)
    path.write_text(doubles.launcher(program))
    path.chmod(0o755)
    return path


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=30,
                          **kw)


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    status, body, _ = http_request(url, timeout=timeout)
    return status, body.decode()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def settings_of(monkeypatch):
    def build(data=None):
        s = validate("web1", data or {})
        monkeypatch.setattr(context, "settings", lambda h=None: s)
        return s
    return build


# -- the launcher ------------------------------------------------------------------------------
def test_launcher_is_a_shell_script_and_python(tmp_path):
    text = doubles.launcher("loki")
    assert text.startswith("#!/bin/sh\n# LOKI TEST DOUBLE")
    compile(text, "loki", "exec")   # valid Python as a whole
    res = run([install(tmp_path, "loki"), "-version"])
    assert res.returncode == 0 and "NOT Loki" in res.stdout


@pytest.mark.parametrize("program,flag,real_name", [
    ("loki", "-version", "Loki"), ("alloy", "--version", "Alloy"),
    ("cadvisor", "-version", "cAdvisor")])
def test_published_at_the_pinned_version_it_still_says_it_is_a_double(tmp_path, program, flag,
                                                                       real_name):
    pinned = RELEASES[program]["version"]
    text = doubles.launcher(program)
    assert text.splitlines()[1] == (
        f"# {program.upper()} TEST DOUBLE (tests/harness/doubles/http_readiness_double.py): "
        f"this is not {program}, it stands in for {program} {pinned}.")
    res = run([install(tmp_path, program), flag])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (f"{program} TEST DOUBLE (NOT {real_name}), standing in for "
                                  f"{program} version {pinned}")


def test_the_launcher_refuses_a_version_it_cannot_put_in_a_shell_line():
    with pytest.raises(ValueError, match="not a version"):
        doubles.launcher("loki", "3.6.8; rm -rf /")


def test_direct_use_names_the_program(tmp_path):
    res = run([sys.executable, double.__file__, "cadvisor", "--no_such_flag"])
    assert res.returncode == 2 and "flag provided but not defined: -no_such_flag" in res.stderr
    assert run([sys.executable, double.__file__]).returncode == 2


# -- loki -----------------------------------------------------------------------------------------
def test_yaml_subset_reads_the_rendered_loki_config_like_pyyaml():
    for data in ({}, {"loki_data_dir": "/srv/loki data", "loki_retention_period": "0s"}):
        text = loki.config_content(validate("mon1", data))
        assert double.parse_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("broken", [
    "server:\n  http_listen_port: 3100\n   grpc: 1\n",        # bad indentation
    'server:\n  http_listen_address: "0.0.0.0\n',             # unterminated string
    "server:\n\thttp_listen_port: 3100\n",                    # tab
    "server:\n  port: 1\n  port: 2\n",                        # key twice
    "- a\nb: 1\n",                                            # list then mapping
])
def test_yaml_subset_refuses_broken_yaml(broken):
    with pytest.raises(ValueError):
        double.parse_yaml(broken)


def test_loki_verify_config(tmp_path):
    binary = install(tmp_path, "loki")
    good = tmp_path / "loki.yaml"
    good.write_text(loki.config_content(validate("mon1", {})))
    check = loki.validator(str(binary)).format(path=good)
    res = run(check.split())
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  http_listen_port: 3100\n   oops: 1\n")
    res = run(loki.validator(str(binary)).format(path=bad).split())
    assert res.returncode == 1 and "indentation" in res.stderr
    assert run([binary, f"-config.file={good}", "-verify-confg"]).returncode == 2


def test_loki_serves_ready_and_metrics_where_its_config_says(tmp_path, settings_of):
    port = free_port()
    s = settings_of({"loki_listen_address": "127.0.0.1", "loki_port": port,
                     "loki_data_dir": str(tmp_path / "data")})
    config = tmp_path / "loki.yaml"
    config.write_text(loki.config_content(s))
    binary = install(tmp_path, "loki")
    argv = loki.unit(s, str(binary)).exec_start
    argv = [a.replace("/etc/loki/loki.yaml", str(config)) for a in argv]
    with Running(argv):
        assert get(f"http://127.0.0.1:{port}/ready")[0] == 200
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and 'monstack_test_double_info{program="loki"} 1' in body
        assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
    assert (tmp_path / "data" / "monstack-test-double").is_file()


# -- alloy ----------------------------------------------------------------------------------------
def test_alloy_fmt(tmp_path):
    binary = install(tmp_path, "alloy")
    s = validate("web1", {"alloy_log_paths": ["/var/log/*.log", "/srv/x/*.log"]})
    good = tmp_path / "config.alloy"
    good.write_text(alloy.config_content(s, "web1", "http://mon1:3100/loki/api/v1/push", True))
    res = run(alloy.validator(str(binary)).format(path=good).split())
    assert res.returncode == 0, res.stderr
    assert res.stdout == good.read_text()
    for broken in ('loki.write "x" {\n  endpoint {\n    url = "a\n  }\n}\n',
                   'loki.write "x" {\n  endpoint {\n    url = "a"\n  }\n',
                   'loki.write "x" {\n  external_labels = {host = "a"]\n}\n'):
        bad = tmp_path / "bad.alloy"
        bad.write_text(broken)
        res = run([binary, "fmt", bad])
        assert res.returncode == 1 and "encountered errors during formatting" in res.stderr


def test_alloy_validate(tmp_path):
    """The double answers `validate` as the real CLI does: silent exit 0 on a config it
    takes; exit 1, the problem and "validation failed" on stderr otherwise."""
    binary = install(tmp_path, "alloy")
    s = validate("web1", {})
    good = tmp_path / "config.alloy"
    good.write_text(alloy.config_content(s, "web1", "http://mon1:3100/loki/api/v1/push", False))
    check = alloy.validator(str(binary), "validate", ["--stability.level=public-preview"])
    res = run(check.format(path=good).split())
    assert (res.returncode, res.stdout) == (0, ""), res.stderr
    bad = tmp_path / "bad.alloy"
    bad.write_text('loki.write "x" {\n  endpoint {\n    url = "a"\n  }\n')
    res = run(check.format(path=bad).split())
    assert res.returncode == 1 and "validation failed" in res.stderr
    assert "bad.alloy" in res.stderr
    res = run([binary, "validate", "--no-such-flag", good])
    assert res.returncode == 1 and "unknown flag" in res.stderr


def test_alloy_runs_with_the_units_command_line_and_reloads(tmp_path, settings_of):
    port = free_port()
    s = settings_of({"alloy_listen_address": "127.0.0.1", "alloy_port": port})
    config = tmp_path / "config.alloy"
    config.write_text(alloy.config_content(s, "web1", "http://mon1:3100/loki/api/v1/push",
                                           False))
    binary = install(tmp_path, "alloy")
    argv = [a.replace(alloy.CONFIG, str(config)).replace(alloy.DATA_DIR, str(tmp_path / "data"))
            for a in alloy.unit(s, str(binary), []).exec_start]
    with Running(argv) as running:
        assert get(f"http://127.0.0.1:{port}/-/ready")[0] == 200
        running.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert running.proc.poll() is None
        assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    assert (tmp_path / "data" / "monstack-test-double").is_file()
    res = run([binary, "run", "--server.http.listen-adr=127.0.0.1:1", config])
    assert res.returncode == 1 and "unknown flag: --server.http.listen-adr" in res.stderr


# -- cadvisor -------------------------------------------------------------------------------------
def test_cadvisor_runs_with_the_units_command_line(tmp_path, settings_of):
    port = free_port()
    s = settings_of({"cadvisor_listen_address": "127.0.0.1", "cadvisor_port": port})
    binary = install(tmp_path, "cadvisor")
    with Running(cadvisor.flags(s, str(binary))):
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert "cadvisor" in get(f"http://127.0.0.1:{port}/metrics")[1]


@pytest.mark.parametrize("args,message", [
    (["--disable_metrics=percpu,accelerator"], "unsupported metric 'accelerator'"),
    (["--housekeeping_interval=1d"], "housekeeping_interval"),
    (["--docker-only=false"], "not defined: -docker-only"),
])
def test_cadvisor_refuses_what_cadvisor_refuses(tmp_path, args, message):
    res = run([install(tmp_path, "cadvisor"), *args])
    assert res.returncode == 2 and message in res.stderr


# -- packaging: upstream-shaped files through the real artifact code -------------------------------
def test_release_files_install_through_the_artifact_code(tmp_path):
    mirror = Mirror(tmp_path / "mirror", host="127.0.0.1").start()
    try:
        data = doubles.publish(mirror, tmp_path / "work")
        assert set(data["artifact_checksums"]) == {
            "loki-linux-amd64.zip", "alloy-linux-amd64.zip",
            f"cadvisor-v{RELEASES['cadvisor']['version']}-linux-amd64"}
        with zipfile.ZipFile(tmp_path / "mirror" / "loki-linux-amd64.zip") as zf:
            (info,) = zf.infolist()
            assert info.filename == "loki-linux-amd64"
            assert (info.external_attr >> 16) & 0o777 == 0o755
        for component in doubles.COMPONENTS:
            # the pinned version: the deploy takes that version's code paths
            pinned = RELEASES[component]["version"]
            assert data[f"{component}_version"] == pinned
            artifact, folder = artifacts.prepare(
                component, pinned, "x86_64", mirror.base_url,
                data["artifact_checksums"], str(tmp_path / "cache"))
            (path,) = artifacts.binary_paths(artifact, folder).values()
            assert os.access(path, os.X_OK)
            assert path.read_text().startswith(f"#!/bin/sh\n# {component.upper()} TEST DOUBLE")
    finally:
        mirror.stop()


# -- Alloy's application pipeline (alloy_otlp) ---------------------------------------------------
OTLP_CONFIG = '''
otelcol.receiver.otlp "apps" {
	http {
		endpoint = "127.0.0.1:4318"
	}
	output {
		traces = [otelcol.processor.batch.apps.input]
	}
}

otelcol.processor.batch "apps" {
	output {
		traces = [otelcol.exporter.otlphttp.jaeger.input]
	}
}

otelcol.exporter.otlphttp "jaeger" {
	client {
		endpoint = "http://10.0.0.1:14318"
	}
}
'''


def test_alloy_validate_refuses_an_undeclared_reference_and_a_missing_endpoint(tmp_path):
    good = tmp_path / "good.alloy"
    good.write_text(OTLP_CONFIG)
    assert double.main(["alloy", "validate", str(good)]) == 0
    for name, text in (("ref", OTLP_CONFIG.replace("otlphttp.jaeger.input", "otlphttp.tempo.input")),
                       ("endpoint", OTLP_CONFIG.replace('endpoint = "http://10.0.0.1:14318"', "")),
                       ("output", OTLP_CONFIG.replace("output {\n\t\ttraces = [otelcol.processor"
                                                      ".batch.apps.input]\n\t}", ""))):
        bad = tmp_path / f"{name}.alloy"
        bad.write_text(text)
        assert double.main(["alloy", "validate", str(bad)]) == 1, name


def test_the_pipeline_follows_the_batch_to_the_exporters_default_path():
    pipeline = double.Pipeline(double.validate_alloy(OTLP_CONFIG))
    (target,) = pipeline.targets["traces"]
    assert (target.cid, target.url) == ("otelcol.exporter.otlphttp.jaeger",
                                        "http://10.0.0.1:14318/v1/traces")
    assert pipeline.targets["metrics"] == [] and pipeline.targets["logs"] == []
    assert pipeline.listeners() == [("otlp-http", "127.0.0.1", 4318,
                                     "otelcol.receiver.otlp.apps")]


def test_items_are_counted_in_protobuf_and_json():
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    counter = metrics.add(name="c")
    for value in (1, 2, 3):
        counter.sum.data_points.add(as_int=value)
    metrics.add(name="h").histogram.data_points.add(count=4)
    assert double.count_items("metrics", req.SerializeToString(), "application/x-protobuf") == 4
    logs = logs_service_pb2.ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    for _ in range(5):
        records.add()
    assert double.count_items("logs", logs.SerializeToString(), "application/x-protobuf") == 5
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{},{}]},{"spans":[{}]}]}]}'
    assert double.count_items("traces", body, "application/json") == 3
    with pytest.raises(ValueError):
        double.count_items("traces", b"\x0a\xff", "application/x-protobuf")
