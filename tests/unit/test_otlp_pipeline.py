"""Applications' telemetry through Alloy, on the controller: the example service
(examples/otel_service.py, the real OpenTelemetry SDK and Pyroscope agent) sends to the
Alloy TEST DOUBLE started with the config.alloy the deploy renders, which forwards to
recording endpoints standing in for Prometheus, Loki, Jaeger and Pyroscope, and, in the
last tests, to the REAL Prometheus (Debian's builds of bookworm 2.42 and sid 3.5.3,
started with --web.enable-remote-write-receiver).

What this proves: the config the deploy writes routes each signal to its backend; traces
and logs arrive verbatim (real OTLP protobuf, as the SDK made it); metrics arrive as a
Prometheus remote-write request (snappy, prompb.WriteRequest, decoded here with the
protobuf library from the message's field numbers) whose series a real Prometheus stores
and answers every query of the Applications dashboard with. The OTLP -> Prometheus
translation on the way is the double's reproduction of Alloy's otelcol.exporter.prometheus
(see the double's docstring), not Alloy's own code: that part stays unproven here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from operations.components import alloy
from operations.components.prometheus import remote_write_receiver
from operations.stack import validate
from harness import debian
from harness.dashboards import queries, substitute
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
            f"http://127.0.0.1:{b['prometheus'].port}{alloy.PROMETHEUS_WRITE_PATH}",
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
            out[(name, cid)] = out.get((name, cid), 0) + float(line.rsplit(" ", 1)[1])
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def through_the_double(tmp_path: Path, urls: dict, run) -> tuple:
    """The Alloy double started with the config rendered for the backends at `urls`,
    `run(ports)` (the example) sending through it: (what `run` returned, the double's
    counters half a second later)."""
    ports = free_ports()
    double = AlloyDouble(tmp_path, rendered_config(tmp_path, urls, ports))
    try:
        out = run(ports)
        time.sleep(0.5)
        return out, double.metrics()
    finally:
        double.stop()


def run_example(ports: dict, requests: int = 20, profiles: bool = True) -> str:
    res = subprocess.run(
        [sys.executable, str(EXAMPLE), "--port", str(free_port()), "--requests", str(requests),
         "--service-name", SERVICE, "--export-seconds", "1",
         "--otlp-url", f"http://127.0.0.1:{ports['alloy_otlp_http_port']}",
         "--profiles-url", f"http://127.0.0.1:{ports['alloy_profiles_port']}" if profiles else ""],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def run_example_in_phases(ports: dict, phases: int = 2, requests: int = 10) -> dict:
    """The example serving (its own mode), with `requests` requests to it in each of
    `phases` phases two metric exports apart, then stopped with Ctrl-C (it flushes): its
    counters grow between exports, as a rate needs. The statuses seen."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("otel_service", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", str(port), "--service-name", SERVICE,
         "--export-seconds", "0.5", "--profiles-url", "",
         "--otlp-url", f"http://127.0.0.1:{ports['alloy_otlp_http_port']}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: dict[int, int] = {}
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        seen = {}
        for _ in range(phases):
            for status, n in example.generate(port, requests).items():
                seen[status] = seen.get(status, 0) + n
            time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # a flush that never ends fails the test; the process does not outlive it
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0, out
    return seen


def free_ports() -> dict:
    return {"alloy_otlp_grpc_port": free_port(), "alloy_otlp_http_port": free_port(),
            "alloy_profiles_port": free_port()}


def unsnappy(data: bytes) -> bytes:
    """Snappy's block format, every element kind (literals and copies)."""
    def varint(i):
        shift = value = 0
        while True:
            value |= (data[i] & 0x7F) << shift
            i += 1
            if not data[i - 1] & 0x80:
                return value, i
            shift += 7

    length, i = varint(0)
    out = bytearray()
    while i < len(data):
        tag, kind = data[i], data[i] & 3
        i += 1
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(data[i:i + extra], "little")
                i += extra
            out += data[i:i + n + 1]
            i += n + 1
            continue
        if kind == 1:
            n, offset = ((tag >> 2) & 7) + 4, (tag >> 5) << 8 | data[i]
            i += 1
        else:
            size = 2 if kind == 2 else 4
            n, offset = (tag >> 2) + 1, int.from_bytes(data[i:i + size], "little")
            i += size
        for _ in range(n):
            out.append(out[-offset])
    assert len(out) == length
    return bytes(out)


