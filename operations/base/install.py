"""Getting a component's binaries onto a host: the distribution's package or the upstream
release archive. Written once, used by every component module.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Arch
from pyinfra.operations import files, server

from operations.base import artifacts, catalogue, digests
from operations.base.facts import (DirectoriesState, FilesState, InstalledProgram,
                                   PackageVersion, ServiceAccounts,
                                   write_program_stamp)
from operations.base.files import owner_mode_fixes, stages_beside, staging_path
from operations.base.inventory import first_plan, settings
from operations.base.schema import SettingsError, duration_seconds, version_tuple

ARCHIVE_BIN_DIR = "/usr/local/bin"
NOLOGIN = "/usr/sbin/nologin"

# Block service starts while dpkg runs (policy-rc.d exit 101): a package must not start
# its daemon with the distribution's default config before ours is in place. An existing
# policy-rc.d is left alone. Each apt-get has `apt_timeout` (a stalled mirror or proxy
# would hold the run forever); past it the step fails saying what to check.
APT_INSTALL = (
    "made=0; if [ ! -e /usr/sbin/policy-rc.d ]; then "
    "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d "
    "&& made=1; fi; "
    "export DEBIAN_FRONTEND=noninteractive; "
    "timeout -k 10 {seconds} apt-get update -qq && timeout -k 10 {seconds} apt-get install -y "
    "-q --no-install-recommends "
    "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {packages}; "
    "rc=$?; [ $made = 1 ] && rm -f /usr/sbin/policy-rc.d; "
    "if [ $rc = 124 ] || [ $rc = 137 ]; then "
    "echo \"monstack: apt-get on $(hostname) did not finish within {timeout} (apt_timeout): "
    "check the host's APT sources and proxy (apt-config dump | grep -i proxy) and that the "
    "mirror answers, then run again\" >&2; fi; exit $rc"
)


def debian_binary(program: str) -> str:
    """Debian's name of `program`: a component's own program is named like its Debian
    package (prometheus-node-exporter), any other program keeps its name (amtool)."""
    c = catalogue.components().get(program)
    package = catalogue.releases()[c.release_key].get("debian_package") if c else None
    return package or program


@dataclass
class Installed:
    """Where a component's binaries are, and the operations that changed them."""

    paths: dict[str, str]
    ops: list[OperationMeta] = field(default_factory=list)

    def path(self, name: str) -> str:
        return self.paths[name]


def machine() -> str:
    """The host's `uname -m`, unless the machine_arch setting overrides it."""
    return settings().machine_arch or host.get_fact(Arch)


def debian_package(component: str) -> str:
    package = catalogue.releases()[component].get("debian_package")
    if not package:
        raise SettingsError(
            f"{component} has no distribution package; set {component}_install_method "
            "to 'archive'")
    return package


def package_older_than(component: str, floor: str) -> tuple[str, str] | None:
    """(package, version) when the distribution's package of `component` this host has
    or would install is older than `floor` (its upstream part: no epoch, no Debian
    revision or +suffix); None when it is not, or apt knows no such package."""
    package = debian_package(component)
    version = host.get_fact(PackageVersion, package=package)
    if version and version_tuple(version.split(":")[-1].split("+")[0].split("-")[0]) \
            < version_tuple(floor):
        return package, version
    return None


def refuse_older_package(component: str, floor: str, why: str) -> None:
    """Stop planning when the package method, where this host's `component` uses it, would
    give it older than `floor`, the oldest the deploy can configure (`why`: what the older
    one lacks)."""
    if settings().component(component, "install_method") != "package":
        return
    older = package_older_than(component, floor)
    if older:
        package, version = older
        raise SettingsError(
            f"host {host.name}: {package} {version} is older than {floor}, the oldest "
            f"{component} monstack can configure ({why}); use {component}_install_method "
            f"= 'archive', or set {component}_enabled = False")


def mask_packaged_unit(component: str, unit: str | None = None) -> list[OperationMeta]:
    """The package's own unit, when named differently from ours, must never run beside it
    (same port); a masked unit is also not started by the package's postinst."""
    unit = unit or debian_package(component)
    if unit == component:
        return []  # same name: our unit in /etc/systemd/system overrides the package's
    return [files.link(name=f"Mask the packaged {unit} unit ({component} runs as its own unit)",
                       path=f"/etc/systemd/system/{unit}.service", target="/dev/null")]


def apt_request(package: str, version: str | None) -> str:
    """What apt-get install is given: the package, or exactly that version of it (also
    when that means going back from a newer one: the version is the operator's pin)."""
    if version is None:
        return package
    return f"--allow-downgrades {shlex.quote(f'{package}={version}')}"


