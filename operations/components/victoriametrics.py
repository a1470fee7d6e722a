"""VictoriaMetrics (single node): long-term storage of the samples every Prometheus of the
inventory sends it over remote_write, queried through its Prometheus-compatible API
(Grafana's "VictoriaMetrics" data source).

It runs on the hosts of the group `victoriametrics` (none unless the inventory has one),
as one process with no config file: everything is a flag. Package method: Debian's
victoria-metrics (its vmagent, vmalert, vmauth, ... stay unused); the package's own unit
(victoria-metrics.service, user _victoria-metrics) is masked, and ours runs the packaged
binary as the user victoriametrics with its data in victoriametrics_data_dir. Archive
method: upstream's single-node tarball, whose one file victoria-metrics-prod is installed
as /usr/local/bin/victoria-metrics.

The cluster edition (vminsert, vmselect, vmstorage) is operations/components/vmcluster.py; the two
may run side by side.
"""

import re

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from operations.base.component import Component, Leaves
from operations.base.downgrades import DataFormatLine, downgrade_refusal
from operations.base.facts import ProgramVersion
from operations.base.install import ARCHIVE_BIN_DIR, directory, install_binaries, system_user
from operations.base.inventory import listen_address, local_url, settings
from operations.base.releases import github_release
from operations.base.schema import Setting, duration_seconds, version_tuple
from operations.base.services import Unit, data_server_unit, service

NAME = "victoriametrics"
BINARY = "victoria-metrics"   # Debian's name; upstream's victoria-metrics-prod is renamed
# Its storage asks the kernel whether file pages are in memory (mincore(2): 1.145 does,
# 1.79 did not) and panics when refused; systemd's @system-service set leaves mincore out.
STORAGE_SYSTEM_CALLS = ["mincore"]


# "previous versions of VictoriaMetrics will exit with the `unexpected number of substrings
# in the part name` error when trying to run them on the data created by v1.90.0 or newer"
# (upstream's docs/victoriametrics/changelog/CHANGELOG_2023.md, v1.90.0 update note, read at
# v1.149.0); the floor, Debian 12's 1.79.5, is below that line. vmstorage shares the format.
STORAGE_FORMAT_1_90 = DataFormatLine(written_since=(1, 90, 0), read_since=(1, 90, 0),
                                     writer="VictoriaMetrics 1.90.0 or later")


def check_downgrade(component: str, label: str, binary: str, data_dir: str) -> None:
    """Stop before anything changes when the archive method would put a build older than
    1.90.0 on data a newer one wrote. The installed version is what the program says
    (upstream's builds print it; Debian's print none, so nothing is refused there)."""
    s = settings()
    if (s.component(component, "install_method") != "archive"
            or s.component(component, "allow_downgrade")
            or version_tuple(s.component(component, "version")) >= STORAGE_FORMAT_1_90.read_since):
        return
    installed = host.get_fact(ProgramVersion, path=f"{ARCHIVE_BIN_DIR}/{binary}")
    refusal = downgrade_refusal(component, label, s.component(component, "version"),
                                installed, STORAGE_FORMAT_1_90, data_dir, host.name)
    if refusal:
        raise PyinfraError(refusal)


# -retentionPeriod: one number, a unit or none (months)
RETENTION_RE = re.compile(r"^(\d+)(h|d|w|y)?$")


def retention_problems(key: str, retention: str) -> list[str]:
    """A -retentionPeriod setting (this one's, or the cluster's) that VictoriaMetrics
    refuses, or shorter than its 24h minimum."""
    match = RETENTION_RE.match(retention)
    if not match or (match.group(2) and duration_seconds(retention) < 86400) or (
            int(match.group(1)) == 0):
        return [f"{key} ({retention!r}) must be a number with h, d, w or y (or none: "
                "months), at least 24h, like 1y or 90d"]
    return []


