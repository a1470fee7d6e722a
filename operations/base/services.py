"""A hardened systemd service for one component: unit, enable, restart or reload, readiness.

Decisions are made at plan time from facts and from whether earlier operations of the
same run will change anything (`OperationMeta.will_change`), so `--dry` shows exactly
what the run does: a binary or unit change restarts, a config change reloads, nothing
changed touches nothing. What an earlier run changed and did not apply (it was cut short
before the restart or reload) counts too: see `stale`. Every (re)start or reload waits until the service answers its
readiness URL, or fails naming the service and the last lines of its journal.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra import host, logger
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from operations.base import catalogue, inventory
from operations.base.facts import STARTED_DIR, UnitState
from operations.base.files import stages_beside, validated_file
from operations.base.install import put_files
from operations.base.inventory import first_plan, settings
from operations.base.templates import REPO, render
from operations.base.tls_auth import readiness

WAIT_READY = "/usr/local/lib/monstack/wait-ready"


def systemd_quote(arg: str) -> str:
    """One ExecStart argument as systemd reads it: % escaped (specifiers), quoted when it
    holds white space, quotes or backslashes."""
    arg = arg.replace("%", "%%")
    if any(c in arg for c in " \t\"'\\"):
        arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


@dataclass
class Unit:
    name: str
    description: str
    exec_start: list[str]
    user: str
    documentation: str = ""
    write_paths: list[str] = field(default_factory=list)
    environment_files: list[str] = field(default_factory=list)
    protect_home: str = "yes"
    protect_proc: str = "invisible"
    address_families: list[str] = field(default_factory=lambda: ["AF_INET", "AF_INET6", "AF_UNIX"])
    reloadable: bool = False
    memory_deny_write_execute: bool = True
    # groups the service runs in besides its own (e.g. systemd-journal to read logs)
    supplementary_groups: list[str] = field(default_factory=list)
    # capabilities it keeps (CapabilityBoundingSet); none unless a unit needs one
    capabilities: list[str] = field(default_factory=list)
    # system calls it may make beyond systemd's @system-service set
    extra_system_calls: list[str] = field(default_factory=list)
    # it reads the kernel's clock state (adjtimex(2) with no mode bits): ProtectClock= and
    # ~@privileged both deny adjtimex, read or write, so it is allowed back by name; the
    # unit holds no CAP_SYS_TIME, so the kernel still refuses any change of the clock
    reads_clock: bool = False

    def content(self) -> str:
        # one flag per line keeps unit diffs readable
        exec_start = " \\\n    ".join(systemd_quote(arg) for arg in self.exec_start)
        return render("systemd/service.j2", **{**self.__dict__, "exec_start": exec_start})


def unit_path(name: str) -> str:
    """Where service() installs the unit of service `name`."""
    return f"/etc/systemd/system/{name}.service"


def wait_ready_helper() -> None:
    """The readiness helper every service() uses; planned once per host and run."""
    if not first_plan("wait-ready helper"):
        return
    stages_beside(WAIT_READY)
    put_files(name="Install the wait-ready helper",
              files={WAIT_READY: str(REPO / "files/wait-ready")}, mode="0755")


def enable_new_unit(unit: str) -> str:
    """Shell steps enabling `unit`, whose file was just written, without a daemon-reload
    (systemd re-reads every unit: ~0.14 CPU s of a small host, in each first converge):
    systemd reads a unit file it has not loaded yet when the unit is first used. Only
    one it holds an older or missing copy of (a changed file of a disabled unit, an
    older systemd that remembers it as not found) needs the reload, and gets it."""
    return (f"systemctl enable --no-reload {unit} && {{ "
            f"loaded=$(systemctl show -p LoadState -p NeedDaemonReload {unit}) || loaded=; "
            'case "$loaded" in *LoadState=loaded*) ;; *) loaded=;; esac; '
            'case "$loaded" in *NeedDaemonReload=no*) ;; *) systemctl daemon-reload;; esac; }')


def service(unit: Unit, ready_url: str, restart_on: list[OperationMeta] = (),
            reload_on: list[OperationMeta] = (), ready_seconds: int = 60,
            together: bool = False) -> None:
    """Install `unit`, keep it enabled and running, restart/reload it as its inputs change:
    in this run, or in an earlier one that was cut short before it restarted or reloaded
    (see `stale`). A member of an HA group is restarted one host at a time, unless
    `together`: the run changes its group itself (members, how they talk to each other),
    so that a member restarted alone could not rejoin those not yet restarted."""
    wait_ready_helper()
    name = unit.name
    unit_file = unit_path(name)
    restart_files = [unit_file, *watched_paths(restart_on)]
    reload_files = watched_paths(reload_on)
    program = unit.exec_start[0] if unit.exec_start[0].startswith("/") else None
    state = host.get_fact(UnitState, unit=f"{name}.service",
                          watched=sorted({*restart_files, *reload_files}), program=program) or {}
    enabled = state.get("enabled", False)
    # a new or changed unit is loaded in the same command that writes it: an enabled unit
    # by daemon-reload; a new one is enabled and read without (see enable_new_unit)
    load = "systemctl daemon-reload" if enabled else enable_new_unit(f"{name}.service")
    unit_op = validated_file(name=f"Install the {name} systemd unit", dest=unit_file,
                             content=unit.content(), then=load)
    if not enabled and not unit_op.will_change:
        server.shell(name=f"Enable {name} at boot", commands=[f"systemctl enable {name}.service"])

    running = state.get("running", False)
    restart_why, reload_why = stale(state, restart_files, reload_files)
    for why in restart_why + reload_why:
        host.log(f"{name} runs on what an earlier run left: {why}", logger.warning)
    # TLS / basic auth: an https URL, and curl options naming a config file on the host
    ready_url, curl_options = readiness(name, ready_url)
    ready_seconds = settings().ready_timeouts.get(name, ready_seconds)
    wait = " ".join([WAIT_READY, name, ready_url, str(ready_seconds), *curl_options])
    # the deploy's own record of this start (see UnitState), once the service is ready
    stamp = f"mkdir -p {STARTED_DIR} && touch {STARTED_DIR}/{name}.service"
    load_first = "systemctl daemon-reload && " if state.get("daemon_reload") else ""
    restart = (not running or restart_why or unit_op.will_change
               or any(op.will_change for op in restart_on))
    reload = not restart and (reload_why or any(op.will_change for op in reload_on))
    # a running member of an HA group is restarted (and reloaded, where a reload is a
    # restart) one host at a time; a stopped one is started with the others, first (the
    # operations run in the order of these lines: a new member is up before the running
    # ones wait for it)
    rolling = (running and (restart or (reload and not unit.reloadable))
               and not together and in_ha_group(name))
    if restart and not rolling:
        server.shell(name=f"Restart {name} and wait until ready",
                     commands=[f"{load_first}systemctl restart {name}.service && {wait} "
                               f"&& {stamp}"])
    elif reload and not rolling:
        action = "reload" if unit.reloadable else "restart"
        server.shell(name=f"{action.capitalize()} {name} and wait until ready",
                     commands=[f"systemctl {action} {name}.service && {wait} && {stamp}"])
    elif rolling:
        # pyinfra runs this operation host by host (`_serial`); each member finds its
        # group whole before it goes down and waits until it is back in it
        whole, rejoined = rolling_checks(name, ready_seconds)
        server.shell(name=f"Restart {name} one host at a time and wait until ready",
                     commands=[f"{whole}{load_first}systemctl restart {name}.service && "
                               f"{wait}{rejoined} && {stamp}"],
                     _serial=True)


def in_ha_group(name: str) -> bool:
    """Is this host's `name` one member of an HA group of 2+ hosts (its component says:
    Component.ha_group)?"""
    component = catalogue.components().get(name)
    return bool(component and component.ha_group
                and component.ha_group(inventory.current_host) > 1)


def rolling_checks(name: str, ready_seconds: int) -> tuple[str, str]:
    """The shell steps around an HA member's restart, from its Component.rejoined: before
    it, that the group is whole (else the member is left running: an earlier member that
    did not come back must not be followed by another going down); after it, that the
    member has rejoined every other. Empty when the component names no such check (its
    readiness URL is all there is)."""
    component = catalogue.component(name)
    if not component.rejoined:
        return "", ""
    path, ready, per_member, alone = component.rejoined
    size = component.ha_group(inventory.current_host)
    url, curl_options = readiness(name, inventory.local_url(name, path))

    def check(what: str, unless: str = "") -> str:
        env = [f"WAIT_READY_MATCH={shlex.quote(ready)}",
               f"WAIT_READY_COUNT={shlex.quote(f'{size} {per_member}')}",
               f"WAIT_READY_WHAT={shlex.quote(what)}"]
        if unless:
            env.append(f"WAIT_READY_UNLESS={shlex.quote(unless)}")
        return " ".join([*env, WAIT_READY, name, url, str(ready_seconds), *curl_options])

    # a member not yet in any group (it ran alone before this run) has none to wait for
    return (check(f"find its group of {size} whole before its restart", alone) + " && ",
            " && " + check(f"rejoin its group of {size}"))


def watched_paths(ops) -> list[str]:
    """The files the operations `ops` put in place (those that say: see files.watched)."""
    return [path for op in ops for path in getattr(op, "monstack_paths", ())]


def stale(state: dict, restart_files: list[str], reload_files: list[str]
          ) -> tuple[list[str], list[str]]:
    """Why a running service must restart, and why it must reload, though nothing changes
    in this run: what it runs on changed after its last start by the deploy (a run cut
    short between writing and restarting)."""
    if not state.get("running"):
        return [], []
    newer = set(state.get("newer", ()))
    restart = []
    if state.get("binary_replaced"):
        restart.append("its program was replaced after it started")
    if state.get("daemon_reload"):
        restart.append("systemd has not loaded its changed unit")
    restart += [f"{path} changed after it started" for path in restart_files if path in newer]
    reload = [f"{path} changed after it last started or reloaded" for path in reload_files
              if path in newer and path not in restart_files]
    return restart, reload


def data_server_unit(name: str, s, args: list[str], *, description: str, documentation: str,
                     **hardening) -> Unit:
    """The hardened unit of server `name` that runs as its own user and writes only its
    data folder (<name>_data_dir of settings `s`): `args` (its program first), then the
    operator's <name>_extra_flags. `hardening`: Unit's fields where it needs other than
    the defaults."""
    return Unit(name=name, user=name, description=description, documentation=documentation,
                write_paths=[s.component(name, "data_dir")],
                exec_start=[*args, *s.component(name, "extra_flags")], **hardening)
