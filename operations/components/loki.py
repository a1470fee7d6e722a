"""Loki: stores the logs Alloy ships from every host, on the monitoring host.

One process runs every Loki component (the single-binary target) with its storage on the
local disk under loki_data_dir: chunks and the TSDB index (schema v13), rules, and the
compactor, which deletes logs older than loki_retention_period.

Loki has no authentication here (auth_enabled: false, a single tenant): whoever reaches
its port can push and read every log. Keep loki_listen_address on a private network, or
put an authenticating reverse proxy (basic auth over TLS) in front of it; setting one up
is out of scope for this deploy.
"""

from pyinfra.api import deploy

from operations.base import grafana_repository
from operations.base.component import Backup, Component, Leaves
from operations.base.files import validated_file
from operations.base.grafana_repository import VERSION_HELP
from operations.base.install import directories, install_binaries, system_user
from operations.base.inventory import bind_address, local_url, settings
from operations.base.releases import grafana_zip_release
from operations.base.schema import Setting, duration_seconds
from operations.base.services import Unit, data_server_unit, service
from operations.base.templates import render

NAME = "loki"
CONFIG_DIR = "/etc/loki"
CONFIG = f"{CONFIG_DIR}/loki.yaml"   # not the package's /etc/loki/config.yml
PACKAGE_BINARY = "/usr/bin/loki"   # where Grafana's deb puts it (v3.6.8 tools/packaging/nfpm.jsonnet)
# First day of the one schema period: TSDB index, schema v13 (what Loki 3 requires for
# structured metadata). A later schema change appends a period; this one never changes.
SCHEMA_FROM = "2024-01-01"
# server.grpc_listen_port's default (v3.6.8 docs/sources/shared/configuration.md)
GRPC_PORT = 9095


