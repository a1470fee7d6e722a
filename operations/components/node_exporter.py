"""node_exporter: host metrics (CPU, memory, disks, network, systemd units) on every host."""

from pyinfra.api import deploy

from operations.base.component import Leaves, exporter
from operations.base.exporters import exporter_service
from operations.base.inventory import listen_address, settings
from operations.base.releases import promu_release
from operations.base.schema import Setting

NAME = "node_exporter"
HOME = "/var/lib/node_exporter"
CONFIG_DIR = "/etc/node_exporter"   # only for web.yml (TLS, login)

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(HOME, s.node_exporter_textfile_dir))


COMPONENT = exporter(
    NAME, leaves=leaves,
    help="host metrics (CPU, memory, disks, network, systemd units)",
    port=9100, group="all",
    scrape_job=("node", "host metrics"),
    release=promu_release(
        "prometheus/node_exporter", NAME, version="1.12.1", oldest="1.5.0",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("1.5.0", "bookworm"), ("1.9.0", "trixie"), ("1.11.1", "sid")],
        debian_package="prometheus-node-exporter",
        notes="The full asset list (seen for 1.8.2) includes linux-armv5, armv6, armv7, arm64, amd64, 386, "
              "mips*, ppc64*, riscv64 and s390x. armv6 covers Pi 1 and Zero. armv7/armv6 are not pinned "
              "for 1.12.1. Debian package: prometheus-node-exporter (bookworm has 1.5.0)."),
    checksums={
        "node_exporter-1.12.1.linux-amd64.tar.gz": "b51d8a76aa2a9156a55d501aca6276fae09e262259a5e4e831d2c2222f084e63",  # x3+: enajx/nanoHPC src/nanohpc/deploy.py; node_exporter RPM spec; several install scripts and Ansible defaults
        "node_exporter-1.12.1.linux-arm64.tar.gz": "ad35b605f9954b9f1ffddf5ba054bdc5a98d790b9eae5291e1eeb83f1ecbd0e7",  # x3: enajx/nanoHPC src/nanohpc/deploy.py; node_exporter RPM spec; a 'setup-monitoring' script
    },
    settings=(
        Setting("node_exporter_textfile_dir", "str", "/var/lib/node_exporter/textfile_collector",
                "folder of *.prom files exposed by the textfile collector",
                section="node_exporter"),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return HOME


@deploy("node_exporter")
def install():
    s = settings()
    exporter_service(
        NAME, home(s), CONFIG_DIR,
        # the textfile folder is root-owned: only root-run jobs drop *.prom files there;
        # the exporter only reads them
        folders=[(HOME, NAME, NAME, "0750"),
                 (s.node_exporter_textfile_dir, "root", NAME, "0755")],
        description="Prometheus node_exporter (host metrics)",
        documentation="https://github.com/prometheus/node_exporter",
        args=[f"--web.listen-address={listen_address(NAME)}",
              "--collector.systemd",  # feeds the HostSystemdServiceFailed alert
              f"--collector.textfile.directory={s.node_exporter_textfile_dir}"],
        # filesystem metrics of /home need it visible, read-only is enough
        protect_home="read-only",
        # /proc of other processes is needed for process counts
        protect_proc="default",
        address_families=["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"],
        # the timex collector (node_timex_*: the HostClockSkew alert, the clock panels)
        reads_clock=True,
    )
