"""cAdvisor: CPU, memory, network and restart metrics of every container, on the hosts of
the docker group, scraped by Prometheus (job cadvisor). Upstream publishes a bare
executable, no archive and no package (cadvisor_install_method = "package" is refused
when the settings are validated).
"""

import re

from pyinfra.api import deploy

from operations.base.component import Component, Leaves
from operations.base.install import install_binaries
from operations.base.inventory import bind_address, local_url, settings
from operations.base.releases import github_release
from operations.base.schema import Setting, version_tuple
from operations.base.services import Unit, service

NAME = "cadvisor"

# Metric kinds left out. --disable_metrics replaces cAdvisor's own default list
# (container.MetricSet.Set starts from an empty set), so that list comes first, as in
# cmd/cadvisor.go of v0.57.0; then what this stack does not use and which costs series
# or CPU: per-CPU series (one per core and container), disk usage (cAdvisor walks the
# containers' filesystems like du), and OOM events (read from /dev/kmsg, which the
# hardened unit does not show).
DISABLED_METRICS = (
    "memory_numa", "tcp", "udp", "advtcp", "sched", "process", "hugetlb",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset",
    "percpu", "disk", "oom_event",
)
# Kinds younger than the oldest supported cAdvisor (container/factory.go at each tag:
# cpuset came with v0.39.0, oom_event with v0.40.0). An older cAdvisor refuses a kind it
# does not know and exits 2, so they are left out of its list.
METRIC_KIND_SINCE = {"cpuset": (0, 39, 0), "oom_event": (0, 40, 0)}


def settings_problems(values: dict) -> list[str]:
    """cAdvisor's rules between settings."""
    errors = []
    # cAdvisor reads its flag with Go's time.ParseDuration, which has no d, w or y.
    if re.search(r"\d(d|w|y)", values["cadvisor_housekeeping_interval"]):
        errors.append(f"cadvisor_housekeeping_interval "
                      f"({values['cadvisor_housekeeping_interval']}) may only use the units "
                      "ms, s, m and h")
    return errors


COMPONENT = Component(
    name=NAME,
    leaves=Leaves(),   # no config or data folder: its unit and program
    help="container metrics (CPU, memory, restarts), on hosts of the docker group",
    port=8080, group="docker", listen_address="auto",
    scrape_job=("cadvisor", "container metrics (cAdvisor)"),
    install_help=("`archive` only: upstream's raw binary (via artifact_mirror); there is no "
                  "package"),
    no_package=("cAdvisor has no Debian package (nor one in Grafana's repository); use "
                "'archive' (upstream's binary, via artifact_mirror)"),
    checks=settings_problems,
    release=github_release(
        "google/cadvisor", version="0.57.0", oldest="0.38.7",
        oldest_reason="the only build the suite runs, Debian 11's",
        proven=[("0.38.7", "bullseye")],
        file="cadvisor-v{version}-linux-{arch}",
        format="binary",
        binaries={"cadvisor": None},
        checksums=None,
        debian_package=None,
        notes="A raw executable with no archive. build/release.sh builds GOARCH amd64, arm, arm64 and s390x, "
              "and prints 'sha256sum --tag' lines for the release notes (no checksum file). Go's default "
              "GOARM for a cross build is 7, so the 'arm' binary would be ARMv7 and not armv6. The literal "
              "name cadvisor-v{version}-linux-arm was not seen, so it is left out of the arch map. There is "
              "no armv6 build, and bookworm's apt index here has no cadvisor package."),
    checksums={
        "cadvisor-v0.57.0-linux-amd64": "9359a1192775eafeead41941690f7d94fb55f5f85833071b70593f8e7eae31ec",  # x1 project: two bootstrap scripts from one 'deploycrate' project
        "cadvisor-v0.57.0-linux-arm64": "38477947aab2dc5ff0288d4ee59e2ddb351d3a627140b707416f4b4ee91c1b85",  # x1 project: same as amd64
    },
    settings=(
        Setting("cadvisor_housekeeping_interval", "duration", "30s", section="cadvisor",
                help="how often cAdvisor collects container statistics (s, m or h units)"),
    ),
)


def disabled_metrics(version: str) -> list[str]:
    """DISABLED_METRICS that cAdvisor `version` knows."""
    release = version_tuple(version)
    return [kind for kind in DISABLED_METRICS
            if release >= METRIC_KIND_SINCE.get(kind, (0,))]


def home(s) -> None:
    """cAdvisor runs as root: no service user of its own."""
    return None


def flags(s, binary: str) -> list[str]:
    return [binary,
            f"--listen_ip={bind_address(NAME, s=s)}",
            f"--port={s.cadvisor_port}",
            # every cgroup (systemd services too), not only Docker's containers
            "--docker_only=false",
            f"--housekeeping_interval={s.cadvisor_housekeeping_interval}",
            f"--disable_metrics={','.join(disabled_metrics(s.cadvisor_version))}",
            # labels: container name, image and id only; not every Docker label and
            # environment variable of every container (series by the thousand)
            "--store_container_labels=false",
            *s.cadvisor_extra_flags]


def unit(s, binary: str) -> Unit:
    return Unit(
        name=NAME,
        # Root: cAdvisor reads every container's cgroup files, the container runtime's
        # root-only state (/var/lib/docker, the Docker socket) and the /proc entries of
        # processes of every user. It writes nothing (ProtectSystem=strict, no
        # ReadWritePaths) and keeps only the two capabilities to read: files of other
        # users (CAP_DAC_READ_SEARCH) and other users' processes in /proc
        # (CAP_SYS_PTRACE); the rest of the sandbox applies as to every service.
        user="root",
        description="cAdvisor (container metrics)",
        documentation="https://github.com/google/cadvisor",
        exec_start=flags(s, binary),
        capabilities=["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"],
        protect_proc="default",   # every process's /proc entry, not only its own
        address_families=["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"],
    )


@deploy("cAdvisor")
def install():
    s = settings()
    binaries = install_binaries(NAME)
    service(unit(s, binaries.path(NAME)), local_url(NAME, "/healthz"),
            restart_on=binaries.ops)
