"""Pyroscope: stores the profiles Alloy (pyroscope.write) and the Pyroscope SDKs push, on
the monitoring hosts; Grafana reads them through its data source `pyroscope`.

One process runs every Pyroscope component (target `all`, the single binary), its storage
on the local disk under pyroscope_data_dir: the ingester's blocks (data/), the filesystem
bucket they are uploaded to (shared/), the store-gateway's and the compactor's working
folders. The compactor deletes blocks older than pyroscope_retention_period from the
bucket. Besides its HTTP port (pyroscope_port: ingest, push API, queries, /ready,
/metrics) it binds two ports on loopback only: gRPC (unused by the single binary's own
calls, which go over HTTP, but always started) and memberlist's gossip (its rings).

Pyroscope has no authentication here (multitenancy off: one tenant, "anonymous"): whoever
reaches its port can push and read every profile. Keep pyroscope_listen_address on a
private network, or put an authenticating reverse proxy in front of it (out of scope).

Opt-in (pyroscope_enabled = False): upstream publishes no package in Grafana's APT
repository (grafana/pyroscope v1.21.1 .github/workflows/release.yml uploads its debs to
the GitHub release only), so the archive method is the only one.
"""

import ipaddress

from pyinfra.api import deploy

from operations.base.component import Component, Leaves
from operations.base.files import validated_file
from operations.base.install import directories, install_binaries, system_user
from operations.base.inventory import bind_address, local_url, settings
from operations.base.releases import github_release
from operations.base.schema import Setting, duration_seconds
from operations.base.services import Unit, data_server_unit, service
from operations.base.templates import render

NAME = "pyroscope"
CONFIG_DIR = "/etc/pyroscope"
CONFIG = f"{CONFIG_DIR}/pyroscope.yaml"   # not the deb's /etc/pyroscope/config.yml
# gRPC: dskit's server always starts it (default 9095, which Loki's config takes on
# loopback): loopback and a port of its own. memberlist: its rings' gossip, default 7946.
GRPC_PORT = 9097
MEMBERLIST_PORT = 7946
# what the data folder holds (absolute paths: the unit's working folder is /, read-only)
SUBDIRS = {"data": "data", "bucket": "shared", "sync": "sync", "compactor": "compactor"}


def settings_problems(values: dict) -> list[str]:
    errors = []
    retention = duration_seconds(values["pyroscope_retention_period"])
    if 0 < retention < 86400:
        errors.append(f"pyroscope_retention_period ({values['pyroscope_retention_period']}) "
                      "must be at least 24h, or 0s to keep profiles forever")
    return errors


