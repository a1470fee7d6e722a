"""What the deploy knows of a component before it plans anything: its catalogue row.

Each component module declares one `Component` (operations/components/); the stack
(operations/stack.py) hands them, in deploy order, to the catalogue. The shared base reads
them from there and never imports a component.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from operations.base.schema import Setting

INSTALL_METHODS = ("package", "archive")
# The settings every component has, <name>_<suffix>
STANDARD_SUFFIXES = ("_enabled", "_install_method", "_version", "_port", "_listen_address",
                     "_group", "_extra_flags", "_purge_data")
MONITORING = "monitoring"
# How a backup is taken, verified and restored (templates/backup/monstack-backup):
# "tsdb-snapshot": a Prometheus TSDB snapshot over its admin API (verified by promtool);
# "files": named files of the data folder (verified by their sha256);
# "sqlite": a consistent SQLite copy (integrity check) and every dashboard as JSON;
# "tar": named folders (relative to the data folder, or absolute), one tar archive
BACKUP_METHODS = ("tsdb-snapshot", "files", "sqlite", "tar")


@dataclass(frozen=True)
class Backup:
    """What a component backs up (operations/base/backups.py plans its timer, restore.py
    restores it). The kind is the component's name."""

    method: str
    # what is taken: file names ("files"), the database file ("sqlite"), folders ("tar"),
    # relative to the data folder
    paths: tuple[str, ...] = ()
    # OnCalendar of its timer by default (setting backup_<kind>_schedule)
    schedule: str = "daily"
    # the setting naming its data folder
    data_dir_setting: str = ""
    # Debian packages its backup script needs on the host
    packages: tuple[str, ...] = ()
    # the backup script reaches the service over the network (Prometheus' admin API)
    network: bool = False
    # the script writes in the data folder (the snapshot Prometheus made, SQLite's locks)
    writes_data_dir: bool = False
    # extra environment of the script: (host settings) -> {name: value}
    environment: Callable[[Any], dict[str, str]] | None = None
    # restore.py can put it back (stop, move the data aside, restore, start)
    restorable: bool = True
    # where restore.py asks whether the service is ready again
    ready_path: str = "/-/ready"