def package_wanted(installed_versions: set[str], version: str | None) -> bool:
    """Must the package be installed? Unpinned: when absent. Pinned: unless exactly
    that version is installed (another one is a change, to be planned and shown)."""
    if version is None:
        return not installed_versions
    return version not in installed_versions


def apt_install(packages: str) -> str:
    """The shell command installing `packages` (see APT_INSTALL)."""
    timeout = settings().apt_timeout
    return APT_INSTALL.format(packages=packages, timeout=timeout,
                              seconds=max(1, int(duration_seconds(timeout))))


def install_package(component: str, binaries: list[str], package: str | None = None,
                    unit: str | None = None, paths: dict[str, str] | None = None,
                    version: str | None = None) -> Installed:
    """Install the distribution's package of `component`.

    A package from a vendor's own APT repository (set up by the caller first) names
    itself: `package`, the `unit` it ships, the `paths` of its binaries and the Debian
    `version` to install (the repository serves every release, newest first)."""
    package = package or debian_package(component)
    ops = mask_packaged_unit(component, unit or package)
    installed = host.get_fact(DebPackages).get(package) or set()
    if package_wanted(installed, version):
        # the same name on every host (what each host has now is per-host detail, which
        # pyinfra's tables would show under one host's name for all)
        name = f"Install the {package} package" + (f" {version}" if version else "")
        ops.append(server.shell(name=name, commands=[
            apt_install(apt_request(package, version))]))
    paths = paths or {b: f"/usr/bin/{debian_binary(b)}" for b in binaries}
    return Installed(paths, ops)


@operation()
def program(src: str, dest: str):
    """
    Install the executable `src` (a controller path) at `dest`, 0755 root:root.

    Uploaded beside `dest`, then renamed over it: the file of a running program cannot be
    written (ETXTBSY: files.put failed to upgrade the binary of a running service), but
    it can be replaced, and an interrupted upload never leaves half a program in place.
    """
    installed = host.get_fact(InstalledProgram, path=dest)
    wanted = digests.sha1(src)   # kept from run to run (see digests)
    q_dest = shlex.quote(dest)
    if installed and installed["sha1"] == wanted:
        steps = owner_mode_fixes(dest, installed, "root", "root", "755")
        if steps or not installed["stamped"]:
            yield StringCommand(" && ".join([*steps, write_program_stamp(dest, wanted)]))
        return
    staged = staging_path(dest)
    q_staged = shlex.quote(staged)
    yield FileUploadCommand(src, staged, remote_temp_filename=host.get_temp_filename(staged))
    yield StringCommand(f"chown root:root {q_staged} && chmod 755 {q_staged} "
                        f"&& mv -f {q_staged} {q_dest} && {write_program_stamp(dest, wanted)}")


def install_archive(component: str, binaries: list[str],
                    support_files: dict[str, str] | None = None) -> Installed:
    """Push the verified binaries of the upstream archive to /usr/local/bin.

    `support_files`: file in the archive -> path on the host, installed when the archive
    carries it (some builds read templates from disk that upstream's embed)."""
    s = settings()
    try:
        artifact, folder = artifacts.prepare(
            catalogue.release_of(component), s.component(component, "version"), machine(), s.artifact_mirror,
            s.artifact_checksums, s.artifact_cache_dir,
            s.artifact_checksums_from_release)
    except artifacts.ArtifactError as exc:
        raise artifacts.ArtifactError(f"host {host.name}: {exc}") from None
    found = artifacts.binary_paths(artifact, folder)
    paths, ops = {}, []
    for name in binaries:
        dest = f"{ARCHIVE_BIN_DIR}/{name}"
        # the name holds no architecture: one operation serves hosts of every arch, and
        # pyinfra's tables show one name per operation
        stages_beside(dest)
        ops.append(program(name=f"Install {name} {artifact.version} from the release archive",
                           src=str(found[name]), dest=dest))
        paths[name] = dest
    carried = {dest: str(folder / inner) for inner, dest in (support_files or {}).items()
               if (folder / inner).is_file()}
    if carried:
        stages_beside(*carried)
        ops.append(put_files(name=f"Install {component}'s support files", files=carried))
    return Installed(paths, ops)


@operation()
def put_files(files: dict[str, str], mode: str = "0644"):
    """
    Controller files (dest -> local path), root-owned, with their folders: one fact tells
    the state of all of them, the changed or missing ones are uploaded, then one command
    puts them all in place (files.put asks and sends a mkdir, the upload and a chmod for
    each file).
    """
    remote = host.get_fact(FilesState, paths=sorted(files))
    steps = []
    for dest, src in sorted(files.items()):
        live = remote["files"].get(dest)
        if live == "other":
            raise OperationError(f"{dest} exists and is not a regular file")
        if live and live["sha1"] == digests.sha1(src):
            steps += owner_mode_fixes(dest, live, "root", "root", mode)
            continue
        temp = host.get_temp_filename(dest)
        yield FileUploadCommand(src, temp, remote_temp_filename=temp)
        q_dest, q_temp, q_staged = (shlex.quote(p) for p in (dest, temp, staging_path(dest)))
        # staged beside the live file, then renamed over it: never half a file in place
        steps.append(f"install -D -o root -g root -m {mode} {q_temp} {q_staged} "
                     f"&& rm -f {q_temp} && mv -f {q_staged} {q_dest}")
    if steps:
        yield StringCommand(" && ".join(steps))


