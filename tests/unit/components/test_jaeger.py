"""jaeger: its settings, config.yaml, unit, scrape target and Grafana data source, and its
TEST DOUBLE fed real OTLP by the OpenTelemetry SDK.

No real Jaeger build can run here (Debian has none; upstream's downloads are not
reachable): config.yaml is checked against the keys of Jaeger v2.20.0's own examples and
by the double's `validate`, which stands in for the collector's. The OTLP sender side is
real: opentelemetry-sdk with its OTLP/HTTP exporter (requirements-dev.txt).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from harness.doubles import DOUBLES, launcher
from harness.net import free_port
from harness.one_address import current  # noqa: F401
from harness.units import directives, exec_start_argv
from operations.base.schema import SettingsError
from operations.components import jaeger
from operations.components.grafana import provisioning as gp
from operations.components.prometheus import targets
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate

DOUBLE = DOUBLES["jaeger"]


# -- settings -----------------------------------------------------------------------------------
def test_jaeger_is_an_opt_in_monitoring_component():
    c = COMPONENTS["jaeger"]
    assert (c.port, c.group, c.enabled, c.listen_address) == (16686, "monitoring", False, "auto")
    assert c.extra_ports == ("jaeger_otlp_port", "jaeger_metrics_port")
    assert c.scrape_job[0] == "jaeger" and c.scrape_port == "jaeger_metrics_port"
    s = validate("mon1", {})
    assert s.jaeger_enabled is False
    assert (s.jaeger_otlp_port, s.jaeger_metrics_port) == (14318, 8888)
    assert (s.jaeger_data_dir, s.jaeger_retention) == ("/var/lib/jaeger", "7d")
    assert s.jaeger_install_method == "archive" and s.jaeger_version == "2.20.0"
    order = list(COMPONENTS)
    assert order.index("loki") < order.index("jaeger") < order.index("alloy")


def test_package_method_is_refused():
    with pytest.raises(SettingsError, match="Jaeger has no Debian package"):
        validate("mon1", {"jaeger_install_method": "package"})


@pytest.mark.parametrize("retention,hours", [("7d", "168h"), ("48h", "48h"), ("2w", "336h"),
                                             ("1h", "1h")])
def test_retention_is_written_as_whole_hours(retention, hours):
    assert jaeger.retention_go(validate("mon1", {"jaeger_retention": retention})
                               .jaeger_retention) == hours


@pytest.mark.parametrize("retention", ["30m", "90m", "0s"])
def test_retention_below_an_hour_or_not_whole_hours_is_refused(retention):
    with pytest.raises(SettingsError, match="jaeger_retention"):
        validate("mon1", {"jaeger_retention": retention})


def test_release_entry():
    r = RELEASES["jaeger"]
    assert r["file"].format(version="2.20.0", arch="amd64") == "jaeger-2.20.0-linux-amd64.tar.gz"
    assert r["top_dir"].format(version="2.20.0", arch="arm64") == "jaeger-2.20.0-linux-arm64"
    assert r["binaries"] == {"jaeger": "jaeger"}
    assert set(r["arch"]) == {"x86_64", "aarch64"}   # no 32-bit ARM build upstream
    assert r["proven"] == []
    assert "v2.20.0" in r["notes"] and "package-deploy.sh" in r["notes"]
    assert CHECKSUMS["jaeger-2.20.0-linux-amd64.tar.gz"] == \
        "c967368ba09be356089ef7e8aab2a76d170dc007ff6ccf7925c8167ede2900d7"
    assert "jaeger-2.20.0-linux-arm64.tar.gz" not in CHECKSUMS   # none found


# -- config.yaml --------------------------------------------------------------------------------
def test_config_has_what_jaeger_v2_needs(current):
    s = current({"jaeger_enabled": True, "jaeger_retention": "3d"})
    cfg = yaml.safe_load(jaeger.config_content(s))
    service = cfg["service"]
    assert service["extensions"] == ["jaeger_storage", "jaeger_query", "healthcheckv2"]
    assert service["pipelines"] == {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                               "exporters": ["jaeger_storage_exporter"]}}
    reader = service["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader == {"host": "10.0.0.5", "port": 8888}   # where Prometheus scrapes it
    assert service["telemetry"]["metrics"]["level"] == "detailed"
    ext = cfg["extensions"]
    assert ext["healthcheckv2"] == {"use_v2": True, "http": {"endpoint": "127.0.0.1:13133"}}
    assert ext["jaeger_query"] == {"storage": {"traces": "local"},
                                   "http": {"endpoint": "10.0.0.5:16686"},
                                   "grpc": {"endpoint": "127.0.0.1:16685"}}
    assert ext["jaeger_storage"] == {"backends": {"local": {"badger": {
        "directories": {"keys": "/var/lib/jaeger/keys", "values": "/var/lib/jaeger/values"},
        "ephemeral": False, "ttl": {"spans": "72h"}}}}}
    assert cfg["receivers"] == {"otlp": {"protocols": {"http": {"endpoint": "10.0.0.5:14318"}}}}
    assert cfg["exporters"] == {"jaeger_storage_exporter": {"trace_storage": "local"}}
    assert set(cfg) == {"service", "extensions", "receivers", "processors", "exporters"}


def test_config_follows_the_settings(current):
    s = current({"jaeger_listen_address": "::", "jaeger_port": 16000,
                 "jaeger_otlp_port": 24318, "jaeger_metrics_port": 9888,
                 "jaeger_data_dir": "/srv/jaeger/"})
    cfg = yaml.safe_load(jaeger.config_content(s))
    assert cfg["extensions"]["jaeger_query"]["http"]["endpoint"] == "[::]:16000"
    assert cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "[::]:24318"
    reader = cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    assert reader["prometheus"] == {"host": "::", "port": 9888}
    dirs = cfg["extensions"]["jaeger_storage"]["backends"]["local"]["badger"]["directories"]
    assert dirs == {"keys": "/srv/jaeger/keys", "values": "/srv/jaeger/values"}


def test_validator_is_the_collectors_validate():
    assert jaeger.validator("/usr/local/bin/jaeger").format(path="/etc/jaeger/.new") == \
        "/usr/local/bin/jaeger validate --config=/etc/jaeger/.new"


def run_double(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-B", str(DOUBLE), *args], capture_output=True,
                          text=True, timeout=30, env=env)


def test_the_double_validates_the_deploys_config(current, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(jaeger.config_content(current()))
    done = run_double("validate", f"--config={path}")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("break_it,words", [
    (lambda t: t.replace("[jaeger_storage, jaeger_query, healthcheckv2]",
                         "[jaeger_storage, jaeger_query]"), "lacks healthcheckv2"),
    (lambda t: t.replace("trace_storage: local", "trace_storage: other"),
     "'other' is not a jaeger_storage backend"),
    (lambda t: t.replace("ephemeral: false", "ephemeral: false\n          ttll: 1"),
     "invalid keys: ttll"),
    (lambda t: t.replace("spans: 168h", "spans: 7d"), "invalid duration"),
    (lambda t: t.replace('"10.0.0.5:14318"', '"10.0.0.5"'), "is not host:port"),
    (lambda t: t + "extra_section: {}\n", "invalid keys: extra_section"),
    (lambda t: t.replace("receivers: [otlp]", "receivers: [zipkin]"),
     "references receiver 'zipkin' which is not configured"),
])
def test_the_double_refuses_a_broken_config(current, tmp_path, break_it, words):
    text = jaeger.config_content(current())
    broken = break_it(text)
    assert broken != text
    path = tmp_path / "config.yaml"
    path.write_text(broken)
    done = run_double("validate", f"--config={path}")
    assert done.returncode == 1 and words in done.stderr, done.stderr


def test_the_double_says_what_it_is_and_refuses_unknown_flags(tmp_path):
    script = tmp_path / "jaeger"
    script.write_text(launcher("jaeger"))
    script.chmod(0o755)
    head = script.read_text().splitlines()[1]
    assert "TEST DOUBLE" in head and "jaeger_double.py" in head and "2.20.0" in head
    for args in (["--version"], ["version"]):
        done = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and "TEST DOUBLE" in done.stdout and "2.20.0" in done.stdout
    done = subprocess.run([str(script), "--config.file=/x"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1 and "unknown flag: --config.file" in done.stderr
    done = subprocess.run([str(script), "serve"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and 'unknown command "serve"' in done.stderr


# -- the unit -------------------------------------------------------------------------------------
def test_jaeger_unit(current):
    s = current()
    lines = directives(jaeger.unit(s, "/usr/local/bin/jaeger").content())
    assert "User=jaeger" in lines and "ReadWritePaths=/var/lib/jaeger" in lines
    assert "ProtectSystem=strict" in lines and "CapabilityBoundingSet=" in lines
    assert "NoNewPrivileges=yes" in lines
    assert not any(line.startswith("ExecReload") for line in lines)   # restarts on change
    assert exec_start_argv("\n".join(lines)) == ["/usr/local/bin/jaeger",
                                                 "--config=/etc/jaeger/config.yaml"]
    assert jaeger.ready_url() == "http://127.0.0.1:13133/status"


def test_leaves_its_config_and_data():
    s = validate("mon1", {"jaeger_data_dir": "/srv/jaeger"})
    left = jaeger.leaves(s)
    assert left.config == ("/etc/jaeger",) and left.data == ("/srv/jaeger",)


# -- Prometheus and Grafana ---------------------------------------------------------------------
def test_prometheus_scrapes_its_metrics_port(inventory):
    inventory({"monitoring": ["mon1"]}, {"jaeger_enabled": True, "jaeger_metrics_port": 9888})(
        "mon1")
    jobs = {j["name"]: j for j in targets.inventory_jobs()}
    assert jobs["jaeger"]["groups"] == [{"targets": ["mon1:9888"], "labels": {"host": "mon1"}}]
    # the others are still scraped at their own port
    assert jobs["node"]["groups"][0]["targets"] == ["mon1:9100"]


def test_not_enabled_not_scraped(inventory):
    inventory({"monitoring": ["mon1"]})("mon1")
    jobs = {j["name"]: j for j in targets.inventory_jobs()}
    assert jobs["jaeger"]["groups"] == []


def test_grafana_data_source_links_traces_to_loki_logs(inventory):
    use = inventory({"monitoring": ["mon1"]}, {"jaeger_enabled": True})
    sources = {d["uid"]: d for d in gp.datasources(use("mon1"))}
    assert sources["jaeger"] == {
        "uid": "jaeger", "name": "Jaeger", "type": "jaeger", "url": "http://mon1:16686",
        "access": "proxy", "isDefault": False,
        "jsonData": {"tracesToLogsV2": {
            "datasourceUid": "loki",
            "tags": [{"key": "service.name", "value": "service_name"}],
            "filterByTraceID": True, "filterBySpanID": False,
            "spanStartTimeShift": "-1m", "spanEndTimeShift": "1m"}}}
    assert "loki" in sources


def test_grafana_data_source_without_loki_has_no_log_link(inventory):
    use = inventory({"monitoring": ["mon1"]}, {"jaeger_enabled": True, "loki_enabled": False})
    sources = {d["uid"]: d for d in gp.datasources(use("mon1"))}
    assert "loki" not in sources and "jsonData" not in sources["jaeger"]


def test_no_jaeger_no_data_source(inventory):
    use = inventory({"monitoring": ["mon1"]})
    assert "jaeger" not in [d["uid"] for d in gp.datasources(use("mon1"))]


# -- the double, fed by the OpenTelemetry SDK ---------------------------------------------------
def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status, json.loads(answer.read())


def wait_up(url: str, proc, seconds: float = 15):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the double exited: {proc.stderr.read()}")
        try:
            return get_json(url)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def running_double(current, tmp_path):
    ports = {k: free_port() for k in ("query", "otlp", "metrics")}
    s = current({"jaeger_listen_address": "127.0.0.1", "jaeger_port": ports["query"],
                 "jaeger_otlp_port": ports["otlp"], "jaeger_metrics_port": ports["metrics"],
                 "jaeger_data_dir": str(tmp_path / "data")})
    health = free_port()
    text = jaeger.config_content(s).replace(f"127.0.0.1:{jaeger.HEALTH_PORT}",
                                            f"127.0.0.1:{health}")
    for sub in ("keys", "values"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    config = tmp_path / "config.yaml"
    config.write_text(text)

    def start():
        proc = subprocess.Popen([sys.executable, "-B", str(DOUBLE), f"--config={config}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_up(f"http://127.0.0.1:{health}/status", proc)
        return proc

    procs = [start()]
    base = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    yield {"base": base, "data": tmp_path / "data", "procs": procs, "start": start}
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def send_spans(otlp_base: str, service: str) -> tuple[str, list[str]]:
    """Two spans (a parent and its child) of `service`, exported by the SDK's OTLP/HTTP
    exporter in protobuf; returns their trace id and span ids, hex."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"{otlp_base}/v1/traces", timeout=5)))
    tracer = provider.get_tracer("monstack-test")
    with tracer.start_as_current_span("GET /checkout") as parent:
        with tracer.start_as_current_span("SELECT orders") as child:
            pass
    provider.shutdown()
    trace_id = format(parent.get_span_context().trace_id, "032x")
    return trace_id, [format(span.get_span_context().span_id, "016x")
                      for span in (parent, child)]


