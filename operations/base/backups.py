"""Backups: a systemd timer per kind of data a host holds, each running the backup script
(templates/backup/monstack-backup) that writes, verifies, keeps backup_keep copies and
reports node_exporter textfile metrics; restore.py puts one back.

Each component declares what it backs up (`Component.backup`, its kind is its name);
"configs" is every running component's /etc/<name>. Planned from facts gathered before
execution: --dry shows what the run does, a second run changes nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import server

from operations.base import catalogue
from operations.base.component import Backup
from operations.base.files import stages_beside, validated_file
from operations.base.install import apt_install, directory, put_files
from operations.base.inventory import first_plan, runs, settings
from operations.base.templates import REPO, render

SCRIPT = "/usr/local/lib/monstack/monstack-backup"
UNIT_DIR = "/etc/systemd/system"
PREFIX = "monstack-backup-"
CONFIGS = "configs"
# the deploy's own files beside the components' /etc folders (CA, readiness login)
MONSTACK_ETC = "/etc/monstack"


def unit_name(kind: str) -> str:
    return f"{PREFIX}{kind}"


@dataclass
class Kind:
    """One kind of backup on one host: what its timer's service runs."""

    kind: str
    backup: Backup
    schedule: str
    data_dir: str
    environment: dict[str, str]

    @property
    def what(self) -> str:
        return "the rendered configs" if self.kind == CONFIGS else f"{self.kind}'s data"


def configs_backup(paths: list[str]) -> Backup:
    """The "configs" kind: a tar of the /etc folders of what the host runs (restored by
    running the deploy, or by hand from the archive)."""
    return Backup(method="tar", paths=tuple(paths), restorable=False)


def kinds(s, h=None) -> list[Kind]:
    """The backups host `h` takes (none unless backup_enabled), in deploy order."""
    if not s.backup_enabled:
        return []
    found, etc = [], []
    for name, c in catalogue.components().items():
        if not runs(name, h):
            continue
        if not c.scrape_only:
            etc.append(f"/etc/{name}")
        schedule = s.values.get(f"backup_{name}_schedule") if c.backup else None
        if schedule is None:
            continue
        data_dir = s.values[c.backup.data_dir_setting].rstrip("/")
        env = c.backup.environment(s) if c.backup.environment else {}
        found.append(Kind(name, c.backup, schedule, data_dir, env))
    if etc and s.backup_configs_schedule is not None:
        found.append(Kind(CONFIGS, configs_backup([*etc, MONSTACK_ETC]),
                          s.backup_configs_schedule, "", {}))
    return found


def find(s, kind: str, h=None) -> Kind | None:
    return next((k for k in kinds(s, h) if k.kind == kind), None)


def script_environment(s, k: Kind, textfile_dir: str) -> dict[str, str]:
    return {"BACKUP_DIR": s.backup_dir.rstrip("/"), "KEEP": str(s.backup_keep),
            "TEXTFILE_DIR": textfile_dir, "SCHEDULE": k.schedule, "DATA_DIR": k.data_dir,
            "PATHS": " ".join(k.backup.paths), **k.environment}


def service_content(s, k: Kind, textfile_dir: str) -> str:
    b = k.backup
    write = [s.backup_dir.rstrip("/"), textfile_dir]
    if b.writes_data_dir:
        write.append(f"-{k.data_dir}")   # "-": no error while it does not exist
    why = "Prometheus' snapshot is moved out of it" if b.method == "tsdb-snapshot" \
        else "SQLite's locks"
    return render("backup/backup.service.j2", what=k.what, kind=k.kind, method=b.method,
                  script=SCRIPT, network=b.network, write_paths=write,
                  write_data=b.writes_data_dir, why_data=why,
                  environment=script_environment(s, k, textfile_dir))


def timer_content(k: Kind) -> str:
    return render("backup/backup.timer.j2", what=k.what, schedule=k.schedule)


class BackupTimers(FactBase):
    """{unit: {"enabled": bool, "active": bool}} of every monstack backup timer on the
    host."""

    def command(self) -> str:
        return (f"for f in {UNIT_DIR}/{PREFIX}*.timer; do [ -e \"$f\" ] || continue; "
                "u=${f##*/}; echo \"$u $(systemctl is-enabled \"$u\" 2>/dev/null) "
                "$(systemctl is-active \"$u\" 2>/dev/null)\"; done; true")

    def process(self, output):
        found = {}
        for line in output:
            unit, *states = line.split()
            found[unit] = {"enabled": "enabled" in states, "active": "active" in states}
        return found


def install(textfile_dir: str, textfile_dir_made: bool) -> None:
    """Plan this host's backups: the script, its folder, each kind's service and timer,
    and the removal of timers of kinds it no longer backs up. `textfile_dir_made`: the
    metrics' folder is made by the exporter reading it (owner and mode its own)."""
    s = settings()
    wanted = kinds(s)
    timers = host.get_fact(BackupTimers) or {}
    stale = sorted(u for u in timers
                   if u.removesuffix(".timer") not in {unit_name(k.kind) for k in wanted})
    if stale:
        units = " ".join(shlex.quote(u) for u in stale)
        files = " ".join(shlex.quote(f"{UNIT_DIR}/{u.removesuffix('.timer')}{suffix}")
                         for u in stale for suffix in (".timer", ".service"))
        server.shell(name="Remove the backup timers no longer wanted (backups kept)",
                     commands=[f"systemctl disable --now {units} && rm -f {files} "
                               "&& systemctl daemon-reload"])
    if not wanted:
        return
    if first_plan("backup script"):
        stages_beside(SCRIPT)
        put_files(name="Install the backup script",
                  files={SCRIPT: str(REPO / "templates/backup/monstack-backup")}, mode="0755")
    packages = sorted({p for k in wanted for p in k.backup.packages})
    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in packages if not installed.get(p)]
    if missing:
        server.shell(name="Install what the backups need (Debian packages)",
                     commands=[apt_install(" ".join(missing))])
    directory(s.backup_dir.rstrip("/"), "root", "root", "0700")
    if not textfile_dir_made:
        directory(textfile_dir, "root", "root", "0755")
    for k in host.loop(wanted):
        plan_kind(s, k, textfile_dir, timers.get(f"{unit_name(k.kind)}.timer"))


def plan_kind(s, k: Kind, textfile_dir: str, timer: dict | None) -> None:
    name = unit_name(k.kind)
    service_op = validated_file(
        name="Install a backup service", dest=f"{UNIT_DIR}/{name}.service",
        content=service_content(s, k, textfile_dir))
    # systemd's own parser checks the schedule before the timer is replaced
    timer_op = validated_file(
        name="Install a backup timer (its schedule checked by systemd-analyze)",
        dest=f"{UNIT_DIR}/{name}.timer", content=timer_content(k),
        validate=f"systemd-analyze calendar {shlex.quote(k.schedule)} >/dev/null")
    changed = service_op.will_change or timer_op.will_change
    if not timer or not timer["enabled"] or not timer["active"]:
        reload = "systemctl daemon-reload && " if changed else ""
        server.shell(name="Enable and start a backup timer",
                     commands=[f"{reload}systemctl enable --now {name}.timer"])
    elif changed:
        server.shell(name="Reload a changed backup timer",
                     commands=[f"systemctl daemon-reload && systemctl restart {name}.timer"])
