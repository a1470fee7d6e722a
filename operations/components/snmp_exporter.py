"""snmp_exporter: network devices (switches, routers, access points) probed over SNMP from
the monitoring hosts; Prometheus asks it for each device listed in snmp_exporter_devices.

Its snmp.yml holds the modules (what to walk, how to name it) and the auths (how to log
in), apart since 0.23.0. The modules are upstream's generated ones: taken by name from the
snmp.yml that upstream's release archive carries (read on the controller from the
verified archive), or from a file the operator generated (snmp_exporter_modules_file;
Debian's package ships none, for licensing reasons). The auths are written from settings,
their communities and passwords from the secret store.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.api import deploy

from operations.base import artifacts, catalogue
from operations.base.component import Leaves, exporter
from operations.base.facts import PackageVersion
from operations.base.exporters import ExporterFile, exporter_service, no_home
from operations.base.install import debian_package, machine
from operations.base.inventory import listen_address, secret, settings
from operations.base.releases import promu_release
from operations.base.schema import LABEL_NAME_RE, Setting, SettingsError, version_tuple

NAME = "snmp_exporter"
CONFIG_DIR = "/etc/snmp_exporter"
CONFIG = f"{CONFIG_DIR}/snmp.yml"
# Prometheus' job probing the devices through the exporter
PROBE_JOB = "snmp"
OLDEST = "0.28.0"

# What snmp_exporter takes in an auth (config/config.go at v0.28.0 and v0.30.1: Auth and
# its UnmarshalYAML)
SECURITY_LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")
AUTH_PROTOCOLS = ("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES192", "AES192C", "AES256", "AES256C")
AUTH_KEYS = {"version", "community_secret", "username", "security_level", "auth_protocol",
             "password_secret", "priv_protocol", "priv_password_secret", "context_name"}
DEVICE_KEYS = {"target", "module", "modules", "auth", "labels"}
# [udp:// or tcp://]host[:port] (README at v0.30.1, "Running")
TARGET_RE = re.compile(r"((udp|tcp)://)?[A-Za-z0-9_.:\[\]-]+")
NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


def auth_problems(auths) -> list[str]:
    """What snmp_exporter would refuse in the auths, said before any host is touched."""
    errors = []
    for name, auth in auths.items():
        where = f"snmp_exporter_auths: {name!r}"
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            errors.append(f"{where}: an auth's name is letters, digits, '_', '.' or '-'")
            continue
        if not isinstance(auth, dict):
            errors.append(f"{where}: expected a mapping like {{version: 2, community_secret: "
                          "SNMP_COMMUNITY}}")
            continue
        unknown = sorted(set(auth) - AUTH_KEYS)
        if unknown:
            errors.append(f"{where}: unknown keys {unknown} (known: {sorted(AUTH_KEYS)})")
        version = auth.get("version", 2)
        if version not in (1, 2, 3):
            errors.append(f"{where}: version must be 1, 2 or 3, not {version!r}")
        elif version in (1, 2):
            if not auth.get("community_secret"):
                errors.append(f"{where}: SNMP v{version} needs community_secret (the name of "
                              "the secret holding the community)")
        else:
            errors += v3_problems(where, auth)
    return errors


def v3_problems(where: str, auth: dict) -> list[str]:
    errors = []
    level = auth.get("security_level")
    if level not in SECURITY_LEVELS:
        return [f"{where}: SNMP v3 needs security_level, one of {', '.join(SECURITY_LEVELS)}"]
    if not auth.get("username"):
        errors.append(f"{where}: SNMP v3 needs username")
    if level in ("authNoPriv", "authPriv"):
        if not auth.get("password_secret"):
            errors.append(f"{where}: {level} needs password_secret")
        if auth.get("auth_protocol") not in AUTH_PROTOCOLS:
            errors.append(f"{where}: {level} needs auth_protocol, one of "
                          f"{', '.join(AUTH_PROTOCOLS)}")
    if level == "authPriv":
        if not auth.get("priv_password_secret"):
            errors.append(f"{where}: authPriv needs priv_password_secret")
        if auth.get("priv_protocol") not in PRIV_PROTOCOLS:
            errors.append(f"{where}: authPriv needs priv_protocol, one of "
                          f"{', '.join(PRIV_PROTOCOLS)}")
    return errors


def device_modules(device: dict) -> list[str]:
    """The modules a device is walked with: `modules` (a list) or `module` (one name or
    several, comma-separated), else the default modules."""
    given = device.get("modules", device.get("module"))
    if given is None:
        return []
    if isinstance(given, str):
        return [m.strip() for m in given.split(",") if m.strip()]
    return list(given)


def device_problems(values: dict) -> list[str]:
    errors = []
    auths, modules = values["snmp_exporter_auths"], values["snmp_exporter_modules"]
    for i, device in enumerate(values["snmp_exporter_devices"]):
        where = f"snmp_exporter_devices[{i}]"
        if not isinstance(device, dict):
            errors.append(f"{where}: expected {{target, module(s), auth, labels}}, got "
                          f"{device!r}")
            continue
        target = device.get("target")
        if not isinstance(target, str) or not TARGET_RE.fullmatch(target):
            errors.append(f"{where}: target must be host or host:port (optionally "
                          f"udp:// or tcp:// first), got {target!r}")
            continue
        where = f"snmp_exporter_devices: {target}"
        unknown = sorted(set(device) - DEVICE_KEYS)
        if unknown:
            errors.append(f"{where}: unknown keys {unknown} (known: {sorted(DEVICE_KEYS)})")
        wanted = device_modules(device)
        if not all(isinstance(m, str) for m in wanted):
            errors.append(f"{where}: modules are names, got {wanted!r}")
        elif set(wanted) - set(modules):
            errors.append(f"{where}: modules {sorted(set(wanted) - set(modules))} are not in "
                          f"snmp_exporter_modules ({', '.join(modules)})")
        auth = device.get("auth")
        if auth not in auths:
            errors.append(f"{where}: auth {auth!r} is not one of snmp_exporter_auths "
                          f"({', '.join(map(str, auths)) or 'none given'})")
        labels = device.get("labels", {})
        if not isinstance(labels, dict) or not all(
                isinstance(k, str) and LABEL_NAME_RE.fullmatch(k) and not k.startswith("__")
                and isinstance(v, str) for k, v in labels.items()):
            errors.append(f"{where}: labels must map label names (letters, digits, _; not "
                          f"__ first) to strings, got {labels!r}")
    targets = [d.get("target") for d in values["snmp_exporter_devices"] if isinstance(d, dict)]
    twice = sorted({t for t in targets if isinstance(t, str) and targets.count(t) > 1})
    if twice:
        errors.append(f"snmp_exporter_devices: {', '.join(twice)} listed twice")
    return errors


def settings_problems(values: dict) -> list[str]:
    if not values["snmp_exporter_enabled"]:
        return []
    errors = []
    if not isinstance(values["snmp_exporter_auths"], dict) or not values["snmp_exporter_auths"]:
        errors.append("snmp_exporter_enabled needs snmp_exporter_auths: at least one auth "
                      "(snmp_exporter refuses a config without one)")
        return errors
    modules = values["snmp_exporter_modules"]
    if not modules or not all(isinstance(m, str) and NAME_RE.fullmatch(m) for m in modules):
        errors.append(f"snmp_exporter_modules must name at least one module, got {modules!r}")
        return errors
    errors += auth_problems(values["snmp_exporter_auths"]) + device_problems(values)
    if (values["snmp_exporter_install_method"] == "package"
            and not values["snmp_exporter_modules_file"]):
        errors.append("snmp_exporter_install_method 'package' needs "
                      "snmp_exporter_modules_file: Debian's package ships no modules "
                      "(licensing); generate an snmp.yml with the generator, or use the "
                      "archive method (its snmp.yml carries upstream's modules)")
    return errors


# -- what Prometheus scrapes ----------------------------------------------------------------
def probe_jobs(s, exporter: str) -> list[dict]:
    """Prometheus' job probing every device of snmp_exporter_devices through the
    exporter at `exporter` (host:port), relabelled as upstream's README shows: the device
    becomes the `target` parameter and the `instance` label. Each device's modules and
    auth travel as its __param_* labels."""
    if not s.snmp_exporter_devices:
        return []
    configs = []
    for device in s.snmp_exporter_devices:
        labels = {"__param_module": ",".join(device_modules(device)
                                             or s.snmp_exporter_modules),
                  "__param_auth": device["auth"], **device.get("labels", {})}
        configs.append({"targets": [device["target"]], "labels": labels})
    return [{
        "job_name": PROBE_JOB, "metrics_path": "/snmp",
        "static_configs": configs,
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": exporter},
        ],
    }]


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="SNMP probes of network devices (snmp_exporter_devices)",
    port=9116, group="monitoring", enabled=False,
    scrape_job=("snmp_exporter", "the SNMP exporter's own metrics"),
    checks=settings_problems,
    probe_jobs=probe_jobs,
    release=promu_release(
        "prometheus/snmp_exporter", NAME, version="0.30.1", oldest=OLDEST,
        oldest_reason="the snmp.yml written here keeps auths apart from modules (0.23.0, "
                      "CHANGELOG.md and auth-split-migration.md) and walks the system module "
                      "(0.28.0 moved sysUpTime there); Debian 12's 0.21.0 reads neither. "
                      "0.28.0 is also the oldest build the suite runs, Debian 13's",
        proven=[("0.28.0", "trixie"), ("0.30.1", "sid")],
        debian_package="prometheus-snmp-exporter",
        notes="v0.30.1: .promu.yml puts snmp.yml, LICENSE and NOTICE in the archive beside the "
              "binary; main.go has --config.file (repeatable), --dry-run (parse the config and "
              "exit; present since 0.14.0), /-/reload and SIGHUP (reload), /-/healthy, "
              "/snmp?target=&module=&auth= (module may list several, comma-separated; README "
              "'Multi-Module Handling'); config/config.go: auths {community, security_level, "
              "username, password, auth_protocol, priv_protocol, priv_password, context_name, "
              "version}, yaml UnmarshalStrict. snmp.yml: modules if_mib and system (system "
              "is in 0.28.0's and 0.30.1's, not 0.23.0's). Debian's package ships no modules "
              "(its /etc/prometheus/snmp.yml says so: licensing). The arm64 sha256 (a12d159a...) was "
              "seen in one source only and is not pinned; armv7/armv6 are not pinned."),
    checksums={
        "snmp_exporter-0.30.1.linux-amd64.tar.gz": "026aac4e23447ed593a783eccab9089cd41d77d17c9d2a0ab84398e45a0bb93e",  # x2: an snmp_exporter 0.30.1 RPM spec (packages@thesystem.dev); a bash artifact pin table of a homelab installer
    },
    settings=(
        Setting("snmp_exporter_devices", "list", [], section=NAME, help=(
            "devices Prometheus probes through the exporter: [{target: host or host:port "
            "(udp:// or tcp:// first for another transport), module: name or "
            "modules: [names] (default: all of snmp_exporter_modules), auth: a name of "
            "snmp_exporter_auths, labels: {name: value}}]")),
        Setting("snmp_exporter_auths", "dict", {}, section=NAME, help=(
            "how to log in to the devices, by name: {version: 2, community_secret: NAME} "
            "or {version: 3, username, security_level: noAuthNoPriv|authNoPriv|authPriv, "
            "auth_protocol: MD5|SHA|SHA224|SHA256|SHA384|SHA512, password_secret: NAME, "
            "priv_protocol: DES|AES|AES192|AES256|..., priv_password_secret: NAME, "
            "context_name}; *_secret name secrets (environment or secrets_file), written "
            "only into snmp.yml (0640)")),
        Setting("snmp_exporter_modules", "list", ["if_mib", "system"], section=NAME, help=(
            "modules written into snmp.yml, taken by name from the snmp.yml of the release "
            "archive (upstream's generated modules) or of snmp_exporter_modules_file")),
        Setting("snmp_exporter_modules_file", "str", None, optional=True, section=NAME, help=(
            "controller path of an snmp.yml made with snmp_exporter's generator to take the "
            "modules from instead (needed by the package method: Debian ships no modules)")),
    ),
)


# its service user has no data folder
home = no_home


# -- the config -------------------------------------------------------------------------
def modules_source(s) -> tuple[str, str]:
    """(where the modules come from, its text): the operator's generated file, else the
    snmp.yml of the verified release archive on the controller."""
    if s.snmp_exporter_modules_file:
        path = Path(s.snmp_exporter_modules_file).expanduser()
        if not path.is_file():
            raise SettingsError(f"snmp_exporter_modules_file: {path} does not exist on the "
                                "controller")
        return str(path), path.read_text()
    artifact, folder = artifacts.prepare(
        catalogue.release_of(NAME), s.snmp_exporter_version, machine(), s.artifact_mirror,
        s.artifact_checksums, s.artifact_cache_dir,
        s.artifact_checksums_from_release)
    path = folder / "snmp.yml"
    if not path.is_file():
        raise SettingsError(f"the snmp_exporter {s.snmp_exporter_version} archive "
                            f"({artifact.file_name}) carries no snmp.yml to take the modules "
                            "from; set snmp_exporter_modules_file")
    return f"the snmp.yml of {artifact.file_name}", path.read_text()


def pick_modules(wanted: list[str], where: str, text: str) -> dict:
    """The modules named `wanted` from the snmp.yml `text`, in that order."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"snmp_exporter modules: {where} is not valid YAML: {exc}") from None
    found = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        raise SettingsError(f"snmp_exporter modules: {where} has no `modules:` mapping")
    missing = [m for m in wanted if m not in found]
    if missing:
        raise SettingsError(f"snmp_exporter_modules: {', '.join(missing)} not in {where} "
                            f"(it has: {', '.join(sorted(found))})")
    return {m: found[m] for m in wanted}


