"""Scrape targets generated from the inventory: add a host, it is monitored."""

from __future__ import annotations

from operations.base import catalogue
from operations.base.inventory import (endpoint, host_label, hosts_running, reach_address,
                                       settings)
from operations.components.prometheus.federation import scraped_here

def jobs() -> dict[str, tuple[str, str]]:
    """component -> (Prometheus job name, what it measures), for each component that is
    scraped (`Component.scrape_job`), in deploy order."""
    return {c.name: c.scrape_job for c in catalogue.components().values() if c.scrape_job}


def file_sd_groups(component: str) -> list[dict]:
    """file_sd content for one component: one group per host of this Prometheus' site,
    labelled with its name."""
    groups = []
    for h in sorted(hosts_running(component), key=lambda h: h.name):
        if not scraped_here(h):
            continue   # another site's Prometheus scrapes it
        groups.append({"targets": [scrape_endpoint(component, h)],
                       "labels": {"host": host_label(h)}})
    return groups


def scrape_endpoint(component: str, h) -> str:
    """host:port Prometheus scrapes `component` on `h` at: its port, or the one its
    `Component.scrape_port` setting names."""
    port_setting = catalogue.components()[component].scrape_port
    if not port_setting:
        return endpoint(component, h)
    return f"{reach_address(component, h)}:{getattr(settings(h), port_setting)}"


def inventory_jobs() -> list[dict]:
    """Jobs to scrape, with their file_sd content (empty jobs are still listed, so a
    later host shows up without a config reload)."""
    return [{"name": job, "comment": comment, "component": component,
             "honor_labels": component == "pushgateway",
             "groups": file_sd_groups(component)}
            for component, (job, comment) in jobs().items()]
