"""An exporter's service: its user, folders, binaries, TLS and basic auth, the file it
reads, its hardened unit and readiness, planned in that order.

The exporters (node_exporter, the database and web-server exporters, pushgateway,
blackbox, snmp, process and systemd exporters) install alike; each says what is its own
(folders, flags, the one file it reads, steps before its program) and `exporter_service`
plans the rest. Every operation here is called from one place: the stack plans each
component inside `host.loop`, which tells two components' calls apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

from operations.base import inventory
from operations.base.files import validated_file
from operations.base.install import directories, directory, install_binaries, system_user
from operations.base.inventory import local_url
from operations.base.services import Unit, service
from operations.base.tls_auth import Served, protect

# (path, user, group, mode)
Folder = tuple[str, str, str, str]


def no_home(s) -> str:
    """Home of the service user of an exporter without a data folder: none."""
    return "/nonexistent"


@dataclass
class ExporterFile:
    """The one file an exporter reads (its config, environment or login), 0640 root and
    its group, written after its program and TLS files: a change reloads a reloadable
    exporter and restarts any other."""

    name: str
    dest: str
    content: str
    # shell command checking the staged file: {program} the exporter's program, {path}
    # the staged file
    validate: str | None = None
    secret: bool = False
    secrets: list = field(default_factory=list)


def exporter_unit(name: str, program: str, web_flags: list[str], *, description: str,
                  documentation: str, args: list[str], **hardening) -> Unit:
    """The hardened unit of exporter `name`, run as its own user: `program` with `args`,
    then the flags of its TLS and login (`web_flags`) and the operator's
    <name>_extra_flags. `hardening`: Unit's fields where it needs other than the
    defaults."""
    return Unit(name=name, user=name, description=description, documentation=documentation,
                exec_start=[program, *args, *web_flags,
                            *inventory.settings().component(name, "extra_flags")],
                **hardening)


def exporter_service(name: str, home: str, config_dir: str, *, description: str,
                     documentation: str,
                     args: Union[list[str], Callable[[Served], list[str]]],
                     ready_path: str = "/metrics", folders: Sequence[Folder] = (),
                     file: Union[ExporterFile, Callable[[Served], ExporterFile], None] = None,
                     before_program: Callable[[], None] | None = None,
                     basic_auth_refused: str | None = None, **hardening) -> None:
    """Plan exporter `name` on this host: its service user (`home`), its `folders` (one
    folder alone, several in one step), `before_program` (its own steps: a database role,
    nginx's status server), its binaries, its TLS files and web.yml in `config_dir` (made
    here unless one of its folders), its `file`, its unit (see `exporter_unit`) and the
    service, ready when `ready_path` answers. `args` and `file` may be functions of what
    protect() returned, for an exporter whose own flags or environment name its TLS
    files and login (redis_exporter)."""
    system_user(name, home)
    if len(folders) == 1:
        directory(*folders[0])
    elif folders:
        directories(name, *folders)
    if before_program:
        before_program()
    binaries = install_binaries(name)
    program = binaries.path(name)
    web = protect(name, config_dir, make_dir=config_dir not in [f[0] for f in folders],
                  basic_auth_refused=basic_auth_refused)
    file_ops = []
    if file is not None:
        file = file(web) if callable(file) else file
        validate = file.validate.replace("{program}", program) if file.validate else None
        file_ops.append(validated_file(name=file.name, dest=file.dest, content=file.content,
                                       validate=validate, user="root", group=name,
                                       mode="0640", secret=file.secret, secrets=file.secrets))
    unit = exporter_unit(name, program, web.flags, description=description,
                         documentation=documentation,
                         args=args(web) if callable(args) else args, **hardening)
    # a reloadable exporter reads its file again on reload; any other reads it at start
    reload_on = file_ops if unit.reloadable else []
    restart_on = [*binaries.ops, *([] if unit.reloadable else file_ops), *web.restart_on]
    service(unit, local_url(name, ready_path), restart_on=restart_on, reload_on=reload_on)
