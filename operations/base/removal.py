"""Removing a component from a host that no longer runs it (its <name>_enabled set to
False, or the host left its group).

What the deploy put there is known from the component's catalogue row: its unit
(/etc/systemd/system/<name>.service, recognised by the header of templates/systemd/
service.j2), the programs of its release in /usr/local/bin carrying our program stamp
(operations/base/facts.py program_stamp), the Debian package of the package method (with
the packaged unit the deploy masked or diverted), its service user and home; and from
what the component declares in `Component.leaves` (its config folders and files, data
folders, support files, unpacked trees; operations/base/component.py Leaves).

One fact (DeployedLeftovers, batched with every other fact of the host) tells which of
them are there; only those are removed, so `--dry` lists exactly what the run removes and
a second run finds nothing. Each step may be cut short and run again: `rm -f`, `rm -rf`,
`systemctl disable --now` only of a unit file that is there. Data folders and the service
user go only with <name>_purge_data = True.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from typing import Callable

from pyinfra import host
from pyinfra.operations import server

from operations.base import catalogue
from operations.base.component import Leaves
from operations.base.facts import STARTED_DIR, DeployedLeftovers, program_stamp
from operations.base.install import ARCHIVE_BIN_DIR
from operations.base.inventory import settings
from operations.base.schema import duration_seconds
from operations.base.templates import REPO

DIVERTED_BY = "monstack"   # dpkg-divert --package of the deploy's diversions
NO_HOME = "/nonexistent"
# folders of the system a component's paths are in, never removed themselves
SYSTEM_FOLDERS = ("/var/lib", "/var/log", "/var/cache", "/var/run", "/usr/local", "/usr/share",
                  "/usr/lib", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/share",
                  "/usr/local/lib", "/etc/systemd", "/etc/default", "/etc/nginx", "/home",
                  "/srv", "/opt", "/var/lib/monstack")
APT_REMOVE = ("export DEBIAN_FRONTEND=noninteractive; timeout -k 10 {seconds} apt-get remove "
              "-y -q {packages}")


def unit_header() -> str:
    """The first line of every unit the deploy writes."""
    return (REPO / "templates/systemd/service.j2").read_text().splitlines()[0].strip()


@dataclass
class Candidate:
    """What the deploy may have left on this host for one component."""

    name: str
    leaves: Leaves
    programs: list[str]
    packages: list[str]
    packaged_units: list[str]
    user: str | None
    data: list[str]
    purge: bool
    package_method: bool


def programs_of(name: str, shared: bool) -> list[str]:
    """Its release's programs as the archive method installs them: every binary of its own
    release; of a release it shares with others (vmcluster), the one named like it."""
    c = catalogue.component(name)
    binaries = list(catalogue.releases()[c.release_key].get("binaries") or {name: name})
    if shared:
        binaries = [b for b in binaries if b == name]
    return [f"{ARCHIVE_BIN_DIR}/{b}" for b in binaries]


def candidate(name: str, home: str | None, s) -> Candidate:
    """Everything component `name` may have left here, from its catalogue row, its
    declared Leaves and its service user's `home` (None: it runs as no user of its own)."""
    c = catalogue.component(name)
    leaves = (c.leaves(s) if callable(c.leaves) else c.leaves) or Leaves()
    package = catalogue.releases()[c.release_key].get("debian_package")
    packages = list(leaves.packages if leaves.packages is not None
                    else ([package] if package else []))
    if leaves.packaged_units is not None:
        masked = list(leaves.packaged_units)
    else:   # mask_packaged_unit: the package's unit, when not named like ours
        masked = [package] if package and package != name else []
    data = [*leaves.data]
    if home and home != NO_HOME and home not in data:
        data.insert(0, home)
    return Candidate(name=name, leaves=leaves, programs=programs_of(name, bool(c.release_name)),
                     packages=packages, packaged_units=masked,
                     user=name if home is not None else None, data=data,
                     purge=bool(s.component(name, "purge_data")),
                     package_method=s.component(name, "install_method") == "package")