def settings_problems(values: dict) -> list[str]:
    """Loki's documented minimum retention is 24h, its index period (0s: keep forever)."""
    retention = duration_seconds(values["loki_retention_period"])
    if 0 < retention < 86400:
        return [f"loki_retention_period ({values['loki_retention_period']}) must be at least "
                "24h, or 0s to keep logs forever"]
    return []

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(s.loki_data_dir,),
                  # Grafana's repository's package, its unit file diverted (grafana_repository)
                  packages=(NAME,), diversions=(f"/etc/systemd/system/{NAME}.service",))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    # its rules and index (pkg/loki/config_wrapper.go and pkg/storage/config/
    # schema_config.go at v3.6.8: under the common path_prefix, the TSDB index being built
    # in tsdb-shipper-active, the shipped one under "index/" of the filesystem store, our
    # chunks_directory); the chunks are left out (the bulk)
    backup=Backup(method="tar", paths=("rules", "tsdb-shipper-active", "chunks/index"),
                  data_dir_setting="loki_data_dir", ready_path="/ready"),
    help="stores the logs shipped by Alloy (no authentication of its own)",
    port=3100, group="monitoring",
    # gRPC between Loki's own components (loki.yaml.j2: loopback, Loki's default port)
    fixed_listeners=(("Loki's gRPC port", "127.0.0.1", GRPC_PORT),),
    scrape_job=("loki", "Loki"),
    install_method="package",
    install_help=("`archive`: upstream zip (via artifact_mirror; no sha256 is pinned: give it "
                  "in artifact_checksums); `package`: Grafana's APT repository (package loki)"),
    version_help=VERSION_HELP,
    checks=settings_problems,
    release=grafana_zip_release(
        NAME, version="3.6.8", oldest="3.0.0",
        oldest_reason=("loki.yaml sets the compactor's delete_request_store "
                       "(pkg/compactor/compactor.go: absent at v2.9.10, present at v3.0.0)"),
        proven=[],
        arch={"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv8l": "arm"},
        deb_version="{version}",
        notes="Test doubles only: the suite runs no real build of it (proven is []). The zip name has no version. It holds one file, loki-linux-{arch}, to be renamed to loki. "
              "v3.6.8 is a confirmed release tag (hermit pins promtail zips from it); no newer one was seen. "
              "NO sha256 was found for any Loki zip: they are verified against the release's "
              "SHA256SUMS (v3.6.8 Makefile target dist: `sha256sum *` in dist/ after zipping, "
              "so it lists loki-linux-<arch>.zip; the release workflow, .github/vendor/.../"
              "loki-release/workflows/release.libsonnet, uploads dist/* to the GitHub release). The 'arm' build is used for armv7 by public scripts; its GOARM level is "
              "not confirmed, and no armv6 build is known. Debian's package named 'loki' is an unrelated "
              "pedigree-analysis tool; use Grafana's APT repo (package loki) or the zip. "
              "Grafana's loki deb (grafana/loki v3.6.8 tools/packaging/nfpm.jsonnet): the binary "
              "at /usr/bin/loki, its unit at /etc/systemd/system/loki.service "
              "(tools/packaging/loki.service: ExecStart=/usr/bin/loki -config.file "
              "/etc/loki/config.yml), that config at /etc/loki/config.yml. deb_version '{version}': "
              "nfpm.jsonnet sets version '${DRONE_TAG}' and no release; nfpm (goreleaser/nfpm "
              "nfpm.go parseSemver, deb/deb.go) drops a leading v and appends -<release> only "
              "when a release is set, so the deb of 3.6.8 is version 3.6.8 (the nfpm version "
              "of Loki's build image was not checked)."),
    settings=(
        Setting("loki_data_dir", "str", "/var/lib/loki", section="loki",
                help="chunks, index, rules and the compactor's working folder"),
        Setting("loki_retention_period", "duration", "30d", section="loki", help=(
            "how long logs are kept (deleted by the compactor; at least 24h, or 0s to keep "
            "them forever)")),
        Setting("loki_ingestion_rate_mb", "int", 4, minimum=1, maximum=100000, section="loki",
                help="per-tenant ingestion rate limit in MB/s (pushes above it get HTTP 429)"),
        Setting("loki_ingestion_burst_size_mb", "int", 6, minimum=1, maximum=100000,
                section="loki",
                help="per-tenant ingestion burst size in MB"),
        Setting("loki_max_global_streams_per_user", "int", 10000, minimum=1, maximum=10000000,
                section="loki",
                help="most active streams (label sets) Loki accepts"),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.loki_data_dir


def config_content(s) -> str:
    return render(
        "loki/loki.yaml.j2",
        listen_address=bind_address(NAME, s=s), port=s.loki_port,
        data_dir=s.loki_data_dir.rstrip("/"), schema_from=SCHEMA_FROM,
        retention_period=s.loki_retention_period,
        ingestion_rate_mb=s.loki_ingestion_rate_mb,
        ingestion_burst_size_mb=s.loki_ingestion_burst_size_mb,
        max_global_streams_per_user=s.loki_max_global_streams_per_user)


def validator(binary: str) -> str:
    """Loki 3's -verify-config: parse the file (unknown keys are errors), apply the
    defaults and run Loki's config validation, then exit 0, or 1 with the error."""
    return f"{binary} -config.file={{path}} -verify-config"


def unit(s, binary: str) -> Unit:
    return data_server_unit(NAME, s, [binary, f"-config.file={CONFIG}"],
                            description="Grafana Loki (log storage)",
                            documentation="https://grafana.com/docs/loki/latest/")


def install_loki(s):
    if s.loki_install_method == "package":
        # Grafana's APT repository (Debian's own `loki` package is another program)
        return grafana_repository.install(NAME, {NAME: PACKAGE_BINARY}, s.loki_version,
                                   package_unit_in_etc=True)
    return install_binaries(NAME)


@deploy("Loki")
def install():
    s = settings()
    system_user(NAME, home(s))
    binaries = install_loki(s)
    # after the package, which creates /etc/loki itself
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (s.loki_data_dir, NAME, NAME, "0750"))
    loki = binaries.path(NAME)
    config_op = validated_file(
        name="Write loki.yaml (checked by loki -verify-config)", dest=CONFIG,
        content=config_content(s), validate=validator(loki),
        user="root", group=NAME, mode="0640")
    # Loki reads its config only at start: a config change restarts it. Its ingester
    # reports ready some 15 s after start (min_ready_duration), slower on a Pi.
    service(unit(s, loki), local_url(NAME, "/ready"), restart_on=binaries.ops,
            reload_on=[config_op], ready_seconds=120)
