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

from operations.base.component import Component, Leaves
from operations.base.install import directory, install_binaries, system_user
from operations.base.inventory import (bind_address, bracketed, endpoint, hosts_running,
                                       listen_address, local_url, reach_address, settings)
from operations.base.releases import github_release
from operations.base.schema import Setting, SettingsError, is_go_duration
from operations.base.services import Unit, service
from operations.components.victoriametrics import (STORAGE_SYSTEM_CALLS, check_downgrade,
                                                  retention_problems)

STORAGE, INSERT, SELECT = "vmstorage", "vminsert", "vmselect"
INSTALL_HELP = ("`archive` only: upstream's cluster tarball (via artifact_mirror; no sha256 is "
                "pinned: give it in artifact_checksums); Debian has no cluster package")
COMPONENTS = (STORAGE, INSERT, SELECT)
NOHOME = "/nonexistent"
DOCS = "https://docs.victoriametrics.com/cluster-victoriametrics/"
DESCRIPTIONS = {
    STORAGE: "VictoriaMetrics cluster vmstorage (stores the samples)",
    INSERT: "VictoriaMetrics cluster vminsert (takes remote_write, spreads it over vmstorage)",
    SELECT: "VictoriaMetrics cluster vmselect (answers queries from every vmstorage)",
}


def settings_problems(values: dict) -> list[str]:
    """The cluster edition's own rules (those between hosts: check_cluster)."""
    errors = [f"{c}_install_method = 'package': Debian has no VictoriaMetrics cluster "
              "package; use 'archive' (upstream's cluster tarball, via artifact_mirror)"
              for c in COMPONENTS if values[f"{c}_install_method"] == "package"]
    errors += retention_problems("vmcluster_retention_period",
                                 values["vmcluster_retention_period"])
    dedup = values["vmcluster_dedup_min_scrape_interval"]
    if dedup is not None and not is_go_duration(dedup):
        errors.append(f"vmcluster_dedup_min_scrape_interval ({dedup!r}) must be a Go "
                      "duration like 1ms, 15s or 1m (units ms, s, m, h)")
    ports = {k: values[k] for k in ("vmstorage_port", "vmstorage_vminsert_port",
                                    "vmstorage_vmselect_port")}
    if len(set(ports.values())) < 3:
        errors.append("vmstorage_port, vmstorage_vminsert_port and vmstorage_vmselect_port "
                      f"must differ (one host serves all three): {ports}")
    return errors


def storage_leaves(s) -> Leaves:
    """What vmstorage leaves besides its unit and program: its data (vminsert and vmselect
    keep nothing but theirs; their service users have no home)."""
    return Leaves(data=(s.vmstorage_data_dir,))


def no_leaves(s) -> Leaves:
    """vminsert and vmselect: their unit and program, nothing else."""
    return Leaves()


def cluster_component(name: str, **fields) -> Component:
    """The catalogue row of one of the cluster's programs: it runs on the hosts of the group
    of its name, from the cluster tarball (release entry `victoriametrics_cluster`)."""
    fields.setdefault("leaves", no_leaves)
    return Component(name=name, group=name, install_help=INSTALL_HELP,
                     release_name="victoriametrics_cluster", **fields)


