"""The catalogue: every component in deploy order, every setting, every release entry,
and the validation of one host's data against them.

operations/stack.py defines it once (`define`), from the components' own declarations;
the shared base reads it here at call time, so it never imports a component.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from operations.base.addresses import listen_address_problem
from operations.base.component import STANDARD_SUFFIXES, Component
from operations.base.schema import (VERSION_RE, Setting, Settings, SettingsError, coerce,
                                    is_pyinfra_key, version_tuple)

_components: dict[str, Component] = {}
_settings: list[Setting] = []
_by_name: dict[str, Setting] = {}
_releases: dict[str, dict[str, Any]] = {}
_checksums: dict[str, str] = {}
_checks: list[Callable[[dict[str, Any]], list[str]]] = []
_inventory_checks: list[Callable[[list], list[str]]] = []


def define(general: list[Setting], components: list[Component],
           general_checks: Callable[[dict[str, Any]], list[str]],
           general_inventory_checks: list[Callable[[list], list[str]]] = ()) -> None:
    """Fill the catalogue: the stack's general settings and checks, then its components
    in deploy order, each with its standard settings, its own and its release entry.
    `general_inventory_checks`: rules between hosts that concern every component (what
    runs where), checked before the components' own."""
    if _components:
        return
    for c in components:
        if c.release is not None:
            _releases[c.release_key] = c.release
        _checksums.update(c.checksums)
    settings = list(general)
    for c in components:
        _components[c.name] = c
        settings += c.standard_settings(
            None if c.scrape_only else _releases[c.release_key]["version"])
        settings += c.settings
    names = [s.name for s in settings]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"settings declared twice: {duplicates}"
    _settings.extend(settings)
    _by_name.update({s.name: s for s in settings})
    _checks.extend([version_problems, package_problems, listen_address_problems,
                    general_checks,
                    *(c.checks for c in components if c.checks)])
    _inventory_checks.extend([*general_inventory_checks,
                              *(c.inventory_checks for c in components if c.inventory_checks)])


def _defined() -> None:
    if not _components:
        raise RuntimeError("the catalogue is empty: import operations.stack first "
                           "(it defines the components)")


def components() -> dict[str, Component]:
    """Every component, by name, in deploy order."""
    _defined()
    return _components


def installed_components() -> dict[str, Component]:
    """The components the deploy installs (all but the scrape-only ones), in deploy
    order: those with a release, a version and an install method."""
    return {n: c for n, c in components().items() if not c.scrape_only}


def component(name: str) -> Component:
    if name not in components():
        raise SettingsError(f"unknown component {name!r}")
    return _components[name]


def settings_schema() -> list[Setting]:
    _defined()
    return _settings


def settings_by_name() -> dict[str, Setting]:
    _defined()
    return _by_name


def setting(name: str) -> Setting | None:
    _defined()
    return _by_name.get(name)


def releases() -> dict[str, dict[str, Any]]:
    """The release table: entry name -> upstream's artifacts of that release."""
    _defined()
    return _releases


def checksums() -> dict[str, str]:
    """Pinned sha256 of upstream's files, by file name."""
    _defined()
    return _checksums


def inventory_checks() -> list[Callable[[list], list[str]]]:
    """The rules between hosts (hosts -> errors): the general ones, then each
    component's own, in deploy order."""
    _defined()
    return _inventory_checks


def release_of(name: str) -> str:
    """The release-table entry a component is installed from (the VictoriaMetrics
    cluster's three components share one tarball); any other name is its own entry."""
    c = components().get(name)
    return c.release_key if c else name


def default_version(name: str) -> str:
    return releases()[release_of(name)]["version"]