def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(s.pyroscope_data_dir,))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    enabled=False,
    help="stores profiles (continuous profiling) pushed by Alloy and the SDKs; no "
         "authentication of its own",
    port=4040, group="monitoring",
    fixed_listeners=(("Pyroscope's gRPC port", "127.0.0.1", GRPC_PORT),
                     ("Pyroscope's memberlist port", "127.0.0.1", MEMBERLIST_PORT)),
    scrape_job=("pyroscope", "Pyroscope"),
    install_help=("`archive` only: upstream's tar.gz (via artifact_mirror); there is no "
                  "package in Debian or Grafana's APT repository"),
    no_package=("Pyroscope has no package in Debian nor in Grafana's APT repository; use "
                "'archive' (upstream's tar.gz, via artifact_mirror)"),
    checks=settings_problems,
    release=github_release(
        "grafana/pyroscope", version="1.21.1", oldest="1.21.1",
        oldest_reason=("the only version whose config keys were read at its tag; "
                       "pyroscope.yaml is parsed strictly (unknown keys are errors)"),
        proven=[],
        file="pyroscope_{version}_linux_{arch}.tar.gz",
        binaries={"pyroscope": "pyroscope"},
        checksums="checksums.txt",
        debian_package=None,
        notes="Test doubles only: the suite runs no real build of it (proven is []). "
              "From grafana/pyroscope v1.21.1 .goreleaser.yaml: Linux builds of amd64 "
              "(GOAMD64 v2) and arm64 only, no 32-bit ARM (no armv6/armv7: a Pi needs a "
              "64-bit OS); archives named pyroscope_<version>_linux_<arch>.tar.gz (the v2 "
              "amd64 level adds no suffix), no wrap_in_directory, so the binary "
              "'pyroscope' sits at the archive's root (with goreleaser's default "
              "LICENSE/README/CHANGELOG files); checksum file checksums.txt. The binary "
              "has no check-config flag (cmd/pyroscope/main.go): `pyroscope "
              "-config.file=F -modules` parses F strictly (pkg/cfg/files.go: "
              "KnownFields), runs Config.Validate (pkg/pyroscope/pyroscope.go New) and "
              "prints the modules; it is the deploy's check. Config keys from "
              "docs/sources/configure-server/reference-configuration-parameters/index.md "
              "at v1.21.1; /ready, /ingest and the push.v1.PusherService handler from "
              "pkg/api/api.go; rings advertise the HTTP port (pkg/pyroscope/modules.go). "
              "Its packaged unit (tools/packaging/pyroscope.service) runs "
              "/usr/bin/pyroscope -config.file /etc/pyroscope/config.yml as user "
              "pyroscope in /var/lib/pyroscope; the debs go to the GitHub release only "
              "(.github/workflows/release.yml), not to Grafana's APT repository. "
              "NO sha256 is pinned: only one public source was found (Grafana's Homebrew "
              "formula for 1.21.1, linux amd64 740da7b5...aa63d, arm64 eb3a53ee...401e37), "
              "two agreeing ones are required; give artifact_checksums or "
              "artifact_checksums_from_release (checksums.txt)."),
    settings=(
        Setting("pyroscope_data_dir", "str", "/var/lib/pyroscope", section="pyroscope",
                help=("its blocks (data/), the filesystem bucket they are uploaded to "
                      "(shared/), the store-gateway's and compactor's working folders")),
        Setting("pyroscope_retention_period", "duration", "30d", section="pyroscope", help=(
            "how long profiles are kept (limits.compactor_blocks_retention_period: the "
            "compactor deletes older blocks; at least 24h, or 0s to keep them forever; "
            "Pyroscope also deletes the oldest blocks when less than 10 GiB and 5% of "
            "the disk is free)")),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.pyroscope_data_dir


def ring_address(s) -> str:
    """Where its rings tell its own components to reach it: its HTTP port, on the address
    it binds (loopback when it binds every address)."""
    listen = bind_address(NAME, s=s)
    return "127.0.0.1" if listen in ("0.0.0.0", "") else "::1" if listen == "::" else listen


def config_content(s) -> str:
    data_dir = s.pyroscope_data_dir.rstrip("/")
    address = ring_address(s)
    return render(
        "pyroscope/pyroscope.yaml.j2",
        listen_address=bind_address(NAME, s=s), port=s.pyroscope_port,
        grpc_port=GRPC_PORT, memberlist_port=MEMBERLIST_PORT,
        ring_address=address, ipv6=ipaddress.ip_address(address).version == 6,
        retention_period=s.pyroscope_retention_period,
        **{key: f"{data_dir}/{sub}" for key, sub in SUBDIRS.items()})


def validator(binary: str) -> str:
    """Pyroscope has no check-config flag; -modules loads the config as a start would
    (unknown keys are errors), validates it, lists the modules and exits 0, or 1 with
    "failed parsing config" / "failed creating pyroscope"."""
    return f"{binary} -config.file={{path}} -modules"


def unit(s, binary: str) -> Unit:
    return data_server_unit(NAME, s, [binary, f"-config.file={CONFIG}"],
                            description="Grafana Pyroscope (profile storage)",
                            documentation="https://grafana.com/docs/pyroscope/latest/")


@deploy("Pyroscope")
def install():
    s = settings()
    system_user(NAME, home(s))
    binaries = install_binaries(NAME)
    data_dir = s.pyroscope_data_dir.rstrip("/")
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (data_dir, NAME, NAME, "0750"))
    pyroscope = binaries.path(NAME)
    config_op = validated_file(
        name="Write pyroscope.yaml (checked by pyroscope -modules)", dest=CONFIG,
        content=config_content(s), validate=validator(pyroscope),
        user="root", group=NAME, mode="0640")
    # It reads its config only at start: a config change restarts it. Its ingester
    # reports ready after min_ready_duration (15 s by default).
    service(unit(s, pyroscope), local_url(NAME, "/ready"), restart_on=binaries.ops,
            reload_on=[config_op], ready_seconds=120)
