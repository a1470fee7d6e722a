"""An operator adds traces and profiles: Jaeger and Pyroscope on the monitoring host, and
an application host whose Alloy takes its applications' OTLP and profiles
(alloy_otlp = True) and forwards them. The example service (examples/otel_service.py,
the real OpenTelemetry SDK and Pyroscope agent, from PyPI's wheels) runs on the
application host and sends to its Alloy.

JAEGER, PYROSCOPE, LOKI, ALLOY AND GRAFANA ARE TEST DOUBLES IN THIS TEST, in
upstream-shaped release files on the mirror (tests/harness/doubles/: jaeger_double.py,
pyroscope_double.py, http_readiness_double.py, grafana_double.py). The Alloy double runs
the config.alloy the deploy wrote: it forwards the example's OTLP traces and logs
verbatim to the URLs of its otelcol.exporter.otlphttp blocks, its profiles to
pyroscope.write's URL, and translates its metrics as it reproduces Alloy's
otelcol.exporter.prometheus into remote-write requests to prometheus.remote_write's
endpoints. Prometheus, Alertmanager and node_exporter are Debian's REAL builds, repacked.

Metrics: the app host's Alloy writes them to the monitoring host's real Prometheus,
whose unit the deploy gave --web.enable-remote-write-receiver (every Debian build has
it; Debian's builds have no OTLP receiver, bug #1080354); the test queries the example's
http_requests_total{job=...} there.

Asserted: --dry exact, spans queryable in Jaeger's API, the example's name among
Pyroscope's service_name label values, the example's metrics in the real Prometheus,
Alloy's pipeline counters, the data sources jaeger and pyroscope and the
monstack-pipelines dashboard in Grafana, a re-run that changes nothing.
"""

import base64
import json
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness import doubles, otel_example
from harness.doubles import grafana_archive
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.removal import inventory_with, switch_off_and_purge
from harness.stack import (assert_rerun_changes_nothing, http_json, prom_query, wait_for)
from operations.stack import COMPONENTS

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2, suites=("bookworm", "trixie"))   # the app host runs Debian 13
PASSWORD = "e2e-Grafana-admin-pw#1"
ENV = {"GRAFANA_ADMIN_PASSWORD": PASSWORD}
RUNS = {"prometheus", "alertmanager", "node_exporter", "grafana", "loki", "alloy", "jaeger",
        "pyroscope"}
SERVICE = "e2e-otel-example"


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, app = hosts
    # Loki, Alloy, Jaeger, Pyroscope: TEST DOUBLES in upstream-shaped release files
    published = doubles.publish(mirror, tmp_path_factory.mktemp("doubles"),
                                ("loki", "alloy", "jaeger", "pyroscope"))
    settings = grafana_archive.monitoring_host_settings(mirror, tmp_path_factory,
                                                        published=[published])
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    settings.update({"jaeger_enabled": True, "pyroscope_enabled": True,
                     "prometheus_scrape_interval": "5s", "prometheus_scrape_timeout": "4s"})
    app_data = {"alloy_otlp": True}
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon], "apps": [app]},
                                group_data={"all": settings}, host_data={app.ip: app_data})
    return {"inventory": inventory, "mon": mon, "app": app}


@pytest.fixture(scope="module")
def example_ran(stack, first_runs):
    """The example service on the app host: 40 requests, every signal flushed."""
    app = stack["app"]
    otel_example.install(app)
    out = otel_example.run(app, "--port", "8000", "--requests", "40", "--service-name",
                           SERVICE, "--export-seconds", "2").stdout
    assert f"{SERVICE}: 40 requests" in out, out
    return out