def under(path: str, folder: str) -> bool:
    path, folder = path.rstrip("/"), folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def removable(path: str, kept: list[str]) -> bool:
    """A path this removal may delete: absolute, two levels deep at least and not a folder
    of the system (never /etc or /var/lib themselves), neither holding nor inside a path
    a component still running here uses."""
    norm = posixpath.normpath(path)
    return (norm.startswith("/") and norm.count("/") >= 2 and norm != NO_HOME
            and norm not in SYSTEM_FOLDERS
            and not any(under(k, norm) or under(norm, k) for k in kept))


@dataclass
class Found:
    """What is there of one candidate (the fact's answer narrowed to it)."""

    candidate: Candidate
    unit: bool = False
    started: bool = False
    programs: list[str] = field(default_factory=list)
    stamps: list[str] = field(default_factory=list)
    program_files: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    trees: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)
    diversions: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    user: bool = False
    group: bool = False

    def any(self) -> bool:
        return any([self.unit, self.started, self.programs, self.stamps, self.program_files,
                    self.links, self.trees, self.packages, self.masked, self.diversions,
                    self.config, self.data, self.user, self.group])


def look(candidates: list[Candidate], kept: list[str], kept_programs: list[str]
         ) -> dict[str, Found]:
    """Ask the host (one fact) what is there of `candidates`; `kept`: paths components
    running here use, never removed; `kept_programs`: their programs."""
    if not candidates:
        return {}
    ok = candidates
    programs = sorted({p for c in ok for p in c.programs if p not in kept_programs})
    paths = sorted({p for c in ok for p in [*c.leaves.config, *c.leaves.program_files,
                                             *(c.data if c.purge else [])]
                    if removable(p, kept)})
    found = host.get_fact(
        DeployedLeftovers, header=unit_header(), units=[c.name for c in ok],
        programs=programs, paths=paths,
        links=[list(link) for c in ok for link in c.leaves.links],
        trees=[list(t) for c in ok for t in c.leaves.trees],
        packages=sorted({p for c in ok for p in c.packages}),
        masked=sorted({u for c in ok for u in c.packaged_units}),
        diversions=sorted({d for c in ok for d in c.leaves.diversions}),
        diverted_by=DIVERTED_BY,
        users=sorted({c.user for c in ok if c.user and c.purge})) or {}
    result = {}
    for c in ok:
        f = Found(c)
        f.unit = c.name in found.get("units", ())
        f.started = c.name in found.get("started", ())
        f.programs = [p for p in c.programs if p in found.get("programs", ())]
        f.stamps = [p for p in c.programs if p in found.get("stamps", ())]
        present = set(found.get("paths", ()))
        f.program_files = [p for p in c.leaves.program_files if p in present and f.stamps]
        f.links = [link for link, _ in c.leaves.links if link in found.get("links", ())]
        f.trees = [t for t in found.get("trees", ())
                   if any(under(t, folder) for folder, _, _ in c.leaves.trees)
                   and removable(t, kept)]
        # Only what the deploy ran here (its unit, or its started stamp, kept until the
        # last step so a run cut short still knows) is the deploy's: a packaged unit
        # masked or diverted by someone else, for a package of their own, is not (a test
        # host masks Debian's victoria-metrics unit to run the package's binary itself).
        ran_here = f.unit or f.started
        f.masked = [u for u in c.packaged_units
                    if ran_here and u in found.get("masked", ())]
        f.diversions = [d for d in c.leaves.diversions
                        if ran_here and d in found.get("diversions", ())]
        installed = [p for p in c.packages if p in found.get("packages", ())]
        # the deploy installed it: its method says so, or it masked or diverted the
        # package's unit
        if ran_here and (c.package_method or f.masked or f.diversions):
            f.packages = installed
        f.config = [p for p in c.leaves.config if p in present]
        if c.purge:
            f.data = [p for p in c.data if p in present]
            f.user = bool(c.user) and c.user in found.get("users", ())
            f.group = bool(c.user) and c.user in found.get("groups", ())
        if f.any():
            result[c.name] = f
    return result


# -- the steps ---------------------------------------------------------------------------
def q(path: str) -> str:
    return shlex.quote(path)


