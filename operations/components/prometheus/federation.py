"""Sites and federation: each site's Prometheus scrapes the hosts of its site and labels
its series with the site; a global Prometheus (group `federation`) federates selected
series from every site's Prometheus instead of scraping their targets."""

from __future__ import annotations

import re

from operations.base import inventory
from operations.base.inventory import endpoint, host_label, runs
from operations.base.schema import LABEL_NAME_RE

PROMETHEUS = "prometheus"
# an instant vector selector: a metric name, matchers in braces, or both (PromQL checks the
# rest on the host: a bad one shows as the federate job's scrape error)
SELECTOR_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?|\{.*\S.*\}", re.S)


def settings_problems(values: dict) -> list[str]:
    """One host's settings of sites and federation."""
    errors = []
    label = values["prometheus_site_label"]
    if not LABEL_NAME_RE.fullmatch(label):
        errors.append(f"prometheus_site_label ({label!r}) is not a Prometheus label name "
                      "(letters, digits, _; not a digit first)")
    elif label == values["prometheus_replica_label"]:
        errors.append(f"prometheus_site_label ({label!r}) must differ from "
                      "prometheus_replica_label")
    site = values["site"]
    if site is not None and not site.strip():
        errors.append("site must not be blank (unset it instead)")
    match = values["prometheus_federate_match"]
    if not match:
        errors.append("prometheus_federate_match must name at least one selector, like "
                      "'up' or '{__name__=~\"job:.+\"}'")
    for selector in match:
        if not isinstance(selector, str) or not SELECTOR_RE.fullmatch(selector.strip()):
            errors.append(f"prometheus_federate_match: {selector!r} is not a series "
                          "selector like 'up', 'up{job=\"node\"}' or '{__name__=~\"job:.+\"}'")
    if not values["prometheus_federate_group"].strip():
        errors.append("prometheus_federate_group must not be blank")
    return errors


def settings(h):
    return inventory.settings(h)   # looked up on each call (unit tests replace it)


def site_of(h=None) -> str | None:
    """The site of host `h` (None: no site given)."""
    return settings(inventory.current_host if h is None else h).site


def is_global(h=None) -> bool:
    """Does `h` run a global Prometheus (it is in the group prometheus_federate_group)?"""
    h = inventory.current_host if h is None else h
    return settings(h).prometheus_federate_group in h.groups


def scraped_here(h, prometheus=None) -> bool:
    """Is host `h` scraped by the Prometheus on `prometheus` (default: this host)? When
    both are of the same site (hosts without a site: by the Prometheus without one)."""
    return site_of(h) == site_of(prometheus)


def same_kind(h, prometheus) -> bool:
    """Do the Prometheus on `h` and on `prometheus` scrape the same targets (the same site,
    both global or neither)? Such Prometheus are replicas of one HA group."""
    return scraped_here(h, prometheus) and is_global(h) == is_global(prometheus)


def sources() -> list:
    """The Prometheus hosts a global Prometheus federates: every one that is not global."""
    return sorted((h for h in inventory.hosts_running(PROMETHEUS) if not is_global(h)),
                  key=lambda h: h.name)


def site_labels(s) -> dict:
    """The external label naming this Prometheus' site, if it has one."""
    return {s.prometheus_site_label: s.site} if s.site is not None else {}


def federate_jobs(s, client: dict, prometheus) -> list[dict]:
    """On a global Prometheus (host `prometheus`): one job scraping /federate of every site's Prometheus, with
    the stack's TLS and login (`client`). honor_labels keeps the labels the sites give
    their series (job, instance, host and the site's external labels, which /federate
    adds to every series it returns) instead of overwriting them with the federate job's.
    Each target is labelled with its site too, so `up{job="federate"}` says which site's
    Prometheus did not answer."""
    if not is_global(prometheus):
        return []
    return [{
        "job_name": "federate", "honor_labels": True, "metrics_path": "/federate",
        "params": {"match[]": list(s.prometheus_federate_match)}, **client,
        "static_configs": [
            {"targets": [endpoint(PROMETHEUS, h)],
             "labels": {s.prometheus_site_label: site_of(h), "host": host_label(h)}}
            for h in sources()],
    }]


def inventory_problems(hosts, scraped_components) -> list[str]:
    """Rules between hosts, checked once every host's own data is valid."""
    errors = []
    prometheus = [h for h in hosts if runs(PROMETHEUS, h)]
    if any(is_global(h) for h in prometheus):
        for h in prometheus:
            if not is_global(h) and site_of(h) is None:
                errors.append(
                    f"host {h.name} runs Prometheus without a `site`, and a global "
                    f"Prometheus (group {settings(h).prometheus_federate_group}) federates it: "
                    "give every site's hosts a `site` (e.g. in group_data/<site>.py), so "
                    "their series stay apart")
    if any(site_of(h) is not None for h in hosts) and prometheus:
        sites = {site_of(p) for p in prometheus}
        for h in hosts:
            if site_of(h) not in sites and any(runs(c, h) for c in scraped_components):
                where = f"site {site_of(h)!r}" if site_of(h) is not None else "no site"
                errors.append(f"host {h.name} ({where}) is scraped by no Prometheus: no "
                              "Prometheus has that site; give it the site of one")
    return errors