def test_sdk_spans_come_back_through_the_query_api(running_double):
    base = running_double["base"]
    assert get_json(f"{base['query']}/api/services") == (
        200, {"data": [], "total": 0, "limit": 0, "offset": 0, "errors": None})
    trace_id, (parent_id, child_id) = send_spans(base["otlp"], "shop-api")
    status, services = get_json(f"{base['query']}/api/services")
    assert status == 200 and services["data"] == ["shop-api"]
    status, found = get_json(f"{base['query']}/api/traces?service=shop-api")
    (trace,) = found["data"]
    assert trace["traceID"] == trace_id
    spans = {s["spanID"]: s for s in trace["spans"]}
    assert set(spans) == {parent_id, child_id}
    assert spans[parent_id]["operationName"] == "GET /checkout"
    assert spans[child_id]["operationName"] == "SELECT orders"
    assert spans[child_id]["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent_id}]
    assert all(s["traceID"] == trace_id for s in trace["spans"])
    assert trace["processes"][spans[parent_id]["processID"]]["serviceName"] == "shop-api"
    assert get_json(f"{base['query']}/api/traces/{trace_id}")[1]["data"][0]["traceID"] == trace_id
    assert get_json(f"{base['query']}/api/traces?service=other")[1]["data"] == []
    # its telemetry counts them under the collector's names
    with urllib.request.urlopen(f"{base['metrics']}/metrics", timeout=5) as answer:
        metrics = answer.read().decode()
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 2' in metrics
    assert 'otelcol_exporter_sent_spans_total{exporter="jaeger_storage_exporter"} 2' in metrics
    assert 'otelcol_receiver_refused_spans_total{receiver="otlp",transport="http"} 0' in metrics


def test_spans_are_on_disk_and_survive_a_restart(running_double):
    base = running_double["base"]
    trace_id, _ = send_spans(base["otlp"], "billing")
    stored = (running_double["data"] / "values" / "test-double-spans.jsonl").read_text()
    assert trace_id in stored
    assert (running_double["data"] / "keys" / "TEST-DOUBLE").exists()
    old = running_double["procs"][0]
    old.terminate()
    old.wait(timeout=10)
    running_double["procs"].append(running_double["start"]())
    found = get_json(f"{base['query']}/api/traces?service=billing")[1]["data"]
    assert [t["traceID"] for t in found] == [trace_id]


def test_a_garbled_export_is_refused_and_counted(running_double):
    base = running_double["base"]
    request = urllib.request.Request(f"{base['otlp']}/v1/traces", data=b"\x0a\xff\xff",
                                     headers={"Content-Type": "application/x-protobuf"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    with urllib.request.urlopen(f"{base['metrics']}/metrics", timeout=5) as answer:
        assert 'otelcol_receiver_refused_spans_total{receiver="otlp",transport="http"} 1' in \
            answer.read().decode()


def test_the_double_does_not_start_where_it_may_not_write(current, tmp_path):
    """Its store's folders missing or not writable (a unit's sandbox): it exits 1, as a
    Jaeger whose Badger store cannot open does."""
    s = current({"jaeger_listen_address": "127.0.0.1", "jaeger_port": free_port(),
                 "jaeger_otlp_port": free_port(), "jaeger_metrics_port": free_port(),
                 "jaeger_data_dir": str(tmp_path / "absent")})
    config = tmp_path / "config.yaml"
    config.write_text(jaeger.config_content(s).replace(
        f"127.0.0.1:{jaeger.HEALTH_PORT}", f"127.0.0.1:{free_port()}"))
    done = run_double(f"--config={config}")
    assert done.returncode == 1 and "cannot start" in done.stderr, done.stderr


def test_the_published_archive_is_shaped_as_upstreams(current, tmp_path):
    """What the mirror serves the fleet: jaeger-<version>-linux-amd64.tar.gz holding
    jaeger-<version>-linux-amd64/jaeger, the double behind its launcher, which checks the
    deploy's config as `jaeger validate` does."""
    import tarfile
    from harness.doubles import build
    archive = build("jaeger", tmp_path / "work")
    assert archive.name == "jaeger-2.20.0-linux-amd64.tar.gz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "jaeger-2.20.0-linux-amd64/jaeger" in names
        tar.extractall(tmp_path / "out", filter="tar")
    program = tmp_path / "out" / "jaeger-2.20.0-linux-amd64" / "jaeger"
    done = subprocess.run([str(program), "--version"], capture_output=True, text=True,
                          timeout=30)
    assert "TEST DOUBLE" in done.stdout and "2.20.0" in done.stdout
    config = tmp_path / "config.yaml"
    config.write_text(jaeger.config_content(current()))
    done = subprocess.run(jaeger.validator(str(program)).format(path=config).split(),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_where_alloy_sends_traces(inventory):
    use = inventory({"monitoring": ["mon1"]}, {"jaeger_enabled": True,
                                               "jaeger_otlp_port": 24318})
    use("mon1")
    from operations.base.inventory import hosts_running
    (h,) = hosts_running("jaeger")
    assert jaeger.otlp_traces_url(h) == "http://mon1:24318/v1/traces"