# -- validation -------------------------------------------------------------------------
def validate(host_name: str, data: dict[str, Any],
             source: Callable[[str], str] | None = None, strict: bool = True) -> Settings:
    """Check one host's data against the schema; return its Settings.

    `data` holds only the keys the user gave (group_data, host data, --data); `source`
    names where a key came from, for the error message. Not `strict`: keys that are not
    settings are ignored (a user's own deploy importing our components has data of its
    own); ours are still checked."""
    errors = []
    values = {s.name: s.default for s in settings_schema()}
    for key, value in data.items():
        if is_pyinfra_key(key):
            continue
        # where it came from, asked only for an error (every host's every key otherwise)
        where = lambda: f" (from {source(key)})" if source else ""   # noqa: E731
        found = _by_name.get(key)
        if found is None and not strict:
            continue
        if found is None:
            errors.append(f"unknown setting {key!r}{where()}{suggestion(key)}")
            continue
        try:
            values[key] = coerce(found, value)
        except ValueError as exc:
            errors.append(f"{key}{where()}: {exc}")
    if not errors:
        errors += cross_checks(values)
    if errors:
        raise SettingsError(f"host {host_name}: " + "; ".join(errors))
    return Settings(host_name, values)


def cross_checks(values: dict[str, Any]) -> list[str]:
    """Rules between settings, which the programs would otherwise only report on the
    host: the versions' floors, the general ones, then each component's own."""
    errors: list[str] = []
    for check in _checks:
        errors += check(values)
    return errors


def suggestion(key: str) -> str:
    """What an unknown key was probably meant to be."""
    names = components()
    for suffix in STANDARD_SUFFIXES:
        name = key[: -len(suffix)]
        if key.endswith(suffix) and name not in names:
            # a setting of that shape that is no component's (prometheus_federate_group)
            near = difflib.get_close_matches(key, _by_name, n=1, cutoff=0.85)
            if near and not any(near[0] == f"{c}{suffix}" for c in names):
                return f" (did you mean {near[0]!r}?)"
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            hint = f"did you mean {close[0] + suffix!r}? " if close else ""
            return (f" ({hint}unknown component {name!r}; components: "
                    f"{', '.join(names)})")
    close = difflib.get_close_matches(key, _by_name, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- floors: the oldest version of each component the deploy can configure --------------
def floor_of(name: str) -> tuple[str, str]:
    """The oldest version of component `name` the deploy can configure, and why."""
    release = releases()[release_of(name)]
    return release["oldest"], release["oldest_reason"]


def version_is_pinned(values: dict[str, Any], name: str) -> bool:
    """Does <name>_version choose what is installed? The archive method's release; the
    package method's too for Grafana's repository (the package of that version), while a
    distribution's package is whatever the distribution ships."""
    return (values[f"{name}_install_method"] == "archive"
            or "deb_version" in releases()[release_of(name)])


def version_problems(values: dict[str, Any]) -> list[str]:
    """Each <component>_version that is not a version, or is older than its floor."""
    errors = []
    for name in installed_components():
        key = f"{name}_version"
        version = values[key]
        if not VERSION_RE.fullmatch(version):
            hint = ("drop the leading 'v': the file names add it where upstream's carry one"
                    if VERSION_RE.fullmatch(version[1:]) and version[0] in "vV"
                    else "pinned, never 'latest'")
            errors.append(f"{key} ({version!r}) is not a version like "
                          f"{default_version(name)} ({hint})")
            continue
        oldest, why = floor_of(name)
        if version_is_pinned(values, name) and version_tuple(version) < version_tuple(oldest):
            errors.append(f"{key} {version} is older than {oldest}, the oldest {name} "
                          f"monstack can configure (reason: {why}); use {oldest} or newer")
    return errors


def package_problems(values: dict[str, Any]) -> list[str]:
    """Each <component>_install_method = 'package' of a component that has no package."""
    return [f"{name}_install_method = 'package': {c.no_package}"
            for name, c in installed_components().items()
            if c.no_package and values[f"{name}_install_method"] == "package"]


# -- listen addresses -------------------------------------------------------------------
def listen_address_problems(values: dict[str, Any]) -> list[str]:
    """Each <component>_listen_address that is no address a program can bind to."""
    found = (listen_address_problem(f"{name}_listen_address", values[f"{name}_listen_address"])
             for name in components())
    return [problem for problem in found if problem]
