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

The cluster edition (vminsert, vmselect, vmstorage) is operations/vmcluster.py; the two
may run side by side.
"""

from pyinfra.api import deploy

from .context import listen_address, local_url, settings
from .install import directory, install_binaries, system_user
from .services import Unit, service

NAME = "victoriametrics"
BINARY = "victoria-metrics"   # Debian's name; upstream's victoria-metrics-prod is renamed
# Its storage asks the kernel whether file pages are in memory (mincore(2): 1.145 does,
# 1.79 did not) and panics when refused; systemd's @system-service set leaves mincore out.
STORAGE_SYSTEM_CALLS = ["mincore"]


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.victoriametrics_data_dir


def flags(s, binary: str) -> list[str]:
    return [binary,
            f"-httpListenAddr={listen_address(NAME)}",
            f"-storageDataPath={s.victoriametrics_data_dir}",
            f"-retentionPeriod={s.victoriametrics_retention_period}",
            *s.victoriametrics_extra_flags]


def unit(s, binary: str) -> Unit:
    return Unit(
        name=NAME, user=NAME,
        description="VictoriaMetrics (long-term storage of Prometheus' samples)",
        documentation="https://docs.victoriametrics.com/",
        write_paths=[s.victoriametrics_data_dir],
        exec_start=flags(s, binary),
        extra_system_calls=STORAGE_SYSTEM_CALLS,
    )


@deploy("VictoriaMetrics")
def install():
    s = settings()
    system_user(NAME, home(s))
    directory(s.victoriametrics_data_dir, NAME, NAME, "0750")
    binaries = install_binaries(NAME, [BINARY])
    # every setting is a flag: a change rewrites the unit, which restarts it
    service(unit(s, binaries.path(BINARY)), local_url(NAME, "/health"),
            restart_on=binaries.ops)
