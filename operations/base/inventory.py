"""What a component module asks about the run: validated settings, secrets, other hosts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyinfra import host as current_host
from pyinfra import inventory

from operations.base import catalogue
from operations.base.catalogue import validate
from operations.base.component import MONITORING
from operations.base.schema import Settings, SettingsError

_validated: dict[str, Settings] = {}
_planned: set[tuple[str, str]] = set()


def first_plan(step: str, h=None) -> bool:
    """True the first time `step` is planned for host `h` in this run. For steps that
    several components share (service users, the readiness helper, Grafana's APT
    repository): planning one twice would show a change in --dry that the run, having
    made it once, would not make again."""
    key = ((current_host if h is None else h).name, step)
    if key in _planned:
        return False
    _planned.add(key)
    return True


def _data_source(h, key: str) -> str:
    """Where a key of host data came from, for error messages."""
    if key in (inventory.get_override_data() or {}):
        return "--data"
    if key in (getattr(h, "host_data", None) or {}):
        return "the inventory's host data"
    for group in h.groups:
        if key in (inventory.get_group_data(group) or {}):
            return f"group_data/{group}.py"
    return "group_data/all.py"


def validate_inventory() -> None:
    """Validate every host's data once, so one bad value anywhere stops the run before
    any operation is planned for any host. Called by our deploy.py, which owns all the
    host data: an unknown key there is an error. (A user's own deploy that imports a
    component gets lenient settings(): its own keys are ignored.)"""
    if _validated:
        return
    errors = []
    for h in inventory:
        try:
            _validated[h.name] = validate(h.name, h.data.dict(),
                                          source=lambda k, h=h: _data_source(h, k))
        except SettingsError as exc:
            errors.append(str(exc))
    if not errors:   # rules between hosts (ports, groups, sites, the Alertmanager cluster)
        for check in catalogue.inventory_checks():
            errors += check(list(inventory))
    if errors:
        _validated.clear()
        raise SettingsError("invalid deploy data:\n  " + "\n  ".join(errors))


def settings(h=None) -> Settings:
    h = current_host if h is None else h
    if h.name not in _validated:
        # reached without validate_inventory(): a user's own deploy imported a component
        _validated[h.name] = validate(h.name, h.data.dict(),
                                      source=lambda k: _data_source(h, k), strict=False)
    return _validated[h.name]


def runs(component: str, h=None) -> bool:
    """Does `component` run on host `h` (its group and its *_enabled setting)?"""
    c = catalogue.component(component)
    h = current_host if h is None else h
    s = settings(h)
    if not s.component(component, "enabled"):
        return False
    group = s.component(component, "group")
    return (group == "all" or group in h.groups or placed_beyond_group(c, s, h)
            or (group == MONITORING and standalone(h)))


def placed_beyond_group(c, s: Settings, h) -> bool:
    """Does host `h` run component `c` outside its group (a global Prometheus)?"""
    return bool(c.runs_also and c.runs_also(s, h))


def standalone(h) -> bool:
    """A one-host inventory (`pyinfra @local deploy.py` on a laptop) in none of the groups
    of the components that mark monitoring hosts: that host is its own monitoring host."""
    hosts = list(inventory)
    marking = [c for c in catalogue.components().values() if c.marks_monitoring_hosts]
    return len(hosts) == 1 and not any(
        settings(x).component(c.name, "group") in x.groups or placed_beyond_group(
            c, settings(x), x) for x in hosts for c in marking)


def hosts_running(component: str) -> list:
    """Every inventory host that runs `component` (also those outside --limit)."""
    return [h for h in inventory if runs(component, h)]


def address_of(h) -> str:
    """The address other hosts use to reach `h` (@local: this machine itself)."""
    if settings(h).scrape_address:
        return settings(h).scrape_address
    return "localhost" if h.name.startswith("@local") else h.name


EVERY_INTERFACE = ("0.0.0.0", "::", "")


def host_label(h) -> str:
    """The `host` label of a host's metrics and logs: its inventory name (@local: the
    address it is reached at)."""
    return address_of(h) if h.name.startswith("@") else h.name


def bind_address(component: str, h=None, s: Settings | None = None) -> str:
    """The address `component` binds to on host `h`. "auto": the address other hosts
    reach `h` at, when `h` has it on an interface (so an exporter on a host with a
    public and a private interface listens only where Prometheus scrapes it); else every
    interface (the scrape address is translated on the way: NAT, a proxy)."""
    listen = (s or settings(h)).component(component, "listen_address")
    if listen != "auto":
        return listen
    return local_address(h) or "0.0.0.0"


def local_address(h=None) -> str | None:
    """The address other hosts reach `h` at, as `h` has it on one of its interfaces
    (resolved on the host); None when it has not (NAT, a port forward)."""
    h = current_host if h is None else h
    reached_at = address_of(h)
    if reached_at == "localhost":
        return "127.0.0.1"
    from operations.base.facts import LocalAddressOf
    return h.get_fact(LocalAddressOf, address=reached_at)


def bracketed(address: str) -> str:
    """An address ready for ":port" (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def reach_address(component: str, h) -> str:
    """The address (bracketed) other hosts use for `component` on `h`."""
    listen = settings(h).component(component, "listen_address")
    return bracketed(address_of(h) if listen in (*EVERY_INTERFACE, "auto") else listen)


def endpoint(component: str, h) -> str:
    """host:port other hosts use for `component` on `h`."""
    return f"{reach_address(component, h)}:{settings(h).component(component, 'port')}"


def local_url(component: str, path: str, h=None) -> str:
    """URL of the component's HTTP endpoint as seen from its own host."""
    s = settings(h)
    listen = bind_address(component, h)
    address = "127.0.0.1" if listen in ("0.0.0.0", "") else "[::1]" if listen == "::" else listen
    return f"http://{bracketed(address)}:{s.component(component, 'port')}{path}"


# -- secrets ---------------------------------------------------------------------------------
_secrets_files: dict[str, dict[str, Any]] = {}


def _secrets_file(path: str) -> dict[str, Any]:
    if path not in _secrets_files:
        file = Path(path).expanduser()
        data = {}
        if file.is_file():
            import yaml
            loaded = yaml.safe_load(file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise SettingsError(f"{file}: expected a mapping of secret name -> value")
            data = {str(k): v for k, v in loaded.items()}
        _secrets_files[path] = data
    return _secrets_files[path]


def secret(name: str, purpose: str, h=None) -> str:
    """A secret's value: from the environment variable `name`, else from secrets_file."""
    value = os.environ.get(name)
    if value is None:
        value = _secrets_file(settings(h).secrets_file).get(name)
    if value in (None, ""):
        raise SettingsError(
            f"secret {name} (needed for {purpose}) is not set: export {name}=... or add "
            f"`{name}: ...` to {settings(h).secrets_file} (never commit that file)")
    return str(value)


def listen_address(component: str, h=None) -> str:
    """host:port for a --web.listen-address flag (IPv6 addresses bracketed)."""
    s = settings(h)
    return f"{bracketed(bind_address(component, h))}:{s.component(component, 'port')}"
