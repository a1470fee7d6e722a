"""Jaeger v2: stores and shows the traces Alloy forwards (distributed tracing), on the
monitoring host.

Jaeger v2 is a distribution of the OpenTelemetry Collector: one process, one YAML config
(the collector's: receivers, processors, exporters, extensions, service). Here it takes
OTLP over HTTP on jaeger_otlp_port (Alloy on every host forwards its traces there), keeps
them in its embedded Badger store under jaeger_data_dir for jaeger_retention, and serves
the query API and UI on jaeger_port (Grafana's `jaeger` data source). Its own metrics
(the collector's otelcol_* series) are on jaeger_metrics_port, where Prometheus scrapes
them; its health check (healthcheckv2) and the query gRPC API stay on loopback.

Jaeger has no authentication here: whoever reaches jaeger_port reads every trace and
whoever reaches jaeger_otlp_port can write spans. Its listen address is `auto` (only the
address other hosts reach it at); keep that on a private network.

Debian has no Jaeger package: only the archive method installs it.
"""

from pyinfra.api import deploy

from operations.base.component import Component, Leaves
from operations.base.files import validated_file
from operations.base.install import directories, install_binaries, system_user
from operations.base.inventory import bind_address, bracketed, reach_address, settings
from operations.base.releases import github_release
from operations.base.schema import Setting, duration_seconds
from operations.base.services import Unit, data_server_unit, service
from operations.base.templates import render

NAME = "jaeger"
CONFIG_DIR = "/etc/jaeger"
CONFIG = f"{CONFIG_DIR}/config.yaml"
# healthcheckv2's default port (jaeger v2.20.0 ports/ports.go CollectorV2HealthChecks);
# with use_v2 its status is at /status (docker-compose/kafka/docker-compose.yml at the tag
# probes http://localhost:13133/status)
HEALTH_PORT = 13133
HEALTH_PATH = "/status"
# the query service's gRPC API (ports/ports.go QueryGRPC): loopback, nothing here uses it
QUERY_GRPC_PORT = 16685
# the one trace store of jaeger_storage, named by jaeger_query and the exporter
STORE = "local"


def retention_problems(values: dict) -> list[str]:
    """Badger's ttl.spans is a Go duration: whole hours from 1h on (d and w are taken and
    written as hours)."""
    retention = values["jaeger_retention"]
    seconds = duration_seconds(retention)
    if seconds < 3600 or seconds % 3600:
        return [f"jaeger_retention ({retention}) must be whole hours, at least 1h "
                "(like 48h, 7d or 2w)"]
    return []