def grafana(mon, path: str):
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(f"http://{mon.ip}:3000{path}",
                                 headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes["Alloy | Write config.alloy (checked by alloy validate)"] == 2


def test_the_app_hosts_alloy_receives_on_loopback(stack, first_runs):
    app, mon = stack["app"], stack["mon"]
    config = app.ssh("cat /etc/alloy/config.alloy").stdout
    assert 'endpoint = "127.0.0.1:4318"' in config and 'endpoint = "127.0.0.1:4317"' in config
    assert f'traces_endpoint = "http://{mon.ip}:14318/v1/traces"' in config
    assert f'logs_endpoint = "http://{mon.ip}:3100/otlp/v1/logs"' in config
    assert f'url = "http://{mon.ip}:4040"' in config
    assert f'url  = "http://{mon.ip}:9090/api/v1/write"' in config
    assert "otelcol.exporter.prometheus" in config
    listening = app.ssh("ss -ltnH").stdout
    for port in (4317, 4318, 4041):
        assert f"127.0.0.1:{port} " in listening, (port, listening)
    # the monitoring host's Alloy ships logs only
    assert "otelcol" not in mon.ssh("cat /etc/alloy/config.alloy").stdout


def test_spans_reach_jaeger(stack, example_ran):
    mon = stack["mon"]
    wait_for("the example's service in Jaeger", lambda: SERVICE in (
        http_json(f"http://{mon.ip}:16686/api/services").get("data") or []), timeout=60)
    traces = http_json(f"http://{mon.ip}:16686/api/traces?service={SERVICE}")["data"]
    assert traces, "no trace of the example in Jaeger"


def test_profiles_reach_pyroscope(stack, example_ran):
    mon = stack["mon"]

    def names():
        req = urllib.request.Request(
            f"http://{mon.ip}:4040/querier.v1.QuerierService/LabelValues",
            data=json.dumps({"name": "service_name"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read()).get("names") or []

    wait_for("the example among Pyroscope's service names", lambda: SERVICE in names(),
             timeout=60)


def test_metrics_reach_the_real_prometheus(stack, example_ran):
    mon, app = stack["mon"], stack["app"]
    unit = mon.ssh("systemctl cat prometheus").stdout
    assert "--web.enable-remote-write-receiver" in unit
    assert "otlp" not in unit
    wait_for("the example's request counter in Prometheus", lambda: prom_query(
        mon, f'http_requests_total{{job="{SERVICE}"}}'), timeout=90)
    by_status = {r["metric"]["status"]: float(r["value"][1]) for r in prom_query(
        mon, f'http_requests_total{{job="{SERVICE}"}}')}
    assert sum(by_status.values()) == 40 and set(by_status) == {"200", "404", "500"}, by_status
    assert prom_query(mon, f'http_request_duration_seconds_bucket{{job="{SERVICE}",le="+Inf"}}')
    # instance: service.instance.id, the example's host name
    instances = {r["metric"].get("instance") for r in prom_query(
        mon, f'http_requests_total{{job="{SERVICE}"}}')}
    assert instances == {app.ssh("hostname").stdout.strip()}, instances


def test_alloys_pipeline_counters(stack, example_ran):
    app = stack["app"]
    metrics = app.ssh(f"curl -fsS http://{app.ip}:12345/metrics").stdout

    def value(name, component):
        for line in metrics.splitlines():
            if line.startswith(name + "{") and f'component_id="{component}"' in line:
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} of {component} not in Alloy's metrics")

    jaeger = "otelcol.exporter.otlphttp.jaeger"
    assert value("otelcol_receiver_accepted_spans_total", "otelcol.receiver.otlp.apps") == 40
    assert value("otelcol_exporter_sent_spans_total", jaeger) == 40
    assert value("otelcol_exporter_send_failed_spans_total", jaeger) == 0
    assert value("pyroscope_write_sent_profiles_total", "pyroscope.write.pyroscope") >= 1
    assert value("pyroscope_write_dropped_profiles_total", "pyroscope.write.pyroscope") == 0
    writer = "prometheus.remote_write.apps"
    assert value("prometheus_remote_storage_samples_total", writer) > 0
    assert value("prometheus_remote_storage_samples_failed_total", writer) == 0
    assert value("prometheus_remote_storage_samples_retries_total", writer) == 0


def test_grafana_has_the_jaeger_and_pyroscope_data_sources(stack, first_runs):
    mon = stack["mon"]
    assert grafana(mon, "/api/datasources/uid/jaeger")["type"] == "jaeger"
    assert grafana(mon, "/api/datasources/uid/pyroscope")["type"] == \
        "grafana-pyroscope-datasource"
    assert grafana(mon, "/api/dashboards/uid/monstack-pipelines")["dashboard"]["uid"] == \
        "monstack-pipelines"


def test_a_second_run_changes_nothing(stack, example_ran):
    assert_rerun_changes_nothing(
        lambda: run_pyinfra(stack["inventory"], env=ENV),
        [(stack["mon"], ["prometheus", "loki", "alloy", "jaeger", "pyroscope", "grafana"]),
         (stack["app"], ["alloy", "node_exporter"])])


def test_switching_jaeger_and_pyroscope_off_removes_them_and_their_data_sources(
        stack, example_ran, tmp_path):
    """Last: the operator drops traces and profiles. --dry lists each removal, the run
    does exactly that, nothing of them is left on the monitoring host, the next --dry and
    run change nothing (tests/harness/removal.py); Grafana's data sources go with them."""
    mon = stack["mon"]
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(mon, ["jaeger", "pyroscope"])], env=ENV)
    uids = {d["uid"] for d in grafana(mon, "/api/datasources")}
    assert not uids & {"jaeger", "pyroscope"}, uids
    assert {"prometheus", "loki"} <= uids, uids

