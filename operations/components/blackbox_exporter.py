"""blackbox_exporter: probes HTTP and TCP endpoints from the monitoring host."""

from pyinfra.api import deploy

from operations.base.component import Leaves, exporter
from operations.base.exporters import ExporterFile, exporter_service, no_home
from operations.base.inventory import listen_address, settings
from operations.base.releases import promu_release
from operations.base.schema import Setting
from operations.base.templates import render

NAME = "blackbox_exporter"
CONFIG_DIR = "/etc/blackbox_exporter"
CONFIG = f"{CONFIG_DIR}/blackbox.yml"


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="HTTP/TCP/ICMP probes of endpoints",
    port=9115, group="monitoring", enabled=False,
    scrape_job=("blackbox_exporter", "the blackbox exporter's own metrics"),
    release=promu_release(
        "prometheus/blackbox_exporter", NAME, version="0.28.0", oldest="0.23.0",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("0.23.0", "bookworm"), ("0.28.0", "sid")],
        debian_package="prometheus-blackbox-exporter",
        notes="An armv7 asset was seen for 0.25.0 (boxcutter/oci history). armv7/armv6 are not pinned for "
              "0.28.0."),
    checksums={
        "blackbox_exporter-0.28.0.linux-amd64.tar.gz": "caf5d242fb1cf6d5cb678f3f799f22703d4fafea26b03dcbbd7e1f1825e06329",  # x3+: boxcutter/oci prometheus/blackbox-exporter/docker-bake.hcl; 'dragontools' doc (checked against sha256sums.txt); Homebrew tap formula; install scripts
        "blackbox_exporter-0.28.0.linux-arm64.tar.gz": "63312be0983d85e5109710a7dc93df3051157ae581853fa3655d171cc1b2806e",  # x3+: same sources as amd64
    },
    settings=(
        Setting("blackbox_exporter_targets", "list", [], section="blackbox_exporter",
                help="URLs probed with the http_2xx module"),
    ),
)


# its service user has no data folder
home = no_home


@deploy("blackbox_exporter")
def install():
    s = settings()
    exporter_service(
        NAME, home(s), CONFIG_DIR, ready_path="/-/healthy",
        folders=[(CONFIG_DIR, "root", NAME, "0750")],
        file=ExporterFile(
            name="Write blackbox.yml (checked by blackbox_exporter)", dest=CONFIG,
            content=render("blackbox_exporter/blackbox.yml.j2"),
            validate="{program} --config.check --config.file={path}"),
        description="Prometheus blackbox_exporter (endpoint probes)",
        documentation="https://github.com/prometheus/blackbox_exporter",
        reloadable=True,
        args=[f"--config.file={CONFIG}", f"--web.listen-address={listen_address(NAME)}"],
    )
