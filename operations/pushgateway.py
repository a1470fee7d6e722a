"""Pushgateway: where batch jobs push their metrics for Prometheus to scrape."""

from pyinfra.api import deploy

from .context import listen_address, local_url, settings
from .install import directory, install_binaries, system_user
from .services import Unit, service
from .web_config import protect

NAME = "pushgateway"
DATA_DIR = "/var/lib/pushgateway"
CONFIG_DIR = "/etc/pushgateway"   # only for web.yml (TLS, login)


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return DATA_DIR


@deploy("Pushgateway")
def install():
    s = settings()
    system_user(NAME, home(s))
    directory(DATA_DIR, NAME, NAME, "0750")
    binaries = install_binaries(NAME)
    web = protect(NAME, CONFIG_DIR, make_dir=True)
    unit = Unit(
        name=NAME, user=NAME,
        description="Prometheus Pushgateway",
        documentation="https://github.com/prometheus/pushgateway",
        write_paths=[DATA_DIR],
        exec_start=[binaries.path(NAME), f"--web.listen-address={listen_address(NAME)}",
                    # pushed metrics survive restarts
                    f"--persistence.file={DATA_DIR}/metrics.store",
                    *web.flags, *s.pushgateway_extra_flags],
    )
    service(unit, local_url(NAME, "/-/ready"), restart_on=[*binaries.ops, *web.restart_on])