def settings_problems(values: dict) -> list[str]:
    return retention_problems("victoriametrics_retention_period",
                              values["victoriametrics_retention_period"])

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(data=(s.victoriametrics_data_dir,))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    help=("long-term storage of every Prometheus' samples (remote_write), on hosts of the "
          "victoriametrics group"),
    port=8428, group="victoriametrics",
    scrape_job=("victoriametrics", "the long-term store (VictoriaMetrics)"),
    install_method="package",
    install_help=("`archive`: upstream's single-node tarball (via artifact_mirror; no sha256 "
                  "is pinned: give it in artifact_checksums); `package`: the distribution's "
                  "package victoria-metrics"),
    checks=settings_problems,
    release=github_release(
        "VictoriaMetrics/VictoriaMetrics", version="1.150.0", oldest="1.79.5",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("1.79.5", "bookworm"), ("1.145.0", "sid")],
        file="victoria-metrics-linux-{arch}-v{version}.tar.gz",
        binaries={"victoria-metrics": "victoria-metrics-prod"},
        arch={"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
              "armv8l": "arm"},
        checksums="victoria-metrics-linux-{arch}-v{version}_checksums.txt",
        debian_package="victoria-metrics",
        notes="Single-node edition. From the repository's Makefile (release-victoria-metrics-goos-goarch): "
              "the tarball holds one file at its root, victoria-metrics-prod (the -linux-<arch> part "
              "of the built name is stripped by tar --transform), and the sha256 of the tarball and the "
              "binary are published beside it as victoria-metrics-linux-<arch>-v<version>_checksums.txt. "
              "Linux assets: 386, amd64, arm, arm64, s390x; 'arm' is built with GOARM=5 "
              "(deployment/docker/Makefile), so it runs on armv6l, armv7l and armv8l. v1.150.0 is the "
              "newest tag seen (Aug 2026; the v1.148.x and v1.136.x lines are the LTS ones). The cluster "
              "edition is another tarball: see victoriametrics_cluster. NO sha256 is pinned: "
              "upstream's checksum files could not be read here, so give the one of the file you mirror "
              "in artifact_checksums. Debian bookworm ships 1.79.5 as package victoria-metrics "
              "(/usr/bin/victoria-metrics, plus vmagent, vmalert, vmauth, vmbackup, vmctl, vmrestore; "
              "unit victoria-metrics.service, user _victoria-metrics)."),
    settings=(
        Setting("victoriametrics_retention_period", "str", "1y", section="victoriametrics",
                help=("how long samples are kept (-retentionPeriod: a number with h, d, w or y, "
                      "at least 24h; a bare number counts months)")),
        Setting("victoriametrics_data_dir", "str", "/var/lib/victoriametrics",
                section="victoriametrics", help="storage folder (-storageDataPath)"),
        Setting("victoriametrics_allow_downgrade", "bool", False, section="victoriametrics",
                help=(
            "let the archive method install a VictoriaMetrics older than 1.90.0 where 1.90.0 or later "
            "has run: its data folder may then not open (1.90.0 changed the storage format); "
            "set it on purpose, after moving the data away")),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.victoriametrics_data_dir


def flags(s, binary: str) -> list[str]:
    return [binary,
            f"-httpListenAddr={listen_address(NAME)}",
            f"-storageDataPath={s.victoriametrics_data_dir}",
            f"-retentionPeriod={s.victoriametrics_retention_period}"]


def unit(s, binary: str) -> Unit:
    return data_server_unit(
        NAME, s, flags(s, binary),
        description="VictoriaMetrics (long-term storage of Prometheus' samples)",
        documentation="https://docs.victoriametrics.com/",
        extra_system_calls=STORAGE_SYSTEM_CALLS)


@deploy("VictoriaMetrics")
def install():
    s = settings()
    system_user(NAME, home(s))
    directory(s.victoriametrics_data_dir, NAME, NAME, "0750")
    check_downgrade(NAME, "VictoriaMetrics", BINARY, s.victoriametrics_data_dir)
    binaries = install_binaries(NAME, [BINARY])
    # every setting is a flag: a change rewrites the unit, which restarts it
    service(unit(s, binaries.path(BINARY)), local_url(NAME, "/health"),
            restart_on=binaries.ops)
