"""Applications' telemetry through Alloy, on the controller: the example service
(examples/otel_service.py, the real OpenTelemetry SDK and Pyroscope agent) sends to the
Alloy TEST DOUBLE started with the config.alloy the deploy renders, which forwards to
recording endpoints standing in for Prometheus' OTLP receiver, Loki, Jaeger and
Pyroscope.

What this proves: the config the deploy writes routes each signal to the URL of its
backend, the bodies arrive verbatim (real OTLP protobuf, as the SDK made it), and the
metrics carry the names, unit, kind and attributes from which Prometheus' OTLP
translation makes http_requests_total{job,status} and http_request_duration_seconds_bucket
(the Applications dashboard's series). Alloy's pipeline metrics count what passed and
what failed.

What it cannot prove here: that a real Prometheus stores them. Debian's builds have the
OTLP endpoint disabled (see test_alloy_otlp.py), and upstream's archives cannot be
downloaded here. test_a_real_prometheus_answers_the_dashboards_queries runs that part
when PROMETHEUS_OTLP_BINARY names an upstream prometheus binary (2.47+ or 3.x).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from operations.components import alloy
from operations.components.prometheus import otlp
from operations.stack import validate
from harness.net import free_port

ROOT = Path(__file__).resolve().parents[2]
DOUBLE = ROOT / "tests/harness/doubles/http_readiness_double.py"
EXAMPLE = ROOT / "examples/otel_service.py"
SERVICE = "otlp-test-service"


class Recorder:
    """An HTTP endpoint recording every POST (path, headers, body); answers `status`."""

    def __init__(self, status: int = 200):
        self.requests: list[tuple[str, dict, bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append((self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends():
    made = {name: Recorder() for name in ("prometheus", "loki", "jaeger", "pyroscope")}
    yield made
    for r in made.values():
        r.close()


def rendered_config(tmp_path: Path, urls: dict, ports: dict) -> Path:
    s = validate("app1", {"alloy_otlp": True, "alloy_log_paths": [], "alloy_journal": False,
                          "alloy_docker_logs": "false", **urls, **ports})
    routes = alloy.otlp_routes(s)
    config = tmp_path / "config.alloy"
    config.write_text(alloy.config_content(s, "app1", alloy.loki_push_url(s), False, routes))
    return config


def backend_urls(b: dict) -> dict:
    return {"alloy_metrics_url":
            f"http://127.0.0.1:{b['prometheus'].port}{alloy.PROMETHEUS_OTLP_PATH}",
            "alloy_loki_url": f"http://127.0.0.1:{b['loki'].port}{alloy.LOKI_PUSH_PATH}",
            "alloy_traces_url": f"http://127.0.0.1:{b['jaeger'].port}/v1/traces",
            "alloy_profiles_url": f"http://127.0.0.1:{b['pyroscope'].port}"}


def wait_http(url: str, seconds: float = 20) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


class AlloyDouble:
    def __init__(self, tmp_path: Path, config: Path):
        check = subprocess.run([sys.executable, str(DOUBLE), "alloy", "validate", str(config)],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(DOUBLE), "alloy", "run",
             f"--server.http.listen-addr=127.0.0.1:{self.port}",
             f"--storage.path={tmp_path / 'alloy-data'}", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_http(f"http://127.0.0.1:{self.port}/-/ready")

    def metrics(self) -> dict[tuple[str, str], float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                      timeout=5).read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or "component_id=" not in line:
                continue
            name, rest = line.split("{", 1)
            cid = rest.split('component_id="', 1)[1].split('"', 1)[0]
            out[(name, cid)] = float(line.rsplit(" ", 1)[1])
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def run_example(ports: dict, requests: int = 20, profiles: bool = True) -> str:
    res = subprocess.run(
        [sys.executable, str(EXAMPLE), "--port", str(free_port()), "--requests", str(requests),
         "--service-name", SERVICE, "--export-seconds", "1",
         "--otlp-url", f"http://127.0.0.1:{ports['alloy_otlp_http_port']}",
         "--profiles-url", f"http://127.0.0.1:{ports['alloy_profiles_port']}" if profiles else ""],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def free_ports() -> dict:
    return {"alloy_otlp_grpc_port": free_port(), "alloy_otlp_http_port": free_port(),
            "alloy_profiles_port": free_port()}


def decoded_metrics(requests) -> dict[str, list]:
    """metric name -> [(resource attributes, metric)] of every OTLP metrics body."""
    out: dict[str, list] = {}
    for _, _, body in requests:
        req = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
        for rm in req.resource_metrics:
            resource = {a.key: a.value.string_value for a in rm.resource.attributes}
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).append((resource, m))
    return out


def spans_in(requests) -> list:
    return [span for _, _, body in requests
            for rs in trace_service_pb2.ExportTraceServiceRequest.FromString(body).resource_spans
            for ss in rs.scope_spans for span in ss.spans]


def test_the_example_reaches_every_backend_through_the_rendered_config(tmp_path, backends):
    ports = free_ports()
    config = rendered_config(tmp_path, backend_urls(backends), ports)
    double = AlloyDouble(tmp_path, config)
    try:
        out = run_example(ports, requests=20)
        assert "statuses {200: 16, 404: 2, 500: 2}" in out, out
        time.sleep(0.5)
        counters = double.metrics()
    finally:
        double.stop()

    # metrics: at Prometheus' OTLP path, protobuf as the SDK sent it
    sent = backends["prometheus"].requests
    assert sent and {p for p, _, _ in sent} == {alloy.PROMETHEUS_OTLP_PATH}
    assert {h["Content-Type"] for _, h, _ in sent} == {"application/x-protobuf"}
    found = decoded_metrics(sent)
    # Prometheus' OTLP translation: a monotonic cumulative sum gets _total, unit "s"
    # gets _seconds, a unit in braces adds nothing; service.name becomes job
    (resource, requests_metric), *_ = found["http_requests"]
    assert resource["service.name"] == SERVICE
    assert requests_metric.unit == "{request}"
    assert requests_metric.sum.is_monotonic
    assert requests_metric.sum.aggregation_temporality == 2   # cumulative
    last = found["http_requests"][-1][1]
    by_status = {{a.key: a.value.string_value for a in dp.attributes}["status"]: dp.as_int
                 for dp in last.sum.data_points}
    assert by_status == {"200": 16, "404": 2, "500": 2}
    duration = found["http_request_duration"][-1][1]
    assert duration.unit == "s" and duration.histogram.aggregation_temporality == 2
    assert sum(dp.count for dp in duration.histogram.data_points) == 20
    assert list(duration.histogram.data_points[0].explicit_bounds)[:3] == [0.005, 0.01, 0.025]

    # traces at Jaeger's OTLP/HTTP path: one span per request
    spans = spans_in(backends["jaeger"].requests)
    assert {p for p, _, _ in backends["jaeger"].requests} == {"/v1/traces"}
    assert len(spans) == 20 and {s.name for s in spans} >= {"GET /", "GET /error"}

    # profiles at Pyroscope, by the push API the agent uses, body and encoding verbatim
    profiles = backends["pyroscope"].requests
    assert profiles and {p for p, _, _ in profiles} <= {"/push.v1.PusherService/Push", "/ingest"}
    assert all(h.get("Content-Encoding") == "gzip" for p, h, _ in profiles
               if p.startswith("/push"))

    # Alloy's own counters tell what passed
    receiver, jaeger = "otelcol.receiver.otlp.apps", "otelcol.exporter.otlphttp.jaeger"
    assert counters[("otelcol_receiver_accepted_spans_total", receiver)] == 20
    assert counters[("otelcol_exporter_sent_spans_total", jaeger)] == 20
    assert counters[("otelcol_exporter_send_failed_spans_total", jaeger)] == 0
    points = counters[("otelcol_exporter_sent_metric_points_total",
                       "otelcol.exporter.otlphttp.prometheus")]
    assert points == counters[("otelcol_receiver_accepted_metric_points_total", receiver)] > 0
    assert counters[("pyroscope_write_sent_profiles_total", "pyroscope.write.pyroscope")] \
        == len(profiles)


def test_a_backend_that_refuses_is_counted_as_failed(tmp_path, backends):
    backends["jaeger"].close()
    backends["jaeger"] = Recorder(status=503)
    ports = free_ports()
    config = rendered_config(tmp_path, backend_urls(backends), ports)
    double = AlloyDouble(tmp_path, config)
    try:
        run_example(ports, requests=5, profiles=False)
        time.sleep(0.5)
        counters = double.metrics()
    finally:
        double.stop()
    jaeger = "otelcol.exporter.otlphttp.jaeger"
    assert counters[("otelcol_exporter_send_failed_spans_total", jaeger)] == 5
    assert counters[("otelcol_exporter_sent_spans_total", jaeger)] == 0
    assert backends["prometheus"].requests   # the other signals still pass


def test_loki_double_accepts_otlp_logs(tmp_path):
    port = free_port()
    config = tmp_path / "loki.yml"
    config.write_text(f"server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n")
    proc = subprocess.Popen([sys.executable, str(DOUBLE), "loki", f"-config.file={config}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/ready")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/otlp/v1/logs", data=b"",
                                         headers={"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 204
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- a real Prometheus, where one with an OTLP receiver is at hand ----------------------------
def prometheus_otlp_binary() -> str | None:
    return os.environ.get("PROMETHEUS_OTLP_BINARY")


def query(port: int, promql: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    return json.loads(urllib.request.urlopen(url, timeout=5).read())["data"]["result"]


@pytest.mark.skipif(not prometheus_otlp_binary(), reason=(
    "no Prometheus with an OTLP receiver here: Debian's builds have it disabled (bug "
    "#1080354) and upstream's archives cannot be downloaded; set PROMETHEUS_OTLP_BINARY to "
    "an upstream prometheus binary (2.47+ or 3.x) to run it"))
def test_a_real_prometheus_answers_the_dashboards_queries(tmp_path):
    binary = prometheus_otlp_binary()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.split()[2]
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    flags = otlp.otlp_receiver_flags(version, "test")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", 60)
        ports = free_ports()
        config = rendered_config(tmp_path, {
            "alloy_metrics_url": f"http://127.0.0.1:{port}{alloy.PROMETHEUS_OTLP_PATH}",
            "alloy_loki_url": "http://127.0.0.1:9/loki/api/v1/push"}, ports)
        double = AlloyDouble(tmp_path, config)
        try:
            run_example(ports, requests=20, profiles=False)
        finally:
            double.stop()
        wanted = [f'http_requests_total{{job="{SERVICE}",status="500"}}',
                  f'http_request_duration_seconds_bucket{{job="{SERVICE}"}}',
                  f'sum by (job, status) (rate(http_requests_total{{job=~"{SERVICE}"}}[5m]))']
        deadline = time.time() + 30
        while not all(query(port, q) for q in wanted) and time.time() < deadline:
            time.sleep(1)
        for q in wanted:
            assert query(port, q), q
    finally:
        proc.terminate()
        proc.wait(timeout=30)
