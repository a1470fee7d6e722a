"""Restore one backup on one host (restore.py): checked before anything stops, then the
service stopped, its data moved aside (kept), the backup put in place with the service
user's ownership, the service started and waited for until ready.

The backup must exist and verify (the script's own check, asked as a fact while planning):
otherwise the run stops before any host is touched, naming what there is.
"""

from __future__ import annotations

import shlex
import time

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.operations import server

from operations.base import backups, inventory
from operations.base.facts import STARTED_DIR
from operations.base.inventory import local_url, settings
from operations.base.schema import SettingsError
from operations.base.services import WAIT_READY, wait_ready_helper
from operations.base.tls_auth import readiness

LATEST = "latest"


class BackupsKept(FactBase):
    """The verified backups in a kind's folder (no .partial-*), oldest first."""

    def command(self, folder: str) -> str:
        q = shlex.quote(folder)
        return (f"if [ -d {q} ]; then find {q} -mindepth 1 -maxdepth 1 -type d "
                "! -name '.*' -printf '%f\\n' | sort; fi; true")

    def process(self, output):
        return [line for line in output if line.strip()]


class BackupVerifies(FactBase):
    """Whether a backup verifies: "ok", or the script's complaint."""

    def command(self, script: str) -> str:
        return f"{script} 2>&1 && echo ok; true"

    def process(self, output):
        return "ok" if output and output[-1] == "ok" else " ".join(output) or "no answer"


def script_env(k: backups.Kind) -> str:
    env = {"PATHS": " ".join(k.backup.paths), **{n: v for n, v in k.environment.items()
                                                if n == "PROMTOOL"}}
    return " ".join(f"{n}={shlex.quote(v)}" for n, v in env.items())


def chosen(s, kind: str) -> tuple[backups.Kind, str]:
    """The host's backup kind and the backup folder to restore, refused with the reason."""
    k = backups.find(s, kind)
    where = f"host {host.name}"
    if k is None:
        here = ", ".join(x.kind for x in backups.kinds(s)) or "none (backup_enabled is off)"
        raise SettingsError(f"{where} takes no {kind} backups (kinds there: {here})")
    if not k.backup.restorable:
        raise SettingsError(f"restore_kind {kind}: restored by running the deploy again (the "
                            "archive in backup_dir is for reading files back by hand)")
    folder = f"{s.backup_dir.rstrip('/')}/{kind}"
    kept = host.get_fact(BackupsKept, folder=folder) or []
    name = s.restore_backup
    if name == LATEST and kept:
        name = kept[-1]
    if name not in kept:
        listed = ", ".join(kept) or "none"
        raise SettingsError(f"{where}: no backup {s.restore_backup!r} in {folder} (there: "
                            f"{listed}); nothing was stopped")
    return k, f"{folder}/{name}"


def plan() -> None:
    inventory.validate_inventory()
    s = settings()
    if s.restore_kind is None:
        raise SettingsError("restore.py restores one kind of backup: give --data "
                            "restore_kind=<prometheus|alertmanager|grafana|loki> (and "
                            "--data restore_backup=<name>, default latest) with --limit <host>")
    k, path = chosen(s, s.restore_kind)
    env = script_env(k)
    method = k.backup.method
    verify = f"{env} {backups.SCRIPT} verify {method} {shlex.quote(path)}"
    answer = host.get_fact(BackupVerifies, script=verify)
    if answer != "ok":
        raise SettingsError(f"host {host.name}: {path} does not verify ({answer}); nothing "
                            "was stopped")
    host.log(f"restoring {path} into {k.data_dir}")
    wait_ready_helper()
    unit = k.kind   # every component's unit and service user are named after it
    url, options = readiness(unit, local_url(unit, k.backup.ready_path))
    ready = settings().ready_timeouts.get(unit, 300)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    server.shell(
        name="Restore a backup: stop the service, move its data aside, restore, start, wait "
             "until ready",
        commands=[" && ".join([
            verify, f"systemctl stop {unit}.service",
            f"{env} {backups.SCRIPT} restore {method} {shlex.quote(path)} "
            f"{shlex.quote(k.data_dir)} {unit} {stamp}",
            f"systemctl start {unit}.service",
            " ".join([WAIT_READY, unit, url, str(ready), *options]),
            f"mkdir -p {STARTED_DIR} && touch {STARTED_DIR}/{unit}.service"])])
