"""The stack: every component in deploy order, and the plan of one host.

This is the one module that imports every component. It hands their declarations
(`COMPONENT`: catalogue row, settings, release entry, checks) to the catalogue in deploy
order, and maps each to the code that installs it; the shared base (operations/base/)
imports no component and reads the catalogue instead.
"""

from __future__ import annotations

from pyinfra import host, state

from operations.base import (backups, catalogue, connections, fact_batch, inventory,
                             placement, planning_speed, progress, removal)
from operations.base.files import remove_staged_leftovers
from operations.base.install import plan_service_users
from operations.base.schema import duration_seconds
from operations.base.services import wait_ready_helper
from operations.base.settings import GENERAL, general_problems
from operations.components import (alloy, blackbox_exporter, cadvisor, haproxy, jaeger, loki,
                                   mysqld_exporter, nginx_exporter, node_exporter,
                                   postgres_exporter, process_exporter, pushgateway,
                                   pyroscope, redis_exporter, snmp_exporter, systemd_exporter,
                                   victoriametrics, vmcluster)
from operations.components.alertmanager import server as alertmanager
from operations.components.grafana import (provisioning as grafana_provisioning,
                                           server as grafana)
from operations.components.prometheus import server as prometheus

# Deploy order. Exporters first; the long-term store before Prometheus (a host running both
# sends to a ready store), vmstorage before vminsert and vmselect (they find it up); Loki
# before Alloy (on a one-host first run the shipper finds its Loki running); Grafana last.
# Each entry: the component's catalogue row, and what installs it (`home(settings)`: its
# service user's home; `install()`).
ORDER = [
    (node_exporter.COMPONENT, node_exporter),
    (process_exporter.COMPONENT, process_exporter),
    (systemd_exporter.COMPONENT, systemd_exporter),
    (redis_exporter.COMPONENT, redis_exporter),
    (postgres_exporter.COMPONENT, postgres_exporter),
    (mysqld_exporter.COMPONENT, mysqld_exporter),
    (nginx_exporter.COMPONENT, nginx_exporter),
    (haproxy.COMPONENT, haproxy),
    (cadvisor.COMPONENT, cadvisor),
    (pushgateway.COMPONENT, pushgateway),
    (blackbox_exporter.COMPONENT, blackbox_exporter),
    (snmp_exporter.COMPONENT, snmp_exporter),
    (alertmanager.COMPONENT, alertmanager),
    (victoriametrics.COMPONENT, victoriametrics),
    (vmcluster.VMSTORAGE, vmcluster.INSTALLERS["vmstorage"]),
    (vmcluster.VMINSERT, vmcluster.INSTALLERS["vminsert"]),
    (vmcluster.VMSELECT, vmcluster.INSTALLERS["vmselect"]),
    (prometheus.COMPONENT, prometheus),
    (loki.COMPONENT, loki),
    (jaeger.COMPONENT, jaeger),
    (pyroscope.COMPONENT, pyroscope),
    (alloy.COMPONENT, alloy),
    (grafana.COMPONENT, grafana),
]
# what runs where first: a group typo or a port taken twice explains the errors after it
catalogue.define(GENERAL, [c for c, _ in ORDER], general_problems,
                 [placement.unknown_groups, placement.port_clashes])
INSTALLERS = {c.name: installer for c, installer in ORDER}

# The catalogue's tables, for the docs generator and the tests
COMPONENTS = catalogue.components()
# those the deploy installs: a release, a version, an install method (not scrape-only)
INSTALLED = catalogue.installed_components()
SETTINGS = catalogue.settings_schema()
BY_NAME = catalogue.settings_by_name()
RELEASES = catalogue.releases()
CHECKSUMS = catalogue.checksums()
validate = catalogue.validate


def plan_host() -> None:
    """Validate the whole inventory once, then plan what the current host runs."""
    inventory.validate_inventory()
    planning_speed.install()   # before the first operation: see its module
    # Facts in one round trip per host (see operations/base/fact_batch.py).
    fact_dir = inventory.settings().fact_batch_dir
    if fact_dir:
        fact_batch.start(state, host, fact_dir)
    progress.start(state)
    connections.give_up_when_silent(
        host, duration_seconds(inventory.settings().connection_lost_after))
    running = {c: INSTALLERS[c] for c in COMPONENTS if inventory.runs(c)}
    if running:
        wait_ready_helper()
    # Every service user first: some packages create users as a side effect.
    plan_service_users([(c, m.home(inventory.settings())) for c, m in running.items()
                        if not COMPONENTS[c].scrape_only],
                       name="Create the service users")
    # What the deploy put here for a component this host no longer runs: stopped and
    # removed first (it frees its port), its data kept unless <name>_purge_data. One fact.
    removals = removal.plan({c: m.home for c, m in INSTALLERS.items()}, list(running))
    for component in host.loop(COMPONENTS):
        if component in removals:
            removal.remove(removals[component])
    # host.loop over the whole catalogue: pyinfra tells operations apart by the line
    # numbers of their call stack, and two components can call the same helper on the
    # same line; the loop adds each component's place in the catalogue, the same on every
    # host, so redis_exporter's install on one host is never merged with
    # blackbox_exporter's on another (shown under one of their names, at random).
    for component in host.loop(COMPONENTS):
        if component in running:
            running[component].install()
    # Grafana's data sources, folder and dashboards, over its API once its service is ready
    if "grafana" in running:
        grafana_provisioning.install()
    # a backup timer per kind of data the host holds (after the services it backs up);
    # its metrics go where node_exporter's textfile collector reads (its folder made by
    # node_exporter where it runs)
    backups.install(inventory.settings().node_exporter_textfile_dir,
                    textfile_dir_made="node_exporter" in running)
    # last: every folder this run stages files in is known by now
    remove_staged_leftovers()
