"""blackbox_exporter: probes HTTP and TCP endpoints from the monitoring host."""

from pyinfra.api import deploy

from .config_files import validated_file
from .context import listen_address, local_url, settings
from .install import directory, install_binaries, system_user
from .services import Unit, render, service
from .web_config import protect

NAME = "blackbox_exporter"
CONFIG_DIR = "/etc/blackbox_exporter"
CONFIG = f"{CONFIG_DIR}/blackbox.yml"


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return "/nonexistent"


@deploy("blackbox_exporter")
def install():
    s = settings()
    system_user(NAME, home(s))
    directory(CONFIG_DIR, "root", NAME, "0750")
    binaries = install_binaries(NAME)
    web = protect(NAME, CONFIG_DIR)
    config_op = validated_file(
        name="Write blackbox.yml (checked by blackbox_exporter)", dest=CONFIG,
        content=render("blackbox_exporter/blackbox.yml.j2"),
        validate=f"{binaries.path(NAME)} --config.check --config.file={{path}}",
        user="root", group=NAME, mode="0640")
    unit = Unit(
        name=NAME, user=NAME, reloadable=True,
        description="Prometheus blackbox_exporter (endpoint probes)",
        documentation="https://github.com/prometheus/blackbox_exporter",
        exec_start=[binaries.path(NAME), f"--config.file={CONFIG}",
                    f"--web.listen-address={listen_address(NAME)}",
                    *web.flags, *s.blackbox_exporter_extra_flags],
    )
    service(unit, local_url(NAME, "/-/healthy"), restart_on=[*binaries.ops, *web.restart_on],
            reload_on=[config_op])