def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(s.jaeger_data_dir,))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    help="distributed tracing: stores the traces Alloy forwards, query API and UI; no "
         "authentication of its own",
    port=16686, group="monitoring", enabled=False,
    # no authentication: only the address other hosts reach this host at
    listen_address="auto",
    extra_ports=("jaeger_otlp_port", "jaeger_metrics_port"),
    fixed_listeners=(("Jaeger's health check", "127.0.0.1", HEALTH_PORT),
                     ("Jaeger's query gRPC API", "127.0.0.1", QUERY_GRPC_PORT)),
    scrape_job=("jaeger", "the trace store (Jaeger)"),
    scrape_port="jaeger_metrics_port",
    install_method="archive",
    install_help=("`archive`: upstream's release archive (via artifact_mirror; the amd64 "
                  "sha256 of the pinned version is pinned); `package`: refused, Debian has "
                  "no Jaeger package"),
    no_package=("Jaeger has no Debian package; use 'archive' (upstream's release archive, "
                "via artifact_mirror)"),
    checks=retention_problems,
    release=github_release(
        "jaegertracing/jaeger", version="2.20.0", oldest="2.20.0",
        oldest_reason=("the config is written for the v2 line at the pinned tag "
                       "(jaeger_query's http/grpc endpoints, healthcheckv2 with use_v2, "
                       "the telemetry's pull reader); older v2 builds were not checked"),
        proven=[],
        file="jaeger-{version}-linux-{arch}.tar.gz",
        top_dir="jaeger-{version}-linux-{arch}",
        binaries={"jaeger": "jaeger"},
        checksums="jaeger-{version}.sha256sum.txt",
        debian_package=None,
        notes="Test doubles only: the suite runs no real build of it (proven is []); "
              "tests/harness/doubles/jaeger_double.py stands in for it. "
              "v2.20.0 is the newest v2 tag seen (Aug 2026). At that tag: "
              "scripts/build/package-deploy.sh packs jaeger-<version>-<os>-<arch>.tar.gz "
              "holding the folder jaeger-<version>-<os>-<arch>/ with `jaeger` and "
              "`example-hotrod` (the tools are another archive, jaeger-tools-...), and "
              "jaeger-<version>.sha256sum.txt lists every archive in `shasum -b` form "
              "(`<hex> *<file>`; GPG .asc beside each: `checksums`, read by "
              "artifact_checksums_from_release); Makefile PLATFORMS: linux amd64, arm64, s390x, ppc64le (no 32-bit "
              "ARM: armv7/armv6 hosts cannot run it). "
              "CLI (cmd/jaeger/internal/command.go): the OpenTelemetry Collector's "
              "command (otelcol v0.155.0): --config=<file>, `jaeger validate "
              "--config=<file>` (otelcol's validate subcommand, a dry run of the "
              "config), `jaeger version`. Config keys from cmd/jaeger/config-badger.yaml "
              "and internal/storage/v1/badger/config.go (badger: directories.keys/"
              "values, ephemeral, ttl.spans a Go duration, default 72h), "
              "cmd/jaeger/internal/extension/jaegerquery/internal/flags.go (jaeger_query: "
              "storage.traces, http and grpc endpoints, defaults :16686 and :16685 from "
              "ports/ports.go), healthcheckv2 port 13133 (ports/ports.go), internal "
              "telemetry on the pull Prometheus reader at port 8888; metric names "
              "otelcol_receiver_accepted_spans_total, otelcol_receiver_refused_spans_total, "
              "otelcol_exporter_sent_spans_total, otelcol_exporter_send_failed_spans_total "
              "(monitoring/jaeger-mixin/generate/main.go). Only the linux-amd64 sha256 "
              "was found (two sources); arm64 needs artifact_checksums."),
    checksums={
        "jaeger-2.20.0-linux-amd64.tar.gz": "c967368ba09be356089ef7e8aab2a76d170dc007ff6ccf7925c8167ede2900d7",  # x2: a 'nexusdeploy' monitoring install script (sha256-verified wget); an 'hv-observability-binaries' installer pinning RELEASES (58367331 bytes)
    },
    settings=(
        Setting("jaeger_otlp_port", "int", 14318, minimum=1, maximum=65535, section="jaeger",
                help=("TCP port of its OTLP/HTTP receiver (POST /v1/traces), at its listen "
                      "address; not 4318, which Alloy holds on loopback")),
        Setting("jaeger_metrics_port", "int", 8888, minimum=1, maximum=65535, section="jaeger",
                help=("TCP port of its own metrics (the collector's telemetry), at its "
                      "listen address: Prometheus scrapes it there")),
        Setting("jaeger_data_dir", "str", "/var/lib/jaeger", section="jaeger",
                help="its Badger trace store (keys/ and values/)"),
        Setting("jaeger_retention", "duration", "7d", section="jaeger",
                help=("how long spans are kept (Badger's ttl.spans): whole hours, at least "
                      "1h; d and w are written as hours")),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.jaeger_data_dir


def retention_go(retention: str) -> str:
    """A retention setting as a Go duration of whole hours (7d -> 168h)."""
    return f"{int(duration_seconds(retention)) // 3600}h"


def config_content(s) -> str:
    listen = bind_address(NAME, s=s)
    data_dir = s.jaeger_data_dir.rstrip("/")
    return render(
        "jaeger/config.yaml.j2",
        query_endpoint=f"{bracketed(listen)}:{s.jaeger_port}",
        otlp_endpoint=f"{bracketed(listen)}:{s.jaeger_otlp_port}",
        metrics_host=listen, metrics_port=s.jaeger_metrics_port,
        health_endpoint=f"127.0.0.1:{HEALTH_PORT}",
        query_grpc_endpoint=f"127.0.0.1:{QUERY_GRPC_PORT}",
        store=STORE, keys_dir=f"{data_dir}/keys", values_dir=f"{data_dir}/values",
        retention=retention_go(s.jaeger_retention))


def otlp_traces_url(h) -> str:
    """Where other hosts send OTLP/HTTP traces to Jaeger on `h` (Alloy's forward)."""
    return f"http://{reach_address(NAME, h)}:{settings(h).jaeger_otlp_port}/v1/traces"


def validator(binary: str) -> str:
    """The collector's `validate`: load the config, build every component's config and
    check it (unknown keys are errors), without starting anything; exit 0 or 1."""
    return f"{binary} validate --config={{path}}"


def ready_url() -> str:
    return f"http://127.0.0.1:{HEALTH_PORT}{HEALTH_PATH}"


def unit(s, binary: str) -> Unit:
    return data_server_unit(
        NAME, s, [binary, f"--config={CONFIG}"],
        description="Jaeger (distributed tracing: trace store, query API and UI)",
        documentation="https://www.jaegertracing.io/docs/latest/")


@deploy("Jaeger")
def install():
    s = settings()
    system_user(NAME, home(s))
    data_dir = s.jaeger_data_dir.rstrip("/")
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"),
                (data_dir, NAME, NAME, "0750"),
                (f"{data_dir}/keys", NAME, NAME, "0750"),
                (f"{data_dir}/values", NAME, NAME, "0750"))
    binaries = install_binaries(NAME)
    jaeger = binaries.path(NAME)
    config_op = validated_file(
        name="Write Jaeger's config.yaml (checked by jaeger validate)", dest=CONFIG,
        content=config_content(s), validate=validator(jaeger),
        user="root", group=NAME, mode="0640")
    # the collector reads its config only at start: a change restarts it
    service(unit(s, jaeger), ready_url(), restart_on=[*binaries.ops, config_op])