def write_request_class():
    """prompb.WriteRequest (prometheus/prometheus prompb/remote.proto and types.proto),
    built from its field numbers with the protobuf library."""
    f = descriptor_pb2.FileDescriptorProto(name="monstack_test_prompb.proto",
                                           package="monstack_test_prompb")
    T = descriptor_pb2.FieldDescriptorProto
    def message(name, *fields):
        m = f.message_type.add(name=name)
        for fname, number, kind, label, type_name in fields:
            field = m.field.add(name=fname, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
    message("Label", ("name", 1, T.TYPE_STRING, T.LABEL_OPTIONAL, None),
            ("value", 2, T.TYPE_STRING, T.LABEL_OPTIONAL, None))
    message("Sample", ("value", 1, T.TYPE_DOUBLE, T.LABEL_OPTIONAL, None),
            ("timestamp", 2, T.TYPE_INT64, T.LABEL_OPTIONAL, None))
    message("TimeSeries", ("labels", 1, T.TYPE_MESSAGE, T.LABEL_REPEATED, ".monstack_test_prompb.Label"),
            ("samples", 2, T.TYPE_MESSAGE, T.LABEL_REPEATED, ".monstack_test_prompb.Sample"))
    message("WriteRequest", ("timeseries", 1, T.TYPE_MESSAGE, T.LABEL_REPEATED,
                             ".monstack_test_prompb.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("monstack_test_prompb.WriteRequest"))


def written_series(requests) -> list[tuple[dict, list]]:
    """(labels, [(timestamp ms, value)]) of every series of every remote-write request."""
    cls = write_request_class()
    out = []
    for _, _, body in requests:
        for ts in cls.FromString(unsnappy(body)).timeseries:
            names = [label.name for label in ts.labels]
            assert names == sorted(names), names
            out.append(({label.name: label.value for label in ts.labels},
                        [(s.timestamp, s.value) for s in ts.samples]))
    return out


def spans_in(requests) -> list:
    return [span for _, _, body in requests
            for rs in trace_service_pb2.ExportTraceServiceRequest.FromString(body).resource_spans
            for ss in rs.scope_spans for span in ss.spans]


def test_the_example_reaches_every_backend_through_the_rendered_config(tmp_path, backends):
    out, counters = through_the_double(tmp_path, backend_urls(backends),
                                       lambda ports: run_example(ports, requests=20))
    assert "statuses {200: 16, 404: 2, 500: 2}" in out, out

    # metrics: a Prometheus remote-write request at /api/v1/write, with its headers
    sent = backends["prometheus"].requests
    assert sent and {p for p, _, _ in sent} == {alloy.PROMETHEUS_WRITE_PATH}
    assert {(h["Content-Type"], h["Content-Encoding"], h["X-Prometheus-Remote-Write-Version"])
            for _, h, _ in sent} == {("application/x-protobuf", "snappy", "0.1.0")}
    series = written_series(sent)
    # the translation: a monotonic cumulative sum gets _total, unit "s" _seconds, a unit
    # in braces nothing; service.name is job, service.instance.id instance
    last = {}
    for labels, samples in series:
        key = tuple(sorted(labels.items()))
        last[key] = max(samples)[1]
    requests_by_status = {dict(k)["status"]: v for k, v in last.items()
                          if dict(k)["__name__"] == "http_requests_total"}
    assert requests_by_status == {"200": 16, "404": 2, "500": 2}
    one = next(dict(k) for k in last if dict(k)["__name__"] == "http_requests_total")
    assert one["job"] == SERVICE and one["method"] == "GET" and one["instance"]
    assert one["otel_scope_name"]
    buckets = {dict(k)["le"]: v for k, v in last.items()
               if dict(k)["__name__"] == "http_request_duration_seconds_bucket"
               and dict(k)["status"] == "200"}
    assert buckets["+Inf"] == 16 and buckets["0.005"] <= buckets["0.01"] <= buckets["+Inf"]
    counts = {dict(k)["status"]: v for k, v in last.items()
              if dict(k)["__name__"] == "http_request_duration_seconds_count"}
    assert counts == {"200": 16, "404": 2, "500": 2}
    assert any(dict(k)["__name__"] == "http_request_duration_seconds_sum" for k in last)
    info = [dict(k) for k in last if dict(k)["__name__"] == "target_info"]
    assert info and info[0]["job"] == SERVICE and "service_name" not in info[0]
    assert info[0]["telemetry_sdk_language"] == "python"

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
    assert counters[("otelcol_receiver_accepted_metric_points_total", receiver)] > 0
    writer = "prometheus.remote_write.apps"
    assert counters[("prometheus_remote_storage_samples_total", writer)] == sum(
        len(samples) for _, samples in series)
    assert counters[("prometheus_remote_storage_samples_failed_total", writer)] == 0
    assert counters[("pyroscope_write_sent_profiles_total", "pyroscope.write.pyroscope")] \
        == len(profiles)


def test_a_backend_that_refuses_is_counted_as_failed(tmp_path, backends):
    backends["jaeger"].close()
    backends["jaeger"] = Recorder(status=503)
    _, counters = through_the_double(
        tmp_path, backend_urls(backends), lambda ports: run_example(ports, 5, profiles=False))
    jaeger = "otelcol.exporter.otlphttp.jaeger"
    assert counters[("otelcol_exporter_send_failed_spans_total", jaeger)] == 5
    assert counters[("otelcol_exporter_sent_spans_total", jaeger)] == 0
    assert backends["prometheus"].requests   # the other signals still pass


def test_a_prometheus_that_refuses_is_counted_as_failed_samples(tmp_path, backends):
    backends["prometheus"].close()
    backends["prometheus"] = Recorder(status=400)   # what a refused write gets
    _, counters = through_the_double(
        tmp_path, backend_urls(backends), lambda ports: run_example(ports, 5, profiles=False))
    writer = "prometheus.remote_write.apps"
    assert counters[("prometheus_remote_storage_samples_failed_total", writer)] > 0
    assert counters[("prometheus_remote_storage_samples_total", writer)] == 0
    assert len(spans_in(backends["jaeger"].requests)) == 5


def test_the_translation_of_a_request_the_protobuf_library_encodes():
    """The double's decoder and translation on a request built with opentelemetry-proto:
    a namespace joins job, a gauge of unit 1 gets _ratio, a delta sum is dropped, a
    non-monotonic sum is a gauge without _total, attribute dots become underscores."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("double", DOUBLE)
    double = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(double)

    def kv(key, value):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))
    point = dict(time_unix_nano=1_700_000_000_123_456_789, attributes=[kv("http.route", "/x")])
    req = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
        metrics_pb2.ResourceMetrics(
            resource=dict(attributes=[kv("service.name", "api"), kv("service.namespace", "shop"),
                                      kv("service.instance.id", "i-1"), kv("deployment.environment", "t")]),
            scope_metrics=[metrics_pb2.ScopeMetrics(scope=dict(name="lib", version="1.2"), metrics=[
                metrics_pb2.Metric(name="cpu.utilization", unit="1", gauge=dict(
                    data_points=[dict(as_double=0.25, **point)])),
                metrics_pb2.Metric(name="queue.size", unit="{item}", sum=dict(
                    aggregation_temporality=2, is_monotonic=False,
                    data_points=[dict(as_int=7, **point)])),
                metrics_pb2.Metric(name="bytes.sent", unit="By", sum=dict(
                    aggregation_temporality=1, is_monotonic=True,
                    data_points=[dict(as_int=9, **point)])),
                metrics_pb2.Metric(name="rpc.duration", unit="ms", histogram=dict(
                    aggregation_temporality=2, data_points=[dict(
                        count=3, sum=12.5, bucket_counts=[1, 2, 0], explicit_bounds=[1, 2.5],
                        **point)])),
            ])])])
    samples = double.to_samples(double.decode_metrics(req.SerializeToString()), 42)
    got = {(labels["__name__"], labels.get("le", "")): (value, ts) for labels, value, ts in samples}
    base = {"job": "shop/api", "instance": "i-1", "otel_scope_name": "lib",
            "otel_scope_version": "1.2", "http_route": "/x"}
    for labels, _, _ in samples:
        if labels["__name__"] != "target_info":
            assert {k: labels[k] for k in base} == base, labels
    ts = 1_700_000_000_123
    assert got == {("target_info", ""): (1.0, 42),
                   ("cpu_utilization_ratio", ""): (0.25, ts),
                   ("queue_size", ""): (7.0, ts),
                   ("rpc_duration_milliseconds_bucket", "1"): (1.0, ts),
                   ("rpc_duration_milliseconds_bucket", "2.5"): (3.0, ts),
                   ("rpc_duration_milliseconds_bucket", "+Inf"): (3.0, ts),
                   ("rpc_duration_milliseconds_sum", ""): (12.5, ts),
                   ("rpc_duration_milliseconds_count", ""): (3.0, ts)}
    info = next(labels for labels, _, _ in samples if labels["__name__"] == "target_info")
    assert info == {"__name__": "target_info", "job": "shop/api", "instance": "i-1",
                    "deployment_environment": "t"}


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


# -- the REAL Prometheus: Debian's builds, their remote-write receiver ----------------------------
def query(port: int, promql: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    return json.loads(urllib.request.urlopen(url, timeout=5).read())["data"]["result"]


# the other signals' backends: a closed port (only the metrics matter here)
NOWHERE = {"alloy_loki_url": "http://127.0.0.1:9/loki/api/v1/push",
           "alloy_traces_url": "http://127.0.0.1:9/v1/traces",
           "alloy_profiles_url": "http://127.0.0.1:9"}


def metrics_to(port: int) -> dict:
    """The backends' URLs: metrics to the remote-write receiver on 127.0.0.1:`port`,
    the other signals nowhere."""
    return {"alloy_metrics_url": f"http://127.0.0.1:{port}{alloy.PROMETHEUS_WRITE_PATH}",
            **NOWHERE}


def apps_dashboard_queries(job: str) -> list[str]:
    """Every Prometheus query of the Applications dashboard, for `job`."""
    out = []
    for uid, _, expr, model in queries("prometheus"):
        if uid == "monstack-apps":
            out.append(substitute(expr.replace("$job", job), model))
    return out


@pytest.mark.parametrize("suite", ["bookworm", "sid"])
def test_a_real_prometheus_answers_the_dashboards_queries(tmp_path, suite):
    binary = str(debian.program("prometheus", suite))
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             remote_write_receiver.FLAG],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", 60)
        seen, counters = through_the_double(tmp_path, metrics_to(port), run_example_in_phases)
        writer = "prometheus.remote_write.apps"
        assert counters[("prometheus_remote_storage_samples_total", writer)] > 0
        assert counters[("prometheus_remote_storage_samples_failed_total", writer)] == 0
        assert counters[("prometheus_remote_storage_samples_retries_total", writer)] == 0

        by_status = {r["metric"]["status"]: float(r["value"][1]) for r in query(
            port, f'http_requests_total{{job="{SERVICE}"}}')}
        # wait_http's own request to / counts too
        assert by_status == {str(k): float(v) for k, v in seen.items()} | {
            "200": seen[200] + 1.0}, (by_status, seen)
        assert query(port, f'http_request_duration_seconds_bucket{{job="{SERVICE}",le="+Inf"}}')
        dashboard = apps_dashboard_queries(SERVICE)
        assert len(dashboard) == 10, dashboard
        for q in dashboard:
            assert query(port, q), f"no data from the real Prometheus ({suite}) for {q}"
        # the job variable of the dashboard lists the service
        jobs = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/label/job/values", timeout=5).read())["data"]
        assert SERVICE in jobs
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("suite", ["bookworm", "sid"])
def test_a_real_prometheus_without_the_flag_refuses_the_write(tmp_path, suite):
    """The flag is what opens /api/v1/write: without it Debian's Prometheus answers 404,
    and the double counts the samples as failed."""
    binary = str(debian.program("prometheus", suite))
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", 60)
        _, counters = through_the_double(
            tmp_path, metrics_to(port), lambda ports: run_example(ports, 3, profiles=False))
        writer = "prometheus.remote_write.apps"
        assert counters[("prometheus_remote_storage_samples_failed_total", writer)] > 0
        assert counters[("prometheus_remote_storage_samples_total", writer)] == 0
        assert not query(port, f'http_requests_total{{job="{SERVICE}"}}')
    finally:
        proc.terminate()
        proc.wait(timeout=30)
