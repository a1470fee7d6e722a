"""systemd_exporter: the state and restarts of every systemd unit, on every host that
enables it, from prometheus-community/systemd_exporter.

It asks systemd over the system D-Bus (unprivileged: systemd's D-Bus policy lets any user
read units and their properties), so its unit keeps the sandbox of every service here
and only needs AF_UNIX to reach /run/dbus/system_bus_socket. Upstream's repository has no
systemd unit at v0.7.0 (README.md, "User privileges": it needs the system D-Bus and, for
the file-descriptor metrics only, other processes' /proc; its Kubernetes example mounts
/run/systemd and /proc), and this deploy enables neither /proc nor root.

Debian ships it only from sid on (prometheus-systemd-exporter 0.7.0): the package method
on Debian 12 and 13 is refused, naming that cause.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import OsRelease

from operations.base.component import Leaves, exporter
from operations.base.exporters import exporter_service, exporter_unit, no_home
from operations.base.inventory import listen_address, settings
from operations.base.releases import promu_release
from operations.base.schema import Setting, SettingsError, re2_problems
from operations.base.services import Unit

NAME = "systemd_exporter"
CONFIG_DIR = "/etc/systemd_exporter"   # only for web.yml (TLS, login)
PACKAGE = "prometheus-systemd-exporter"
# the first Debian release with the package: none yet (it is in sid only); a numbered
# Debian release below this one has none
FIRST_DEBIAN_WITH_PACKAGE = 14


def settings_problems(values: dict) -> list[str]:
    """The unit filters are regular expressions of Go's RE2 syntax (Python's re parses
    the common subset alike; what only Python accepts is refused by name)."""
    return [problem
            for key in ("systemd_exporter_unit_include", "systemd_exporter_unit_exclude")
            for problem in re2_problems(key, values[key])]


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="state and restarts of every systemd unit",
    port=9558, group="all", enabled=False,
    scrape_job=("systemd", "systemd units"),
    checks=settings_problems,
    install_help=("`archive`: upstream release archive (via artifact_mirror; no sha256 is "
                  "pinned: give it in artifact_checksums); `package`: the distribution's "
                  "package, which Debian has only from sid on (not in Debian 12 or 13)"),
    release=promu_release(
        "prometheus-community/systemd_exporter", NAME, version="0.7.0", oldest="0.7.0",
        oldest_reason="the only build the suite runs, Debian sid's (Debian 12 and 13 have none)",
        proven=[("0.7.0", "sid")],
        debian_package=PACKAGE,
        notes="promu (v0.7.0:.promu.yml, crossbuild platforms linux, which promu expands to its "
              "default linux platforms, armv6 and armv7 among them (prometheus/promu "
              "cmd/crossbuild.go); tarball with LICENSE and NOTICE). Flags at v0.7.0 (systemd/systemd.go, main.go): "
              "--systemd.collector.unit-include / unit-exclude (RE2; exclude default "
              "'.+\\.(device)'), --systemd.collector.enable-restart-count (systemd 235+), "
              "--web.listen-address (default :9558), --web.config.file. No sha256 of any "
              "release archive was found in two public sources: none is pinned, so the "
              "archive method needs artifact_checksums (from upstream's sha256sums.txt). "
              "Debian package: prometheus-systemd-exporter, "
              "sid only (0.7.0)."),
    settings=(
        Setting("systemd_exporter_unit_include", "str", ".+", section="systemd_exporter",
                help="regular expression (RE2) of the units it reports"),
        Setting("systemd_exporter_unit_exclude", "str", r".+\.(device|scope)",
                section="systemd_exporter", help=(
                    "regular expression (RE2) of the units it leaves out (default: devices, "
                    "as upstream, and scopes: one per login session, many short-lived "
                    "series)")),
    ),
)


def package_refusal(os_release: dict) -> str | None:
    """Why this host cannot use the package method (None: it can try), from its
    /etc/os-release (pyinfra's OsRelease fact)."""
    if os_release.get("id") != "debian":
        return None
    version = os_release.get("version_id", "")
    if version.isdigit() and int(version) < FIRST_DEBIAN_WITH_PACKAGE:
        codename = os_release.get("version_codename") or "?"
        return (f"systemd_exporter_install_method = 'package': Debian {version} ({codename}) "
                f"has no {PACKAGE} package (Debian ships it only in sid/unstable, 0.7.0); "
                "use systemd_exporter_install_method = 'archive' (give its sha256 in "
                "artifact_checksums), or set systemd_exporter_enabled = False")
    return None


def unit_fields(s) -> dict:
    """Its unit but for the program and the flags of its TLS and login (exporter_unit)."""
    return dict(
        description="Prometheus systemd_exporter (systemd units)",
        documentation="https://github.com/prometheus-community/systemd_exporter",
        args=[f"--web.listen-address={listen_address(NAME)}",
              f"--systemd.collector.unit-include={s.systemd_exporter_unit_include}",
              f"--systemd.collector.unit-exclude={s.systemd_exporter_unit_exclude}",
              # feeds the SystemdUnitRestartingOften alert
              "--systemd.collector.enable-restart-count"],
        # the system D-Bus socket (/run/dbus/system_bus_socket) is AF_UNIX, in the
        # default families; connecting to it needs no write access to /run
    )


def unit(s, binary: str, web_flags: list[str]) -> Unit:
    return exporter_unit(NAME, binary, web_flags, **unit_fields(s))


# its service user has no data folder
home = no_home


@deploy("systemd_exporter")
def install():
    s = settings()
    if s.systemd_exporter_install_method == "package":
        refusal = package_refusal(host.get_fact(OsRelease) or {})
        if refusal:
            raise SettingsError(f"host {host.name}: {refusal}")
    exporter_service(NAME, home(s), CONFIG_DIR, **unit_fields(s))