VMSTORAGE = cluster_component(
    STORAGE, leaves=storage_leaves, help="VictoriaMetrics cluster: stores the samples, on hosts of the vmstorage group",
    port=8482,
    extra_ports=("vmstorage_vminsert_port", "vmstorage_vmselect_port"),
    scrape_job=("vmstorage", "the VictoriaMetrics cluster's storage"),
    checks=settings_problems,
    release=github_release(
        "VictoriaMetrics/VictoriaMetrics", version="1.150.0", oldest="1.79.5",
        oldest_reason=("the single-node edition's floor, whose -retentionPeriod and "
                       "-dedup.minScrapeInterval the cluster shares (no cluster build was "
                       "checked)"),
        proven=[],
        file="victoria-metrics-linux-{arch}-v{version}-cluster.tar.gz",
        binaries={"vminsert": "vminsert-prod", "vmselect": "vmselect-prod",
                  "vmstorage": "vmstorage-prod"},
        checksums="victoria-metrics-linux-{arch}-v{version}-cluster_checksums.txt",
        debian_package=None,
        notes="Test doubles only: the suite runs no real build of it (proven is []). Cluster edition, one tarball for the components vminsert, vmselect and vmstorage (each "
              "installs only its own binary from it). From the Makefile of the repository's cluster "
              "branch (release-vmcluster-goos-goarch): the tag is v<version>-cluster, the tarball "
              "victoria-metrics-linux-<arch>-v<version>-cluster.tar.gz holds vminsert-prod, "
              "vmselect-prod and vmstorage-prod at its root (tar --transform strips -linux-<arch>), "
              "and victoria-metrics-linux-<arch>-v<version>-cluster_checksums.txt lists the sha256 of "
              "the tarball and of the three binaries. Linux builds: amd64 and arm64 only (the target "
              "list has no 32-bit ARM). Debian ships no cluster binaries. NO sha256 is pinned: give "
              "the one of the file you mirror in artifact_checksums. Default ports (from the flags' "
              "defaults): vminsert -httpListenAddr :8480, vmselect :8481, vmstorage :8482 with "
              "-vminsertAddr :8400 and -vmselectAddr :8401."),
    settings=(
        Setting("vmcluster_tenant", "int", 0, minimum=0, maximum=4294967295, section="vmcluster",
                help=("accountID the samples are written to and read from (the <tenant> of "
                      "/insert/<tenant>/prometheus and /select/<tenant>/prometheus)")),
        Setting("vmcluster_retention_period", "str", "1y", section="vmcluster", help=(
            "how long vmstorage keeps samples (-retentionPeriod; as "
            "victoriametrics_retention_period)")),
        Setting("vmcluster_replication_factor", "int", 1, minimum=1, maximum=100,
                section="vmcluster", help=(
                    "copies vminsert writes of every sample, on that many vmstorage hosts "
                    "(-replicationFactor of vminsert and vmselect); at most the number of "
                    "vmstorage hosts")),
        Setting("vmcluster_dedup_min_scrape_interval", "str", None, optional=True,
                section="vmcluster", help=(
                    "-dedup.minScrapeInterval of vmselect and vmstorage (a Go duration: ms, s, "
                    "m, h); unset: 1ms when samples arrive twice (replication factor above 1, "
                    "or 2+ vminsert hosts, each written to by every Prometheus), else none")),
        Setting("vmstorage_data_dir", "str", "/var/lib/vmstorage", section="vmcluster",
                help="vmstorage's storage folder (-storageDataPath)"),
        Setting("vmstorage_allow_downgrade", "bool", False, section="vmcluster",
                help=(
            "let the archive method install a vmstorage older than 1.90.0 where 1.90.0 or later "
            "has run: its data folder may then not open (1.90.0 changed the storage format); "
            "set it on purpose, after moving the data away")),
        Setting("vmstorage_vminsert_port", "int", 8400, minimum=1, maximum=65535,
                section="vmcluster", help="port vmstorage takes vminsert's writes on (-vminsertAddr)"),
        Setting("vmstorage_vmselect_port", "int", 8401, minimum=1, maximum=65535,
                section="vmcluster", help="port vmstorage answers vmselect on (-vmselectAddr)"),
    ),
)


VMINSERT = cluster_component(
    INSERT, help=("VictoriaMetrics cluster: takes every Prometheus' remote_write and spreads "
                  "it over the vmstorage hosts, on hosts of the vminsert group"),
    port=8480, scrape_job=("vminsert", "the VictoriaMetrics cluster's write path"),
)


VMSELECT = cluster_component(
    SELECT, help=("VictoriaMetrics cluster: answers queries (Grafana's data source) from "
                  "every vmstorage host, on hosts of the vmselect group"),
    port=8481, scrape_job=("vmselect", "the VictoriaMetrics cluster's query path"),
)


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
        check_downgrade(STORAGE, "vmstorage", STORAGE, s.vmstorage_data_dir)
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


class ClusterComponent:
    """vmstorage, vminsert or vmselect as the deploy sees a component: its name, its
    service user's home and its install."""

    def __init__(self, name: str):
        self.NAME = name
        self.install = deploy(f"VictoriaMetrics {name}")(lambda: install_component(name))

    def home(self, s) -> str:
        return home(self.NAME, s)


INSTALLERS = {c: ClusterComponent(c) for c in COMPONENTS}
