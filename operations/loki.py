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

from . import grafana_apt
from .config_files import validated_file
from .context import bind_address, local_url, settings
from .install import directories, install_binaries, system_user
from .services import Unit, render, service

NAME = "loki"
CONFIG_DIR = "/etc/loki"
CONFIG = f"{CONFIG_DIR}/loki.yaml"   # not the package's /etc/loki/config.yml
PACKAGE_BINARY = "/usr/bin/loki"   # where Grafana's deb puts it (v3.6.8 tools/packaging/nfpm.jsonnet)
# First day of the one schema period: TSDB index, schema v13 (what Loki 3 requires for
# structured metadata). A later schema change appends a period; this one never changes.
SCHEMA_FROM = "2024-01-01"


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
    return Unit(
        name=NAME, user=NAME,
        description="Grafana Loki (log storage)",
        documentation="https://grafana.com/docs/loki/latest/",
        write_paths=[s.loki_data_dir],
        exec_start=[binary, f"-config.file={CONFIG}", *s.loki_extra_flags],
    )


def install_loki(s):
    if s.loki_install_method == "package":
        # Grafana's APT repository (Debian's own `loki` package is another program)
        return grafana_apt.install(NAME, {NAME: PACKAGE_BINARY}, s.loki_version,
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
