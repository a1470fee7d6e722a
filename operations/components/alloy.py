"""Grafana Alloy: the log shipper on every host. It reads the systemd journal, the log
files of alloy_log_paths and, where Docker runs, the containers' logs, and pushes them to
Loki with the labels host, job, unit / container / filename and level.

With alloy_otlp it also receives the host's applications' OTLP (gRPC and HTTP) and
profiles on alloy_otlp_address, batches them and forwards each signal to its backend:
metrics translated to Prometheus samples (otelcol.exporter.prometheus) and written with
prometheus.remote_write to every replica of the Prometheus group that scrapes the host
(its remote-write receiver: Debian's Prometheus builds have no OTLP endpoint), logs and
traces over OTLP/HTTP to Loki's OTLP endpoint and Jaeger, profiles to Pyroscope
(pyroscope.write); see README "Traces and profiles".

Alloy runs as its own user alloy, in the groups that may read logs: systemd-journal (the
journal), adm (/var/log) and docker (the Docker socket) where those groups exist and their
source is shipped. The groups are given by the unit (SupplementaryGroups), not added to
the account.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Socket

from operations.base import catalogue, grafana_repository
from operations.base.addresses import listen_address_problem, url_problem
from operations.base.component import Component, Leaves
from operations.base.facts import SystemGroups
from operations.base.files import validated_file
from operations.base.grafana_repository import VERSION_HELP
from operations.base.install import directories, install_binaries, system_user
from operations.base.inventory import (bracketed, endpoint, host_label, hosts_running,
                                       listen_address, local_url, reach_address, settings)
from operations.base.releases import grafana_zip_release
from operations.base.schema import Setting, SettingsError, version_tuple
from operations.base.services import Unit, service
from operations.base.templates import render
from operations.base import tls_auth
from operations.components.prometheus import federation

NAME = "alloy"
CONFIG_DIR = "/etc/alloy"
CONFIG = f"{CONFIG_DIR}/config.alloy"
DATA_DIR = "/var/lib/alloy"          # --storage.path: positions of files and journal
PACKAGE_BINARY = "/usr/bin/alloy"    # where Grafana's deb puts it
DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_HOST = f"unix://{DOCKER_SOCKET}"
LOG_GROUPS = ("systemd-journal", "adm")
LOKI_PUSH_PATH = "/loki/api/v1/push"

# The level field of a line: logfmt (level=warn), JSON ("level":"error") or "severity:
# info", case-insensitive. Only known level words are taken, so no line can invent label
# values (every value is a stream in Loki).
LEVEL_REGEX = (r"""(?i)(?:^|[\s{,"'])["']?(?:level|lvl|severity)["']?\s*[=:]\s*["']?"""
               r"(?P<level>trace|debug|info|notice|warn(?:ing)?|err(?:or)?|crit(?:ical)?"
               r"|alert|emerg(?:ency)?|fatal|panic)\b")
# After lower-casing: the journal's keywords (warning, crit) and short forms, as one name.
LEVEL_ALIASES = (("err", "error"), ("warning", "warn"), ("crit", "critical"),
                 ("emergency", "emerg"))


# OTLP in (alloy_otlp): where each signal goes on the backend's host
PROMETHEUS_WRITE_PATH = "/api/v1/write"           # Prometheus' remote-write receiver
LOKI_OTLP_PATH = "/otlp/v1/logs"                   # Loki 3's OTLP endpoint
TRACES_PATH = "/v1/traces"                         # Jaeger's OTLP/HTTP receiver
PROMETHEUS_PASSWORD = f"{CONFIG_DIR}/prometheus_password"   # Prometheus' login (basic auth)
# pyroscope.receive_http is general-availability from v1.10.0 on (its docs' `stage` at
# v1.10.0; public preview at v1.6.0-v1.9.x, which `run` refuses at its default stability
# level; absent before v1.5.0). The otelcol components used are there from v1.0.0.
OTLP_SINCE = (1, 10, 0)
OTLP_URLS = {
    "alloy_metrics_url": f"http://prometheus.lan:9090{PROMETHEUS_WRITE_PATH}",
    "alloy_traces_url": f"http://jaeger.lan:14318{TRACES_PATH}",
    "alloy_profiles_url": "http://pyroscope.lan:4040",
}


def settings_problems(values: dict) -> list[str]:
    """loki.write and the OTLP exporters take http(s) URLs; another one leaves Alloy
    shipping nothing. alloy_otlp needs an Alloy that has every component it writes."""
    problems = []
    examples = {"alloy_loki_url": f"http://loki.lan:3100{LOKI_PUSH_PATH}", **OTLP_URLS}
    for key, example in examples.items():
        url = values[key]
        problem = url and url_problem(key, url, example)
        if problem:
            problems.append(problem)
    if values["alloy_otlp"]:
        problem = listen_address_problem("alloy_otlp_address", values["alloy_otlp_address"])
        if problem and values["alloy_otlp_address"] != "auto":
            problems.append(problem)
        elif values["alloy_otlp_address"] == "auto":
            problems.append("alloy_otlp_address ('auto') must be an IP address of the host "
                            "(127.0.0.1: only this host's applications), 0.0.0.0 or ::")
        refused = otlp_refused_by(values["alloy_version"])
        if refused:
            problems.append(refused)
    return problems


def otlp_refused_by(version: str) -> str | None:
    """Why this Alloy version cannot take alloy_otlp, or None."""
    try:
        older = version_tuple(version) < OTLP_SINCE
    except (ValueError, TypeError):
        return None   # not a version number (e.g. the package's latest): Alloy says
    if not older:
        return None
    since = ".".join(map(str, OTLP_SINCE))
    return (f"alloy_otlp needs Alloy {since} or later (pyroscope.receive_http, which takes "
            f"the applications' profiles, is general-availability from {since}; earlier "
            f"releases lack it or run it only at --stability.level=public-preview); "
            f"alloy_version is {version}: raise it or set alloy_otlp = False")


def otlp_listeners(s) -> list[tuple[str, str]]:
    """The ports Alloy takes for applications' telemetry (alloy_otlp), at
    alloy_otlp_address: (port setting, address) for placement's port check."""
    if not s.alloy_otlp:
        return []
    return [(key, s.alloy_otlp_address) for key in
            ("alloy_otlp_grpc_port", "alloy_otlp_http_port", "alloy_profiles_port")]

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(DATA_DIR,),
                  packages=(NAME,))   # Grafana's repository's package


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    help="log shipper: journal, log files and Docker containers to Loki",
    port=12345, group="all", listen_address="auto",
    scrape_job=("alloy", "the Alloy log shipper"),
    install_method="package",
    install_help=("`archive`: upstream zip (x86_64, aarch64; via artifact_mirror; no sha256 "
                  "is pinned: give it in artifact_checksums); `package`: Grafana's APT "
                  "repository (package alloy)"),
    version_help=VERSION_HELP,
    checks=settings_problems,
    extra_listeners=otlp_listeners,
    release=grafana_zip_release(
        NAME, version="1.17.1", oldest="1.0.0",
        oldest_reason=("the first Alloy release; every component of config.alloy and run's "
                       "flags are there at v1.0.0"),
        proven=[],
        deb_version="{version}-1",
        notes="Floor checked at v1.0.0: loki.source.journal, loki.source.file, loki.source.docker, discovery.docker, discovery.relabel, local.file_match, loki.process, loki.relabel (action lowercase: internal/component/common/relabel/relabel.go) and loki.write are documented there, and cmd_run.go has --server.http.listen-addr, --storage.path and --disable-reporting. Test doubles only: the suite runs no real build of it (proven is []). The Grafana docs list Linux AMD64 and ARM64 only, with no 32-bit ARM build, so the Pi 1/Zero "
              "and 32-bit Pi OS are not supported. There are also alloy-boringcrypto-linux-{amd64,arm64} "
              "zips. Zips are verified against the release's SHA256SUMS (v1.17.1 "
              "scripts/publish-release-artifacts.sh: `sha256sum -- *` in dist/ after zipping the "
              "binaries, uploaded with them by .github/workflows/release-publish-alloy-artifacts.yml). "
              "Not pinned: the only 1.17.1 hashes seen were in an example comment of a Homebrew "
              "formula template (amd64 b92bfa28..., arm64 730d41d9...), which is not a reliable source. "
              "The Grafana APT repo has package alloy (not checked here). `alloy validate` "
              "exists from v1.9.0 on (internal/alloycli/cmd_validate.go is absent at v1.8.3, "
              "present at v1.9.0 and v1.17.1; docs/sources/reference/cli/validate.md at v1.17.1: "
              "exit non-zero with diagnostics on stderr, run's --stability.level and "
              "--feature.community-components.enabled must be given to it too). deb_version "
              "'{version}-1': build-tools/make/packaging.mk at v1.17.1 runs fpm -v "
              "<VERSION without v> --iteration 1 (ALLOY_PACKAGE_RELEASE); the deb puts "
              "/usr/bin/alloy and /usr/lib/systemd/system/alloy.service. "
              "OTLP in (alloy_otlp), checked at v1.17.1: docs/sources/reference/components/"
              "otelcol/otelcol.receiver.otlp.md (grpc and http blocks, endpoint host:port, "
              "output metrics/logs/traces), otelcol.processor.batch.md (output block), "
              "otelcol.exporter.otlphttp.md (client block, endpoint required; "
              "metrics_endpoint, logs_endpoint, traces_endpoint arguments; client > tls "
              "ca_file and auth from docs/sources/shared/reference/components/"
              "otelcol-http-client-block.md and otelcol-tls-client-block.md), "
              "otelcol.exporter.prometheus.md (forward_to required; defaults "
              "add_metric_suffixes true, include_target_info true, include_scope_labels "
              "true (otel_scope_name, otel_scope_version on every sample), "
              "include_scope_info false, resource_to_telemetry_conversion false; drops "
              "delta-temporality metrics; job is service.namespace/service.name or "
              "service.name, instance service.instance.id: internal/component/otelcol/"
              "exporter/prometheus/internal/convert/convert.go; names by "
              "opentelemetry-collector-contrib pkg/translator/prometheus "
              "BuildCompliantName), prometheus/prometheus.remote_write.md (endpoint block: "
              "url required, name; endpoint > basic_auth: username, password_file; "
              "endpoint > tls_config: ca_file; debug metrics "
              "prometheus_remote_storage_samples_total, "
              "prometheus_remote_storage_samples_failed_total, "
              "prometheus_remote_storage_samples_pending; it keeps a WAL under "
              "--storage.path), pyroscope/pyroscope.receive_http.md "
              "(http block listen_address, listen_port; forward_to; POST /ingest and "
              "/push.v1.PusherService/Push) and pyroscope.write.md (endpoint > url, "
              "external_labels). pyroscope.receive_http is public preview at v1.6.0-v1.9.x "
              "and general-availability from v1.10.0: alloy_otlp is refused below 1.10.0 "
              "(the floor stays 1.0.0 for the log shipping). Metric names of the pipeline "
              "(otelcol_receiver_accepted_spans_total, _metric_points_total, "
              "_log_records_total, otelcol_receiver_refused_*, otelcol_exporter_sent_* (of the "
              "otlphttp exporters; otelcol.exporter.prometheus has none), "
              "otelcol_exporter_send_failed_*, otelcol_exporter_enqueue_failed_*, "
              "otelcol_exporter_queue_size, otelcol_exporter_queue_capacity) from "
              "operations/alloy-mixin/rendered/alerts/alloy_otelcol.yaml and "
              "rendered/dashboards/alloy-opentelemetry.json at v1.17.1; pyroscope.write's "
              "(pyroscope_write_sent_profiles_total, pyroscope_write_dropped_profiles_total) "
              "from docs pyroscope/pyroscope.write.md at v1.17.1."),
    settings=(
        Setting("alloy_log_paths", "list", ["/var/log/*.log"], section="alloy",
                help="log files Alloy tails (glob patterns; [] for none)"),
        Setting("alloy_journal", "bool", True, section="alloy",
                help="ship the systemd journal (labels unit and level)"),
        Setting("alloy_docker_logs", "choice", "auto", choices=("auto", "true", "false"),
                section="alloy", help=(
                    "ship Docker containers' logs (label container); auto: where "
                    "/var/run/docker.sock and the docker group exist")),
        Setting("alloy_loki_url", "str", None, optional=True, section="alloy", help=(
            "push URL of the Loki to ship to (default: the first Loki host of the inventory, "
            "http://<host>:<loki_port>/loki/api/v1/push)")),
        Setting("alloy_otlp", "bool", False, section="alloy", help=(
            "also receive applications' OTLP (gRPC and HTTP) and profiles, batch them and "
            "forward: metrics to Prometheus' remote-write receiver (translated by "
            "otelcol.exporter.prometheus), logs to Loki, traces to Jaeger, "
            "profiles to Pyroscope (each where the inventory has one or a URL setting names "
            "one; Alloy 1.10.0 or later)")),
        Setting("alloy_otlp_address", "str", "127.0.0.1", section="alloy", help=(
            "address the OTLP and profile receivers listen on (127.0.0.1: this host's "
            "applications only; 0.0.0.0 to take other hosts' too)")),
        Setting("alloy_otlp_grpc_port", "int", 4317, minimum=1, maximum=65535,
                section="alloy", help="OTLP over gRPC (otelcol.receiver.otlp)"),
        Setting("alloy_otlp_http_port", "int", 4318, minimum=1, maximum=65535,
                section="alloy", help="OTLP over HTTP: POST /v1/traces, /v1/metrics, /v1/logs"),
        Setting("alloy_profiles_port", "int", 4041, minimum=1, maximum=65535,
                section="alloy", help=(
                    "profiles (pyroscope.receive_http: POST /ingest and the push API), "
                    "forwarded to Pyroscope")),
        Setting("alloy_metrics_url", "str", None, optional=True, section="alloy", help=(
            "remote-write URL to write applications' metrics to (default: every replica "
            "of the first Prometheus of the inventory, http://<host>:<prometheus_port>"
            f"{PROMETHEUS_WRITE_PATH}, with the stack's TLS and login)")),
        Setting("alloy_traces_url", "str", None, optional=True, section="alloy", help=(
            "OTLP/HTTP traces URL to forward spans to (default: the first Jaeger host, "
            f"http://<host>:<jaeger_otlp_port>{TRACES_PATH})")),
        Setting("alloy_profiles_url", "str", None, optional=True, section="alloy", help=(
            "Pyroscope URL to forward profiles to (default: the first Pyroscope host, "
            "http://<host>:<pyroscope_port>)")),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return DATA_DIR


def alloy_string(value: str) -> str:
    """`value` as an Alloy string literal (Go-style double-quoted escapes)."""
    return json.dumps(value, ensure_ascii=False)


def loki_push_url(s) -> str:
    """alloy_loki_url, or the push endpoint of the first Loki host of the inventory."""
    if s.alloy_loki_url:
        return s.alloy_loki_url
    lokis = sorted(hosts_running("loki"), key=lambda h: h.name)
    if not lokis:
        raise SettingsError(
            f"host {s.host_name}: Alloy ships logs to Loki, but no host of the inventory "
            f"runs Loki (group {s.loki_group!r}, loki_enabled): add one, set alloy_loki_url "
            "to your Loki's push URL, or set alloy_enabled = False")
    return f"http://{endpoint('loki', lokis[0])}{LOKI_PUSH_PATH}"


# -- OTLP in: where each signal goes ------------------------------------------------------------
@dataclass(frozen=True)
class Exporter:
    """One backend of a signal: an otelcol.exporter.otlphttp (logs, traces), or an
    endpoint of prometheus.remote_write (metrics)."""

    label: str             # the Alloy component's label
    signal: str            # metrics, logs or traces
    url: str               # the full URL of that signal's endpoint
    ca_file: str | None = None        # the stack's CA (a Prometheus with TLS)
    username: str | None = None       # the stack's login (a Prometheus with basic auth)


@dataclass(frozen=True)
class Otlp:
    """What config.alloy receives and forwards for applications (alloy_otlp)."""

    address: str
    grpc_port: int
    http_port: int
    profiles_port: int
    exporters: list[Exporter] = field(default_factory=list)
    profiles_url: str | None = None

    def to(self, signal: str) -> list[Exporter]:
        return [e for e in self.exporters if e.signal == signal]

    @property
    def otlphttp(self) -> list[Exporter]:
        """The otelcol.exporter.otlphttp components: logs and traces."""
        return [e for e in self.exporters if e.signal != "metrics"]

    @property
    def writes(self) -> list[Exporter]:
        """prometheus.remote_write's endpoints: one per receiving Prometheus."""
        return self.to("metrics")


def others_running(component: str) -> list:
    """The hosts running `component`, by name: none where the catalogue has no such
    component (its module is not part of this deploy)."""
    if component not in catalogue.components():
        return []
    return sorted(hosts_running(component), key=lambda h: h.name)


def otlp_prometheus(h=None) -> list:
    """The Prometheus replicas host `h`'s Alloy writes applications' metrics to (none with
    alloy_metrics_url): every replica of the HA group that scrapes `h` (its site's, not
    a global one), so the replicas hold the same series; a host no Prometheus scrapes
    (a site without one) ships to the first site-less group, else to the first group."""
    h = host if h is None else h
    if settings(h).alloy_metrics_url:
        return []
    local = [p for p in others_running("prometheus") if not federation.is_global(p)]
    if not local:
        return []
    first = next((p for p in local if federation.scraped_here(h, p)),
                 next((p for p in local if federation.site_of(p) is None), local[0]))
    return [p for p in local if federation.same_kind(p, first)]


def receives_otlp(prometheus) -> bool:
    """Does an Alloy of the inventory write applications' metrics to the Prometheus on
    host `prometheus`? Then its remote-write receiver is on."""
    return any(settings(a).alloy_otlp and prometheus in otlp_prometheus(a)
               for a in hosts_running(NAME))


def alloy_label(text: str) -> str:
    """An Alloy component label (an identifier) from a host name."""
    label = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return label if re.match(r"[A-Za-z_]", label) else f"_{label}"


def metrics_exporters(s) -> list[Exporter]:
    if s.alloy_metrics_url:
        return [Exporter("prometheus", "metrics", s.alloy_metrics_url)]
    out = []
    for p in otlp_prometheus(host):
        ps = settings(p)
        # Prometheus serves under the path of its external URL (its route prefix)
        prefix = urlsplit(ps.prometheus_web_external_url or "").path.rstrip("/")
        protection = tls_auth.protection(p)
        scheme = "https" if protection and protection.tls else "http"
        out.append(Exporter(
            f"prometheus_{alloy_label(p.name)}", "metrics",
            f"{scheme}://{endpoint('prometheus', p)}{prefix}{PROMETHEUS_WRITE_PATH}",
            ca_file=tls_auth.CA_FILE if protection and protection.tls else None,
            username=protection.username if protection and protection.basic_auth else None))
    return out


def logs_exporters(s) -> list[Exporter]:
    """Loki's OTLP endpoint beside the push endpoint logs are shipped to."""
    if s.alloy_loki_url:
        if not s.alloy_loki_url.endswith(LOKI_PUSH_PATH):
            raise SettingsError(
                f"host {s.host_name}: alloy_otlp ships applications' logs to Loki's OTLP "
                f"endpoint beside alloy_loki_url, which must then end in {LOKI_PUSH_PATH} "
                f"(got {s.alloy_loki_url!r})")
        base = s.alloy_loki_url[: -len(LOKI_PUSH_PATH)]
    else:
        lokis = others_running("loki")
        if not lokis:
            return []
        base = f"http://{endpoint('loki', lokis[0])}"
    return [Exporter("loki", "logs", base + LOKI_OTLP_PATH)]


def traces_exporters(s) -> list[Exporter]:
    if s.alloy_traces_url:
        return [Exporter("jaeger", "traces", s.alloy_traces_url)]
    jaegers = others_running("jaeger")
    if not jaegers:
        return []
    j = jaegers[0]
    port = settings(j).jaeger_otlp_port
    return [Exporter("jaeger", "traces",
                     f"http://{reach_address('jaeger', j)}:{port}{TRACES_PATH}")]


def profiles_url(s) -> str | None:
    if s.alloy_profiles_url:
        return s.alloy_profiles_url
    pyroscopes = others_running("pyroscope")
    return f"http://{endpoint('pyroscope', pyroscopes[0])}" if pyroscopes else None


def otlp_routes(s) -> Otlp | None:
    """What this host's Alloy receives and where it forwards it; None without alloy_otlp."""
    if not s.alloy_otlp:
        return None
    refused = otlp_refused_by(s.alloy_version)
    if refused:
        raise SettingsError(f"host {s.host_name}: {refused}")
    return Otlp(s.alloy_otlp_address, s.alloy_otlp_grpc_port, s.alloy_otlp_http_port,
                s.alloy_profiles_port,
                metrics_exporters(s) + logs_exporters(s) + traces_exporters(s),
                profiles_url(s))


def ships_docker(s) -> bool:
    """alloy_docker_logs; auto: the Docker socket exists and so does the docker group
    that may read it."""
    if s.alloy_docker_logs != "auto":
        return s.alloy_docker_logs == "true"
    return bool(host.get_fact(Socket, path=DOCKER_SOCKET)) and "docker" in host.get_fact(
        SystemGroups, names=["docker"])


def config_content(s, host_name: str, loki_url: str, docker: bool,
                   otlp: Otlp | None = None) -> str:
    for path in s.alloy_log_paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise SettingsError(f"host {s.host_name}: alloy_log_paths: {path!r} is not an "
                                "absolute path (glob patterns such as /var/log/*.log)")
    return render(
        "alloy/config.alloy.j2", quote=alloy_string, host=host_name, loki_url=loki_url,
        journal=s.alloy_journal, log_paths=list(s.alloy_log_paths), docker=docker,
        docker_host=DOCKER_HOST, level_regex=LEVEL_REGEX, level_aliases=LEVEL_ALIASES,
        otlp=otlp, bracketed=bracketed, password_file=PROMETHEUS_PASSWORD)


def groups(s, docker: bool) -> list[str]:
    """The unit's supplementary groups: only those the host has (a missing one would stop
    the unit from starting)."""
    wanted = [*LOG_GROUPS, "docker"] if docker else list(LOG_GROUPS)
    present = host.get_fact(SystemGroups, names=wanted)
    return [g for g in wanted if g in present]


# `alloy validate` came with v1.9.0 (grafana/alloy internal/alloycli/cmd_validate.go)
VALIDATE_SINCE = (1, 9, 0)
# run's flags that change what validate accepts: its docs ask for the values run gets
VALIDATE_SHARES = ("--stability.level", "--feature.community-components.enabled")


def config_check(version: str) -> str:
    """The subcommand that checks config.alloy for this Alloy version."""
    return "validate" if version_tuple(version) >= VALIDATE_SINCE else "fmt"


def validator(binary: str, check: str = "fmt", run_flags: list[str] | tuple = ()) -> str:
    """`alloy validate` loads the file as `run` would (unknown components, unknown or
    missing arguments are errors) and exits non-zero naming them; `alloy fmt`, all older
    releases have, only parses it (and prints it formatted). validate is given the
    stability and community-component flags of the unit's command line."""
    if check == "fmt":
        return f"{binary} fmt {{path}}"
    shared = [f for f in run_flags if f.split("=", 1)[0] in VALIDATE_SHARES]
    return " ".join([binary, "validate", *shared, "{path}"])


def unit(s, binary: str, supplementary_groups: list[str]) -> Unit:
    return Unit(
        name=NAME, user=NAME, reloadable=True,   # Alloy reloads its config on SIGHUP
        description="Grafana Alloy (ships logs to Loki)",
        documentation="https://grafana.com/docs/alloy/latest/",
        write_paths=[DATA_DIR],
        supplementary_groups=supplementary_groups,
        exec_start=[binary, "run", f"--server.http.listen-addr={listen_address(NAME)}",
                    f"--storage.path={DATA_DIR}", "--disable-reporting",
                    *s.alloy_extra_flags, CONFIG],
        # the journal and /var/log are read through the read-only system view; the Docker
        # socket is AF_UNIX; AF_NETLINK for Go's interface listing
        address_families=["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"],
    )


def install_alloy(s):
    if s.alloy_install_method == "package":
        return grafana_repository.install(NAME, {NAME: PACKAGE_BINARY}, s.alloy_version)
    return install_binaries(NAME)


def reset_by_package(s, binaries) -> tuple[str, ...]:
    """The folders whose owner and mode the package's postinst sets again on every install
    and upgrade (grafana/alloy v1.17.1 packaging/deb/control/postinst: /etc/alloy to
    root:alloy 0770), when this run installs the package: the facts, read before that,
    cannot show it."""
    return (CONFIG_DIR,) if s.alloy_install_method == "package" and binaries.ops else ()


@deploy("Alloy")
def install():
    s = settings()
    docker = ships_docker(s)
    otlp = otlp_routes(s)
    content = config_content(s, host_label(host), loki_push_url(s), docker, otlp)
    system_user(NAME, home(s))
    binaries = install_alloy(s)
    # after the package: its postinst makes both 0770 (/etc/alloy on upgrades too)
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (DATA_DIR, NAME, NAME, "0750"),
                reset=reset_by_package(s, binaries))
    alloy = binaries.path(NAME)
    reload_on = []
    if otlp and any(e.ca_file or e.username for e in otlp.exporters):
        # the stack's CA (/etc/monstack/ca.crt) and Prometheus' password, read by
        # prometheus.remote_write (tls_config ca_file, basic_auth password_file)
        tls_auth.client_files(tls_auth.protection())
        if any(e.username for e in otlp.writes):
            # the password alone: no line break after it
            reload_on.append(validated_file(
                name=f"Write {PROMETHEUS_PASSWORD} (basic auth password)",
                dest=PROMETHEUS_PASSWORD, content=tls_auth.protection().password,
                user="root", group=NAME, mode="0640", hidden=True))
    check = config_check(s.alloy_version)
    config_op = validated_file(
        name=f"Write config.alloy (checked by alloy {check})", dest=CONFIG, content=content,
        validate=validator(alloy, check, s.alloy_extra_flags), user="root", group=NAME,
        mode="0640")
    service(unit(s, alloy, groups(s, docker)), local_url(NAME, "/-/ready"),
            restart_on=binaries.ops, reload_on=[config_op, *reload_on])
