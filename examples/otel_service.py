#!/usr/bin/env python3
"""A small HTTP service instrumented with OpenTelemetry and Pyroscope: the example of
monstack's "Traces and profiles" (README). Standard library HTTP server; the PyPI
packages of examples/requirements.txt for telemetry.

It sends, to the Alloy of its own host (alloy_otlp = True):
* traces: a span per request, OTLP/HTTP to http://127.0.0.1:4318/v1/traces (Jaeger);
* metrics: OTLP/HTTP to http://127.0.0.1:4318/v1/metrics (Alloy writes them to
  Prometheus by remote_write): the counter `http_requests` (attribute `status`) and the
  histogram `http_request_duration` in seconds (unit "s"), which Alloy's
  otelcol.exporter.prometheus names http_requests_total{status} and
  http_request_duration_seconds_bucket/_sum/_count (cumulative temporality, the SDK's
  default: Alloy drops delta metrics); job is
  the service name (resource attribute service.name): the series the shipped
  Applications dashboard draws;
* profiles: Pyroscope's Python agent (pyroscope-io) to Alloy's pyroscope.receive_http,
  http://127.0.0.1:4041, application name = the service name.

    python3 examples/otel_service.py --port 8000             # serve until Ctrl-C
    python3 examples/otel_service.py --port 8000 --requests 50   # make 50 requests to
        # itself, flush every signal and exit

Paths: / (200), /slow (200 after 50-250 ms), /error (500), anything else 404.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# Request durations in seconds: the SDK's default buckets are made for milliseconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Telemetry:
    """The service's tracer, request counter and duration histogram, and their flush."""

    def __init__(self, service: str, otlp_url: str, profiles_url: str | None,
                 export_seconds: float = 5.0):
        resource = Resource.create({"service.name": service,
                                    "service.instance.id": f"{socket.gethostname()}"})
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces")))
        self.meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{otlp_url}/v1/metrics"),
                export_interval_millis=int(export_seconds * 1000))],
            views=[View(instrument_type=Histogram, instrument_name="http_request_duration",
                        aggregation=ExplicitBucketHistogramAggregation(BUCKETS))])
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        self.tracer = trace.get_tracer("monstack.example")
        meter = metrics.get_meter("monstack.example")
        self.requests = meter.create_counter(
            "http_requests", unit="{request}", description="HTTP requests served")
        self.duration = meter.create_histogram(
            "http_request_duration", unit="s", description="time to serve an HTTP request")
        self.profiling = False
        if profiles_url:
            self.profiling = start_profiling(service, profiles_url)

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.meter_provider.force_flush()
        if self.profiling:
            import pyroscope
            pyroscope.shutdown()   # sends what it has sampled

    def shutdown(self) -> None:
        self.flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def start_profiling(service: str, url: str) -> bool:
    try:
        import pyroscope
    except ImportError:
        print("pyroscope-io is not installed: no profiles (pip install -r "
              "examples/requirements.txt)", file=sys.stderr)
        return False
    pyroscope.configure(application_name=service, server_address=url,
                        tags={"host": socket.gethostname()})
    return True


def busy(seconds: float) -> None:
    """Work the profiler can see (not sleep, which samples as idle)."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n = (n * 31 + 7) % 1_000_003


def handler_for(telemetry: Telemetry):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            start = time.perf_counter()
            path = self.path.split("?")[0]
            with telemetry.tracer.start_as_current_span(f"GET {path}") as span:
                if path == "/":
                    status = 200
                    busy(0.002)
                elif path == "/slow":
                    status = 200
                    busy(random.uniform(0.05, 0.25))
                elif path == "/error":
                    status = 500
                else:
                    status = 404
                body = f"{status}\n".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                span.set_attribute("http.request.method", "GET")
                span.set_attribute("url.path", path)
                span.set_attribute("http.response.status_code", status)
            attributes = {"status": str(status), "method": "GET"}
            telemetry.requests.add(1, attributes)
            telemetry.duration.record(time.perf_counter() - start, attributes)

        def log_message(self, *args):
            pass

    return Handler


def generate(port: int, count: int) -> dict[int, int]:
    """`count` requests to the service itself: mostly /, some /slow, /error and 404s."""
    paths = ["/"] * 6 + ["/slow", "/slow", "/error", "/missing"]
    seen: dict[int, int] = {}
    for i in range(count):
        url = f"http://127.0.0.1:{port}{paths[i % len(paths)]}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        seen[status] = seen.get(status, 0) + 1
    return seen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--service-name", default="otel-example",
                        help="service.name: Prometheus' job, Jaeger's service, Pyroscope's "
                             "application")
    parser.add_argument("--otlp-url", default="http://127.0.0.1:4318",
                        help="Alloy's OTLP/HTTP receiver")
    parser.add_argument("--profiles-url", default="http://127.0.0.1:4041",
                        help="Alloy's pyroscope.receive_http ('' for no profiles)")
    parser.add_argument("--requests", type=int, default=0,
                        help="make this many requests to itself, flush and exit")
    parser.add_argument("--export-seconds", type=float, default=5.0,
                        help="how often metrics are sent")
    args = parser.parse_args(argv)

    telemetry = Telemetry(args.service_name, args.otlp_url.rstrip("/"),
                          args.profiles_url or None, args.export_seconds)
    server = ThreadingHTTPServer((args.address, args.port), handler_for(telemetry))
    server.daemon_threads = True
    if not args.requests:
        print(f"{args.service_name} on http://{args.address}:{args.port}/", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        telemetry.shutdown()
        return 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen = generate(server.server_address[1], args.requests)
    # a second export a little later: a rate needs two samples of the counters
    time.sleep(args.export_seconds)
    server.shutdown()
    telemetry.shutdown()
    print(f"{args.service_name}: {args.requests} requests, statuses "
          f"{dict(sorted(seen.items()))}, telemetry flushed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