def install_binaries(component: str, binaries: list[str] | None = None,
                     support_files: dict[str, str] | None = None) -> Installed:
    """Install `component` by its configured method; return where its binaries are."""
    binaries = binaries or [component]
    method = settings().component(component, "install_method")
    if method == "package":
        return install_package(component, binaries)
    return install_archive(component, binaries, support_files)


@operation()
def service_users(users: list[tuple[str, str]]):
    """
    Non-login system users, each with a group of its own name.

    + users: (name, home) pairs; homes are not created (a service's data folder is made
      by its component with its own mode)
    """
    names = [name for name, _ in users]
    accounts = host.get_fact(ServiceAccounts, names=names)
    groups = accounts["groups"]
    steps = []   # one command for all of them
    for name, home in users:
        if name not in groups:
            steps.append(f"groupadd --system {name}")
        user = accounts["users"].get(name)
        if user is None:
            steps.append(f"useradd --system --gid {name} --home-dir {home} --no-create-home "
                         f"--shell {NOLOGIN} {name}")
            continue
        changes = []
        if name not in groups or user["gid"] != groups[name]:
            changes.append(f"--gid {name}")
        if user["home"] != home:
            changes.append(f"--home {home}")
        if user["shell"] != NOLOGIN:
            changes.append(f"--shell {NOLOGIN}")
        if changes:
            steps.append(f"usermod {' '.join(changes)} {name}")
    if steps:
        yield StringCommand(" && ".join(steps))


def system_user(name: str, home: str) -> None:
    """Plan the service user `name` unless this run already planned it for this host."""
    plan_service_users([(name, home)], name=f"Create the {name} service user")


def plan_service_users(users: list[tuple[str, str | None]], name: str) -> None:
    """deploy.py creates every service user of a host in one step, before any package is
    installed: some distribution packages create users as a side effect (Debian's
    exporters and Alertmanager create `prometheus`), which would make a later "create
    user" step a false prediction in --dry. Each user is planned once per host. A home
    of None means the component runs as no user of its own (cAdvisor runs as root)."""
    wanted = [(u, h) for u, h in users if h is not None and first_plan(f"user {u}")]
    if wanted:
        service_users(name=name, users=wanted)


def directory(path: str, user: str = "root", group: str = "root", mode: str = "0755"):
    """One folder with this owner and mode, in one command (files.directory sends mkdir,
    chown and chmod separately)."""
    return managed_directories(name=f"Create {path}", folders=[(path, user, group, mode)])


def directories(component: str, *folders: tuple[str, str, str, str],
                reset: tuple[str, ...] = ()):
    """Several folders of one component, each (path, user, group, mode), in one command.
    `reset`: folders whose owner and mode are set even when the facts show them right,
    because an earlier step of this run (a package's postinst) changes them after the
    facts were read."""
    return managed_directories(name=f"Create the {component} folders", folders=list(folders),
                               reset=list(reset))


def _directory_steps(path: str, present, user: str, group: str, mode: str) -> list[str]:
    """Shell steps making `path` a folder with this owner and mode; `present` is what
    DirectoriesState tells of it."""
    if present is False:
        raise OperationError(f"{path} exists and is not a directory")
    if present:
        return owner_mode_fixes(path, present, user, group, mode)
    q_path = shlex.quote(path)
    return [f"mkdir -p {q_path}", f"chown {user}:{group} {q_path}", f"chmod {mode} {q_path}"]


@operation()
def managed_directories(folders: list[tuple[str, str, str, str]], reset: list[str] = ()):
    """
    Directories, each (path, user, group, mode), asked in one fact and made in one command
    (in the order given: a parent before its children). The owner and mode of existing
    folders in `reset` are set whatever the fact says.
    """
    present = host.get_fact(DirectoriesState, paths=[folder[0] for folder in folders])

    def steps_of(path, user, group, mode):
        if path in reset and present.get(path):
            q_path = shlex.quote(path)
            return [f"chown {user}:{group} {q_path}", f"chmod {mode} {q_path}"]
        return _directory_steps(path, present.get(path), user, group, mode)

    steps = [step for folder in folders for step in steps_of(*folder)]
    if steps:
        yield StringCommand(" && ".join(steps))
