"""What runs where, checked before anything is planned: two programs of one host on one
port (the second would not start), and a group setting that names no group of the
inventory (its component would run nowhere, silently).

Rules between hosts that concern every component: they read the catalogue and the
inventory, and operations/stack.py hands them to the catalogue, whose
validate_inventory() runs them once every host's own settings are valid.
"""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass

from operations.base import catalogue
from operations.base.addresses import WILDCARDS
from operations.base.inventory import runs, settings

EVERY_HOST = "all"
# listen addresses that may take a port on every address of the host: `auto` becomes the
# scrape address only when the host has it on an interface (a fact of the host, unknown
# while validating), else every interface
TAKE_EVERY_ADDRESS = (*WILDCARDS, "auto")


# -- ports -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Listener:
    """One TCP port a program of a host listens on."""

    name: str       # the setting naming the port, or what a fixed port is
    address: str    # its listen address as set: an IP address, 0.0.0.0, :: or auto
    port: int
    given: bool = False   # a setting the user changed from its default


def listeners(h) -> list[Listener]:
    """Every TCP port the components that run on host `h` listen on, in deploy order."""
    s = settings(h)
    found = []
    for c in catalogue.components().values():
        if not runs(c.name, h):
            continue
        address = s.component(c.name, "listen_address")
        found += [Listener(key, address, s.values[key],
                           s.values[key] != catalogue.setting(key).default)
                  for key in (f"{c.name}_port", *c.extra_ports)]
        found += [Listener(*fixed) for fixed in c.fixed_listeners]
        found += [Listener(key, address, s.values[key],
                           s.values[key] != catalogue.setting(key).default)
                  for key, address in (c.extra_listeners(s) if c.extra_listeners else ())]
    return found


def share_a_port(a: Listener, b: Listener) -> bool:
    """Would `b` find its port taken by `a`? The same port, and the same IP address or
    either one on every address. Two different IP addresses of the host may share a
    port (127.0.0.1:9100 and 10.0.0.5:9100)."""
    if a.port != b.port:
        return False
    if a.address in TAKE_EVERY_ADDRESS or b.address in TAKE_EVERY_ADDRESS:
        return True
    return ipaddress.ip_address(a.address) == ipaddress.ip_address(b.address)


def port_clashes(hosts: list) -> list[str]:
    """Each listener of a host whose port an earlier one of that host takes."""
    errors = []
    for h in hosts:
        taken: list[Listener] = []
        for listener in listeners(h):
            first = next((t for t in taken if share_a_port(t, listener)), None)
            if first is None:
                taken.append(listener)
            else:
                errors.append(clash_message(h.name, first, listener))
    return errors


def to_change(first: Listener, second: Listener) -> Listener:
    """The port the fix names: one the user changed, else the later setting."""
    given = [x for x in (second, first) if x.given]
    return given[0] if given else second if catalogue.setting(second.name) else first


def clash_message(host_name: str, first: Listener, second: Listener) -> str:
    change = to_change(first, second)
    return (f"host {host_name}: {first.name} (on {first.address}) and {second.name} (on "
            f"{second.address}) both take port {second.port}, where only one program of a "
            f"host can listen: give {change.name} another port, or bind the two to "
            "different IP addresses of the host (<component>_listen_address; auto, 0.0.0.0 "
            "and :: take every address)")


# -- groups ------------------------------------------------------------------------------
def group_keys(c) -> tuple[str, ...]:
    """The settings of component `c` that name an inventory group."""
    return (f"{c.name}_group", *c.group_settings)


def given_groups(h) -> list[tuple[str, str, str]]:
    """(component, setting, group) of each group setting that the user changed from its
    default, of the components enabled on host `h`. A default may name a group the
    inventory does not have (no `redis` group: no redis_exporter, as meant; one host in
    no `monitoring` group monitors itself)."""
    s = settings(h)
    given = []
    for c in catalogue.components().values():
        if s.component(c.name, "enabled"):
            given += [(c.name, key, s.values[key]) for key in group_keys(c)
                      if s.values[key] != catalogue.setting(key).default]
    return given


def unknown_groups(hosts: list) -> list[str]:
    """Each group a user gave that no host of the inventory is in: its component would
    run on no host, and nothing would say so."""
    groups = sorted({g for h in hosts for g in h.groups})
    unknown: dict[tuple[str, str, str], list[str]] = {}
    for h in hosts:
        for component, key, group in given_groups(h):
            # `all` is every host to <component>_group (inventory.runs), no group to others
            every_host = group == EVERY_HOST and key == f"{component}_group"
            if group not in groups and not every_host:
                unknown.setdefault((component, key, group), []).append(h.name)
    return [unknown_group_message(names, component, key, group, groups)
            for (component, key, group), names in unknown.items()]


def unknown_group_message(host_names: list[str], component: str, key: str, group: str,
                          groups: list[str]) -> str:
    every_host = [EVERY_HOST] if key == f"{component}_group" else []
    choices = list(dict.fromkeys([*groups, *every_host]))
    close = difflib.get_close_matches(group, choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(repr(g) for g in choices) or "none"
    return (f"{hosts_named(host_names)}: {key} ({group!r}) names no group of the "
            f"inventory, so it places {component} on no host{hint}: fix the name (the "
            f"inventory's groups: {listed}), put hosts in that group, or leave it at its "
            f"default ({catalogue.setting(key).default!r})")


def hosts_named(names: list[str], shown: int = 3) -> str:
    """'host a', 'hosts a, b' or 'hosts a, b, c and 4 more'."""
    if len(names) == 1:
        return f"host {names[0]}"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"hosts {', '.join(names[:shown])}{more}"