def auth_entry(name: str, auth: dict, h=None) -> tuple[dict, list[str]]:
    """One auth of snmp.yml, its secrets read from the secret store; and those values."""
    version = auth.get("version", 2)
    entry: dict = {"version": version}
    values = []

    def from_store(key: str, field_name: str) -> None:
        value = secret(auth[key], f"the snmp_exporter auth {name!r} ({field_name})", h)
        entry[field_name] = value
        values.append(value)

    if version in (1, 2):
        from_store("community_secret", "community")
    else:
        entry["security_level"] = auth["security_level"]
        entry["username"] = auth["username"]
        if auth["security_level"] != "noAuthNoPriv":
            entry["auth_protocol"] = auth["auth_protocol"]
            from_store("password_secret", "password")
        if auth["security_level"] == "authPriv":
            entry["priv_protocol"] = auth["priv_protocol"]
            from_store("priv_password_secret", "priv_password")
    if auth.get("context_name"):
        entry["context_name"] = auth["context_name"]
    return entry, values


def config_content(s, modules: dict, h=None) -> tuple[str, list[str]]:
    """snmp.yml (the auths, then the modules), and the secret values it holds."""
    auths, values = {}, []
    for name, auth in s.snmp_exporter_auths.items():
        auths[name], found = auth_entry(name, auth, h)
        values += found
    text = ("# Managed by monstack (pyinfra): changes here are overwritten on the next "
            "deploy.\n# Modules: snmp_exporter's generated ones (see snmp_exporter_modules).\n"
            + yaml.safe_dump({"auths": auths, "modules": modules}, sort_keys=False,
                             default_flow_style=False, width=1000))
    return text, values