@dataclass(frozen=True)
class Leaves:
    """What the deploy put on a host for a component besides what the base derives from
    its catalogue row (its unit /etc/systemd/system/<name>.service, its release's programs
    in /usr/local/bin carrying our program stamp, its Debian package, its service user and
    home): removed when the component no longer runs there (operations/base/removal.py)."""

    # config folders and files: removed with it
    config: tuple[str, ...] = ()
    # data folders: removed only with <name>_purge_data = True
    data: tuple[str, ...] = ()
    # files its archive install put beside its programs (support files): removed with them
    program_files: tuple[str, ...] = ()
    # (link, target prefix): symbolic links to its programs, removed while they point there
    links: tuple[tuple[str, str], ...] = ()
    # (folder, glob, marker): folders of `folder` matching `glob` holding `marker` (an
    # unpacked release tree): removed with its programs
    trees: tuple[tuple[str, str, str], ...] = ()
    # its Debian packages under the package method, when not its release's debian_package
    packages: tuple[str, ...] | None = None
    # the packaged units the deploy masked, when not derived (release's debian_package)
    packaged_units: tuple[str, ...] | None = None
    # unit files of its package diverted by the deploy (dpkg-divert --package monstack)
    diversions: tuple[str, ...] = ()
    # (path, shell): run after `path` was removed (nginx: check and reload)
    after_removing: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Component:
    """One component of the stack."""

    name: str
    # what it is, for the settings' help ("install <name> (<help>)")
    help: str
    # TCP port it listens on
    port: int
    # inventory group whose hosts run it ("all": every host)
    group: str
    enabled: bool = True
    # "auto": only the address Prometheus scrapes it at; "0.0.0.0": every interface
    listen_address: str = "0.0.0.0"
    # its int settings naming further TCP ports it listens on, at its listen address
    # (no two programs of a host may share a port: operations/base/placement.py)
    extra_ports: tuple[str, ...] = ()
    # ports it takes only under some of its settings, at an address of their own:
    # (settings) -> [(int setting naming the port, listen address)]
    extra_listeners: Callable[[Any], list[tuple[str, str]]] | None = None
    # ports its config fixes, not a setting: (what it is, address, port)
    fixed_listeners: tuple[tuple[str, str, int], ...] = ()
    install_method: str = "archive"
    # why the package method is refused, when no package of it exists anywhere (the
    # catalogue's check says so before anything changes)
    no_package: str | None = None
    install_help: str = ("`archive`: upstream release archive (via artifact_mirror); "
                         "`package`: the distribution's package")
    version_help: str = "upstream version for the archive method (pinned, never 'latest')"
    # upstream's release artifacts (keys: see operations/base/releases.py); None when
    # the component shares another's entry, named by `release_name`
    release: dict[str, Any] | None = None
    release_name: str | None = None
    # sha256 of upstream's files, by file name, each with its sources in a comment
    checksums: dict[str, str] = field(default_factory=dict)
    # its own settings beyond the standard ones (section: its name, or a shared one)
    settings: tuple[Setting, ...] = ()
    # rules between one host's settings: values -> errors
    checks: Callable[[dict[str, Any]], list[str]] | None = None
    # rules that only the whole inventory shows wrong: hosts -> errors
    inventory_checks: Callable[[list], list[str]] | None = None
    # its own settings beyond <name>_group that name an inventory group
    group_settings: tuple[str, ...] = ()
    # does a host run it beyond its group? (Settings, host) -> bool
    runs_also: Callable[[Any, Any], bool] | None = None
    # its group names the monitoring hosts: a one-host inventory in none of them is its
    # own monitoring host (`pyinfra @local deploy.py`)
    marks_monitoring_hosts: bool = False
    # Prometheus' job scraping it on every host that runs it: (job name, what it measures)
    scrape_job: tuple[str, str] | None = None
    # the int setting naming the port Prometheus scrapes it at, when its metrics are not
    # on <name>_port (Jaeger: the collector's telemetry port, not its query API)
    scrape_port: str | None = None
    # Prometheus' jobs probing other targets through it (network devices through the SNMP
    # exporter): (the Prometheus host's settings, host:port of the exporter it uses, the
    # first by name of its site) -> scrape configs; Prometheus adds its scrape client
    # (TLS, login) when the exporter's endpoint is protected
    probe_jobs: Callable[[Any, str], list[dict]] | None = None
    # HTTP endpoint protected by TLS and basic auth: "web.yml" (the exporter-toolkit's
    # web config) or "flags" (its own command-line flags); None: not protected
    protected_by: str | None = None
    # a program the host already runs serves its metrics: the deploy installs nothing (no
    # release, service user or unit), so it has no _install_method, _version or
    # _extra_flags settings; Prometheus scrapes it on every host that runs it
    scrape_only: bool = False
    # what it leaves on a host beyond what the base derives: a Leaves, or (settings) ->
    # Leaves where settings move it; every installed component declares it
    # (tests/unit/test_component_removal.py)
    leaves: Leaves | Callable[[Any], Leaves] | None = None
    # its hosts do the same work as one HA group (an Alertmanager cluster, the Prometheus
    # replicas of one site): host -> how many hosts its group has (1: alone). A running
    # member of a group of 2+ is restarted one host at a time, each ready before the next
    # goes down (operations/base/services.py)
    ha_group: Callable[[Any], int] | None = None
    # how a member shows that it is in its group, beyond its readiness URL: (HTTP path,
    # an extended regex its answer matches when it is, one its answer matches once per
    # member of the group, one its answer matches when it runs in no group at all);
    # asked of a member before its restart (is the group whole, or is it alone?) and
    # after it (has it rejoined every member?)
    rejoined: tuple[str, str, str, str] | None = None
    # what its backup timer takes (operations/base/backups.py); None: no data of its own
    # (its config folder /etc/<name> is in the "configs" backup all the same)
    backup: Backup | None = None

    @property
    def release_key(self) -> str:
        """The release-table entry it is installed from."""
        return self.release_name or self.name

    def standard_settings(self, default_version: str | None) -> list[Setting]:
        name = self.name
        every = [
            Setting(f"{name}_enabled", "bool", self.enabled,
                    f"install {name} ({self.help})", section=name),
            Setting(f"{name}_install_method", "choice", self.install_method,
                    self.install_help, choices=INSTALL_METHODS, section=name),
            Setting(f"{name}_version", "str", default_version, self.version_help,
                    section=name),
            Setting(f"{name}_port", "int", self.port, "TCP port it listens on",
                    minimum=1, maximum=65535, section=name),
            Setting(f"{name}_listen_address", "str", self.listen_address,
                    "IP address it binds to (not a name): `auto` = only the address other "
                    "hosts reach this host at (see \"Listen addresses\"); `0.0.0.0` or `::` "
                    "= every interface",
                    section=name),
            Setting(f"{name}_group", "str", self.group,
                    "inventory group whose hosts run it ('all': every host); a group no host "
                    "is in is refused, unless it is the default", section=name),
            Setting(f"{name}_extra_flags", "list", [],
                    "extra command-line flags, appended as given", section=name),
            Setting(f"{name}_purge_data", "bool", False,
                    "when it is disabled on a host that ran it: remove its data folders and "
                    "service user too (its unit, programs and config always go)",
                    section=name),
        ]
        if self.backup:
            every.append(backup_schedule_setting(name, self.backup.schedule, f"{name}'s data"))
        if self.scrape_only:
            installs = {f"{name}_{s}" for s in ("install_method", "version", "extra_flags",
                                                 "purge_data")}
            return [s for s in every if s.name not in installs]
        return every


def backup_schedule_setting(kind: str, default: str, what: str) -> Setting:
    """backup_<kind>_schedule: when its backup timer runs."""
    return Setting(f"backup_{kind}_schedule", "str", default, optional=True, section="backups",
                   help=f"when the backup of {what} runs (systemd OnCalendar: `daily`, "
                        "`weekly`, `Sun *-*-* 03:00`; checked on the controller, then by "
                        "`systemd-analyze calendar` on the host); unset (None): no backup "
                        "of this kind")


def exporter(name: str, **fields: Any) -> Component:
    """The catalogue row of an exporter (planned by exporter_service,
    operations/base/exporters.py): like every exporter here it listens only at the address
    Prometheus scrapes it at (`listen_address="auto"`) and protects its endpoint with the
    exporter-toolkit's web config (`protected_by="web.yml"`), unless `fields` say
    otherwise."""
    return Component(name=name, **{"listen_address": "auto", "protected_by": "web.yml",
                                   **fields})
