"""An operator turns tracing on: Jaeger on the monitoring host stores the spans sent to
its OTLP/HTTP port, Prometheus scrapes its telemetry, Grafana gets the `jaeger` data
source.

JAEGER HERE IS A TEST DOUBLE, NOT JAEGER: upstream's archive cannot be had on the test
machine and Debian has none, so the mirror serves an upstream-shaped
jaeger-2.20.0-linux-amd64.tar.gz whose `jaeger` is tests/harness/doubles/jaeger_double.py
(tests/harness/doubles/__init__.py, `publish`). The SENDER is real: the OpenTelemetry
SDK's OTLP/HTTP exporter on the controller. Grafana is the API double of
tests/harness/doubles/grafana_double.py. What is proven is the deploy: the archive install,
user, folders, config checked by `jaeger validate`, hardened unit, readiness on the health
check, the scrape of its metrics port, the data source, `--dry` exact, idempotent re-runs.

Written by the Jaeger helper for the lead to run (helpers run no fleet test). Alloy's
OTLP forwarding (another part of issue 21) is not exercised here: spans go straight to
Jaeger's OTLP port.
"""


import pytest

from conftest import hosts_fixture, write_inventory
from harness import doubles
from harness.doubles import grafana_archive
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (assert_rerun_changes_nothing, exposure_level, http_json,
                           prom_query, wait_for, wait_targets_up)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)
SCRAPE_SECONDS = 5
EXPOSURE_LIMIT = 2.0
PASSWORD = "e2e-jaeger-Grafana-pw"
ENV = {"GRAFANA_ADMIN_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    (mon,) = hosts
    jaeger = doubles.publish(mirror, tmp_path_factory.mktemp("jaeger"), ("jaeger",))
    settings = grafana_archive.prometheus_host_settings(mirror, tmp_path_factory, [jaeger],
                                                        SCRAPE_SECONDS)
    settings.update({"jaeger_enabled": True, "jaeger_retention": "2d"})
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon]}, group_data={"all": settings})
    return {"inventory": inventory, "mon": mon}


def send_spans(mon, service: str) -> str:
    """A parent and a child span of `service`, sent by the real SDK; their trace id."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://{mon.ip}:14318/v1/traces", timeout=10)))
    with provider.get_tracer("monstack-e2e").start_as_current_span("GET /orders") as parent:
        with provider.get_tracer("monstack-e2e").start_as_current_span("SELECT orders"):
            pass
    provider.shutdown()
    return format(parent.get_span_context().trace_id, "032x")


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes.get("Jaeger | Install jaeger 2.20.0 from the release archive") == 1


def test_jaeger_runs_as_its_user_and_is_scraped(stack, first_runs):
    mon = stack["mon"]
    out = mon.ssh("systemctl show -p User,ActiveState jaeger; "
                  "stat -c '%U %a' /var/lib/jaeger /var/lib/jaeger/keys /etc/jaeger/config.yaml; "
                  "/usr/local/bin/jaeger --version").stdout
    assert "User=jaeger" in out and "ActiveState=active" in out, out
    assert "jaeger 750" in out and "root 640" in out, out
    assert "TEST DOUBLE" in out   # what ran is the double, and says so
    assert exposure_level(mon, "jaeger") <= EXPOSURE_LIMIT
    wait_targets_up(mon, {("jaeger", f"{mon.ip}:8888"), ("node", f"{mon.ip}:9100")})
    # readiness was the health check on loopback; the query port is on the host's address
    assert mon.ssh("curl -fsS http://127.0.0.1:13133/status").returncode == 0


def test_sdk_spans_are_stored_and_queryable(stack, first_runs):
    mon = stack["mon"]
    trace_id = send_spans(mon, "e2e-shop")
    services = http_json(f"http://{mon.ip}:16686/api/services")["data"]
    assert "e2e-shop" in services
    found = http_json(f"http://{mon.ip}:16686/api/traces?service=e2e-shop")["data"]
    trace = next(t for t in found if t["traceID"] == trace_id)
    assert {s["operationName"] for s in trace["spans"]} == {"GET /orders", "SELECT orders"}
    # on disk, in Badger's folder (the unit lets it write there, nowhere else)
    assert trace_id in mon.ssh("cat /var/lib/jaeger/values/test-double-spans.jsonl").stdout
    # its telemetry counts them, as Prometheus sees it
    wait_for("Jaeger's accepted spans in Prometheus", lambda: prom_query(
        mon, 'otelcol_receiver_accepted_spans_total{job="jaeger"} >= 2'), timeout=60)


def test_grafana_has_the_jaeger_data_source(stack, first_runs):
    mon = stack["mon"]
    source = grafana_archive.data_source(mon, "jaeger", PASSWORD)
    assert (source["name"], source["type"], source["url"]) == (
        "Jaeger", "jaeger", f"http://{mon.ip}:16686")
    assert "tracesToLogsV2" not in (source.get("jsonData") or {})   # no Loki here


def test_a_rerun_changes_nothing_and_keeps_the_spans(stack, first_runs):
    mon = stack["mon"]
    trace_id = send_spans(mon, "e2e-rerun")
    assert_rerun_changes_nothing(lambda: run_pyinfra(stack["inventory"], env=ENV),
                                 [(mon, ["jaeger", "prometheus"])])
    found = http_json(f"http://{mon.ip}:16686/api/traces?service=e2e-rerun")["data"]
    assert [t["traceID"] for t in found] == [trace_id]


def test_a_retention_change_is_predicted_and_restarts_jaeger(stack, first_runs):
    mon = stack["mon"]
    before = mon.ssh("systemctl show -p MainPID --value jaeger").stdout.strip()
    dry = run_pyinfra(stack["inventory"], env=ENV, dry=True,
                      data={"jaeger_retention": "3d"}).check()
    real = run_pyinfra(stack["inventory"], env=ENV,
                       data={"jaeger_retention": "3d"}).check()
    assert_preview_was_exact(dry, real)
    assert "spans: 72h" in mon.ssh("cat /etc/jaeger/config.yaml").stdout
    assert mon.ssh("systemctl show -p MainPID --value jaeger").stdout.strip() != before
