"""Pushgateway: where batch jobs push their metrics for Prometheus to scrape."""

from pyinfra.api import deploy

from operations.base.component import Component, Leaves
from operations.base.exporters import exporter_service
from operations.base.inventory import listen_address, settings
from operations.base.releases import promu_release

NAME = "pushgateway"
DATA_DIR = "/var/lib/pushgateway"
CONFIG_DIR = "/etc/pushgateway"   # only for web.yml (TLS, login)


COMPONENT = Component(
    name=NAME,
    leaves=Leaves(config=(CONFIG_DIR,), data=(DATA_DIR,)),
    help="push endpoint for batch jobs",
    port=9091, group="monitoring", enabled=False,
    scrape_job=("pushgateway", "pushed batch-job metrics"),
    protected_by="web.yml",
    release=promu_release(
        "prometheus/pushgateway", NAME, version="1.11.3", oldest="1.5.1",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("1.5.1", "bookworm"), ("1.11.2", "sid")],
        debian_package="prometheus-pushgateway",
        notes="All four Linux arches are pinned. armv7/armv6 (and armv5) come from one source, the AUR "
              "PKGBUILD prometheus-push-gateway-bin."),
    checksums={
        "pushgateway-1.11.3.linux-amd64.tar.gz": "bb0a44dee0953df9e8cd3c082981ff50327de56d965d83bdd9b0957d83921e38",  # x3: AUR PKGBUILD prometheus-push-gateway-bin 1.11.3; a Homebrew tap formula; a pushgateway RPM spec
        "pushgateway-1.11.3.linux-arm64.tar.gz": "727ff0098943657b44c21a029be9d9fcc4f249ec72dcb9f0a34aa66b2d5f1ecc",  # x3: same sources as amd64
        "pushgateway-1.11.3.linux-armv7.tar.gz": "38e10f4132e255fa5ef99b9bded8d7967d0831e0fa7a3d262e39cbbced37f35b",  # x1: AUR PKGBUILD prometheus-push-gateway-bin 1.11.3 (sha256sums_armv7h)
        "pushgateway-1.11.3.linux-armv6.tar.gz": "cd4fadf1dbff52a7055aefc606a9aad82b55245d2daca95876713a051b203d44",  # x1: AUR PKGBUILD prometheus-push-gateway-bin 1.11.3 (sha256sums_armv6h)
    },
)


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return DATA_DIR


@deploy("Pushgateway")
def install():
    s = settings()
    exporter_service(
        NAME, home(s), CONFIG_DIR, ready_path="/-/ready",
        folders=[(DATA_DIR, NAME, NAME, "0750")],
        description="Prometheus Pushgateway",
        documentation="https://github.com/prometheus/pushgateway",
        write_paths=[DATA_DIR],
        args=[f"--web.listen-address={listen_address(NAME)}",
              # pushed metrics survive restarts
              f"--persistence.file={DATA_DIR}/metrics.store"],
    )
