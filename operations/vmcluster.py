"""VictoriaMetrics, cluster edition: vmstorage stores the samples, vminsert takes every
Prometheus' remote_write and spreads it over the vmstorage hosts, vmselect answers
queries from all of them (Grafana's "VictoriaMetrics cluster" data source).

Each runs on the hosts of its own group (`vmstorage`, `vminsert`, `vmselect`; none unless
the inventory has them; one host may be in several), as its own hardened unit under its
own system user, from upstream's cluster tarball only (Debian ships no cluster binaries):
victoria-metrics-linux-<arch>-v<version>-cluster.tar.gz, whose vmstorage-prod,
vminsert-prod and vmselect-prod are installed as /usr/local/bin/vmstorage, ... (release
entry `victoriametrics_cluster`). Everything is a flag; a change rewrites the unit, which
restarts it. Readiness: GET /health on each one's HTTP port.

The cluster is independent of the single-node `victoriametrics` component: an inventory
may have either, or both (e.g. while moving from one to the other); Prometheus then
writes to both and Grafana has a data source for each.

The end-to-end test proves this module with TEST DOUBLES of the three programs
(tests/harness/doubles/vm_cluster_double.py), not with upstream's binaries.
"""

from __future__ import annotations

from pyinfra.api import deploy

from .context import (bind_address, bracketed, endpoint, hosts_running, listen_address,
                      local_url, reach_address, settings)
from .install import directory, install_binaries, system_user
from .services import Unit, service
from .settings import SettingsError
from .victoriametrics import STORAGE_SYSTEM_CALLS

STORAGE, INSERT, SELECT = "vmstorage", "vminsert", "vmselect"
COMPONENTS = (STORAGE, INSERT, SELECT)
NOHOME = "/nonexistent"
DOCS = "https://docs.victoriametrics.com/cluster-victoriametrics/"
DESCRIPTIONS = {
    STORAGE: "VictoriaMetrics cluster vmstorage (stores the samples)",
    INSERT: "VictoriaMetrics cluster vminsert (takes remote_write, spreads it over vmstorage)",
    SELECT: "VictoriaMetrics cluster vmselect (answers queries from every vmstorage)",
}


def home(component: str, s) -> str:
    """Home of the service user: vmstorage's data folder; the others keep no data."""
    return s.vmstorage_data_dir if component == STORAGE else NOHOME


# -- the cluster as the inventory has it ----------------------------------------------------
def storage_hosts() -> list:
    return sorted(hosts_running(STORAGE), key=lambda h: h.name)


def storage_nodes(port_key: str) -> list[str]:
    """host:port of every vmstorage host, at the port given by its `port_key` setting
    (vmstorage_vminsert_port for vminsert, vmstorage_vmselect_port for vmselect)."""
    return [f"{reach_address(STORAGE, h)}:{getattr(settings(h), port_key)}"
            for h in storage_hosts()]


def duplicated_writes(s) -> bool:
    """Does every sample reach the storage more than once? (replication, or every
    Prometheus writing to each of 2+ vminsert hosts)"""
    return s.vmcluster_replication_factor > 1 or len(hosts_running(INSERT)) > 1


def dedup_interval(s) -> str | None:
    if s.vmcluster_dedup_min_scrape_interval:
        return s.vmcluster_dedup_min_scrape_interval
    return "1ms" if duplicated_writes(s) else None


def check_cluster(component: str, s) -> None:
    """What only the whole inventory shows, checked on the controller before any change."""
    stores = storage_hosts()
    if component in (INSERT, SELECT):
        if not stores:
            raise SettingsError(
                f"{component} runs on this host but no host runs vmstorage: put at least "
                "one host in the vmstorage group (vmstorage_group)")
        if s.vmcluster_replication_factor > len(stores):
            raise SettingsError(
                f"vmcluster_replication_factor ({s.vmcluster_replication_factor}) is more "
                f"than the number of vmstorage hosts ({len(stores)}): each copy of a sample "
                "needs a vmstorage host of its own")


# -- flags ----------------------------------------------------------------------------------
def _address(component: str, port: int) -> str:
    return f"{bracketed(bind_address(component))}:{port}"


def flags(component: str, s, binary: str) -> list[str]:
    """The command line of `component` on the current host."""
    argv = [binary, f"-httpListenAddr={listen_address(component)}"]
    if component == STORAGE:
        argv += [f"-storageDataPath={s.vmstorage_data_dir}",
                 f"-retentionPeriod={s.vmcluster_retention_period}",
                 f"-vminsertAddr={_address(STORAGE, s.vmstorage_vminsert_port)}",
                 f"-vmselectAddr={_address(STORAGE, s.vmstorage_vmselect_port)}"]
    else:
        port_key = "vmstorage_vminsert_port" if component == INSERT else "vmstorage_vmselect_port"
        argv.append(f"-storageNode={','.join(storage_nodes(port_key))}")
        if s.vmcluster_replication_factor > 1:
            argv.append(f"-replicationFactor={s.vmcluster_replication_factor}")
    dedup = dedup_interval(s)
    if dedup and component != INSERT:
        argv.append(f"-dedup.minScrapeInterval={dedup}")
    return argv + list(s.component(component, "extra_flags"))


def unit(component: str, s, binary: str) -> Unit:
    return Unit(
        name=component, user=component, description=DESCRIPTIONS[component],
        documentation=DOCS,
        write_paths=[s.vmstorage_data_dir] if component == STORAGE else [],
        exec_start=flags(component, s, binary),
        extra_system_calls=STORAGE_SYSTEM_CALLS if component == STORAGE else [],
    )


def install_component(component: str) -> None:
    s = settings()
    check_cluster(component, s)
    system_user(component, home(component, s))
    if component == STORAGE:
        directory(s.vmstorage_data_dir, STORAGE, STORAGE, "0750")
    binaries = install_binaries(component, [component])
    service(unit(component, s, binaries.path(component)), local_url(component, "/health"),
            restart_on=binaries.ops)


# -- where Prometheus writes and Grafana reads -------------------------------------------------
def write_urls(s, inserts: list) -> dict[str, str]:
    """name -> remote_write URL of each vminsert host in `inserts` (by host name)."""
    return {f"vminsert-{h.name}": f"http://{endpoint(INSERT, h)}"
                                  f"/insert/{s.vmcluster_tenant}/prometheus/api/v1/write"
            for h in sorted(inserts, key=lambda h: h.name)}


def query_url(s, selects: list) -> str | None:
    """Prometheus-compatible query URL at the first of the vmselect hosts `selects`."""
    if not selects:
        return None
    h = sorted(selects, key=lambda h: h.name)[0]
    return f"http://{endpoint(SELECT, h)}/select/{s.vmcluster_tenant}/prometheus"


def deploy_of(component: str):
    """The `install` of one of the three component modules."""
    @deploy(f"VictoriaMetrics {component}")
    def install():
        # pyinfra tells operations apart by the line numbers of the calls leading to them
        # (not by file): each component calls from a line of its own, else vmstorage on
        # one host and vminsert on another would share operations (and one name in
        # pyinfra's tables)
        if component == STORAGE:
            install_component(component)
        elif component == INSERT:
            install_component(component)
        else:
            install_component(component)
    return install