def unit_and_programs_commands(f: Found) -> list[str]:
    unit = f"{f.candidate.name}.service"
    steps = []
    if f.unit:
        steps += [f"systemctl disable --now {unit}",
                  f"rm -f {q('/etc/systemd/system/' + unit)}", "systemctl daemon-reload"]
    elif f.started:   # a run cut short after removing the unit file: it may be gone
        steps += [f"{{ systemctl disable --now {unit} 2>/dev/null || true; }}",
                  "systemctl daemon-reload"]
    files = [*f.programs, *(program_stamp(p) for p in f.stamps), *f.program_files, *f.links]
    if files:
        steps.append("rm -f " + " ".join(q(p) for p in files))
    if f.trees:
        steps.append("rm -rf " + " ".join(q(p) for p in f.trees))
    return steps


def package_commands(f: Found) -> list[str]:
    steps = []
    if f.packages:
        seconds = max(1, int(duration_seconds(settings().apt_timeout)))
        steps.append(APT_REMOVE.format(seconds=seconds,
                                       packages=" ".join(q(p) for p in f.packages)))
    for unit in f.masked:   # unmask: the link to /dev/null mask_packaged_unit made
        steps.append(f"rm -f {q(f'/etc/systemd/system/{unit}.service')}")
    for path in f.diversions:
        steps.append(f"dpkg-divert --package {DIVERTED_BY} --remove {q(path)}")
        steps.append(f"rm -f {q(path + '.monstack-packaged')}")
    if f.masked or f.diversions:
        steps.append("systemctl daemon-reload")
    return steps


def config_commands(f: Found) -> list[str]:
    """Its config, then its started stamp: the record that the deploy ran it here, kept
    until now so that a run cut short still knows its package is the deploy's."""
    steps = ["rm -rf " + " ".join(q(p) for p in f.config)] if f.config else []
    steps += [then for path, then in f.candidate.leaves.after_removing if path in f.config]
    if f.unit or f.started:
        steps.append(f"rm -f {q(f'{STARTED_DIR}/{f.candidate.name}.service')}")
    return steps


def purge_commands(f: Found) -> list[str]:
    steps = ["rm -rf " + " ".join(q(p) for p in f.data)] if f.data else []
    user = f.candidate.user
    if f.user:
        steps.append(f"userdel {q(user)}")
    if f.user or f.group:   # userdel removes its group too, unless another user is in it
        steps.append(f"if getent group {q(user)} >/dev/null; then groupdel {q(user)}; fi")
    return steps


def remove(f: Found) -> None:
    """Plan the removal of what is there of one component (names: no per-host detail)."""
    name = f.candidate.name
    # One call site per kind of step, not a loop: pyinfra tells operations apart by the
    # line they are called from, so one line serving four kinds would merge different
    # kinds of step of different hosts into one operation.
    steps = unit_and_programs_commands(f)
    if steps:
        server.shell(name=f"Remove {name} (disabled here): stop, disable, unit, programs",
                     commands=[" && ".join(steps)])
    steps = package_commands(f)
    if steps:
        server.shell(name=f"Remove {name}'s package (disabled here)",
                     commands=[" && ".join(steps)])
    steps = config_commands(f)
    if steps:
        server.shell(name=f"Remove {name}'s config and started stamp (disabled here)",
                     commands=[" && ".join(steps)])
    steps = purge_commands(f)
    if steps:
        server.shell(name=f"Remove {name}'s data and service user (disabled here, "
                          f"{name}_purge_data)", commands=[" && ".join(steps)])


def plan(homes: dict[str, Callable], running: list[str]) -> dict[str, Found]:
    """What to remove on this host: of every installed component in `homes` (name ->
    home(settings)) that this host does not run (`running`). Asks one fact."""
    s = settings()
    installed = catalogue.installed_components()
    kept, kept_programs = [], []
    for name in running:
        if name not in installed:
            continue
        c = candidate(name, homes[name](s), s)
        kept += [*c.leaves.config, *c.data, *c.leaves.program_files]
        kept_programs += c.programs
    candidates = [candidate(name, homes[name](s), s) for name in installed
                  if name not in running and name in homes]
    return look(candidates, kept, kept_programs)
