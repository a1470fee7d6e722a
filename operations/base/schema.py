"""Settings as data: the schema of one setting, coercion of given values to its type, and
the validated settings of one host. Which settings exist is the catalogue's business
(operations/base/catalogue.py); this module knows no component.

Values given with `pyinfra --data key=value` arrive as strings and are coerced by the
declared type ("false" is False); what does not fit is rejected with one error naming the
host, the key and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api.exceptions import PyinfraError

# Prometheus' own duration syntax: units largest first, each at most once.
DURATION_RE = re.compile(r"^(?!$)((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$|^0$")
SIZE_RE = re.compile(r"^(\d+)(B|KB|MB|GB|TB|PB|EB)$")
# what Go's time.ParseDuration takes of those units (flags of Alertmanager, cAdvisor,
# VictoriaMetrics)
GO_DURATION_RE = re.compile(r"(\d+(ms|s|m|h))+")
# a Prometheus label name
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# what Python's re accepts and Go's RE2 does not: look-around, back references,
# possessive and atomic groups
NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?>|[*+?}]\+")
# A release's number, as the file names take it: "v" is in the release templates where
# upstream's names carry one. A pre-release or build suffix counts as its release (as in
# every version check here).
VERSION_RE = re.compile(r"\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?")

# pyinfra's own connection and execution settings may appear in host data too.
PYINFRA_KEY_PREFIXES = ("ssh_", "winrm_", "docker_", "chroot_", "local_", "podman_",
                        "terraform_", "vagrant_", "_")


class SettingsError(PyinfraError, ValueError):
    """Bad deploy data: raised before any operation runs. As a PyinfraError, pyinfra
    shows it as one line naming the cause, without a traceback."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: str          # bool, int, str, duration, size, list, dict, choice
    default: Any
    help: str
    choices: tuple = ()
    optional: bool = False   # None allowed
    minimum: int | None = None
    maximum: int | None = None
    section: str = "general"


def secret_setting(name: str, holding: str, *, section: str,
                   default: str | None = None) -> Setting:
    """A setting naming the secret (environment or secrets_file) that holds `holding`;
    without a `default` it may be unset (no such secret)."""
    return Setting(name, "str", default, f"name of the secret holding {holding}",
                   optional=default is None, section=section)


# -- coercion ----------------------------------------------------------------------------
TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0"}


def _parse_structured(value: str) -> Any:
    import yaml
    return yaml.safe_load(value)


def coerce(setting: Setting, value: Any) -> Any:
    """Return `value` as the setting's type, or raise ValueError saying what is wrong."""
    if value is None or (setting.optional and value == ""):
        if setting.optional:
            return None
        raise ValueError("must be set")
    t = setting.type
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise ValueError(f"expected true/false, got {value!r}")
    if t == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = int(value) if isinstance(value, (int, str)) else None
        except ValueError:
            number = None
        if number is None:
            raise ValueError(f"expected a whole number, got {value!r}")
        if setting.minimum is not None and number < setting.minimum or (
                setting.maximum is not None and number > setting.maximum):
            raise ValueError(f"{number} is out of range {setting.minimum}..{setting.maximum}")
        return number
    if t == "choice" and isinstance(value, bool) and {"true", "false"} <= set(setting.choices):
        value = "true" if value else "false"
    if t in ("str", "choice", "duration", "size"):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
        if t == "choice" and value not in setting.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(setting.choices)}")
        if t == "duration" and not DURATION_RE.match(value):
            raise ValueError(f"{value!r} is not a duration like 30s, 5m, 12h, 30d")
        if t == "size" and not SIZE_RE.match(value):
            raise ValueError(f"{value!r} is not a size like 512MB or 10GB")
        return value
    if t in ("list", "dict"):
        if isinstance(value, str):
            try:
                value = _parse_structured(value)
            except Exception as exc:  # yaml's errors are many
                raise ValueError(f"could not parse {value!r} as a {t}: {exc}") from None
        want = list if t == "list" else dict
        if isinstance(value, tuple) and want is list:
            value = list(value)
        if not isinstance(value, want):
            raise ValueError(f"expected a {t}, got {type(value).__name__} {value!r}")
        return value
    raise AssertionError(f"unknown setting type {t}")


def is_pyinfra_key(key: str) -> bool:
    return key.startswith(PYINFRA_KEY_PREFIXES)


@dataclass
class Settings:
    """Validated settings of one host: attribute access, every key present."""

    host_name: str
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def component(self, name: str, key: str) -> Any:
        return self.values[f"{name}_{key}"]


def duration_seconds(value: str) -> float:
    """Seconds of a Prometheus (or Go) duration."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", value))


def is_go_duration(value: str) -> bool:
    """Does Go's time.ParseDuration take `value` (no d, w or y)?"""
    return bool(GO_DURATION_RE.fullmatch(value))


def version_tuple(version: str) -> tuple[int, ...]:
    """(major, minor, patch) of a version string, suffixes ignored."""
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def re2_problems(where: str, pattern: str) -> list[str]:
    """What is wrong with `pattern` as a regular expression of Go's RE2 syntax (a Go
    exporter's filter): Python's re parses the common subset the same way, and the
    constructs only Python accepts are refused by name."""
    if NOT_RE2.search(pattern):
        return [f"{where}: {pattern!r} uses look-around, a back reference or a "
                "possessive/atomic group, which Go's RE2 syntax has not"]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{where}: {pattern!r} is not a regular expression: {exc}"]
    return []