def check_package_version(s) -> None:
    """The package method installs what the distribution ships: Debian 12's 0.21.0 cannot
    read this snmp.yml; say so before anything changes."""
    if s.snmp_exporter_install_method != "package":
        return
    package = debian_package(NAME)
    version = host.get_fact(PackageVersion, package=package)
    if version and version_tuple(version) < version_tuple(OLDEST):
        raise SettingsError(
            f"host {host.name}: snmp_exporter_install_method 'package' installs {package} "
            f"{version}, older than {OLDEST}, the oldest snmp_exporter monstack can configure "
            "(its snmp.yml keeps auths apart from modules); use "
            "snmp_exporter_install_method = 'archive'")


@deploy("snmp_exporter")
def install():
    s = settings()
    check_package_version(s)
    modules = pick_modules(s.snmp_exporter_modules, *modules_source(s))
    content, secrets = config_content(s, modules)
    exporter_service(
        NAME, home(s), CONFIG_DIR, ready_path="/-/healthy",
        folders=[(CONFIG_DIR, "root", NAME, "0750")],
        file=ExporterFile(
            name="Write snmp.yml (checked by snmp_exporter --dry-run)", dest=CONFIG,
            content=content, validate="{program} --dry-run --config.file={path}",
            secret=True, secrets=secrets),
        description="Prometheus snmp_exporter (network devices over SNMP)",
        documentation="https://github.com/prometheus/snmp_exporter",
        reloadable=True,
        args=[f"--config.file={CONFIG}", f"--web.listen-address={listen_address(NAME)}"],
    )
