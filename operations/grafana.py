"""Grafana: the dashboards, from Grafana's APT repository or its release tarball, as a
hardened service. Its data sources, folder and dashboards are provisioned over its API by
grafana_provisioning.py once it is ready."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files, python

from . import artifacts, grafana_apt, grafana_provisioning
from .config_files import validated_file
from .context import bind_address, local_url, secret, settings
from .install import directories, install_package, machine, system_user
from .services import Unit, render, service
from .settings import SettingsError

NAME = "grafana"
CONFIG_DIR = "/etc/grafana"
CONFIG = f"{CONFIG_DIR}/grafana.ini"
# Grafana's deb is its release tarball, top folder stripped, in /usr/share/grafana, and
# its own unit grafana-server.service (masked: ours is grafana.service). From 13.0.0 the
# tarball holds bin/grafana alone (no grafana-server or grafana-cli, so no /usr/sbin
# wrappers to rely on either): our unit runs `bin/grafana server`, as the tarball install
# does.
PACKAGE_HOME = "/usr/share/grafana"
PACKAGED_UNIT = "grafana-server"
ARCHIVE_ROOT = "/usr/local/share"
ARCHIVE_MARKER = ".monstack-archive-sha256"
# What Grafana's ini reading would change in a value: a """-quoted value ends at """,
# ${VAR} and $__env{...}/$__file{...} are expanded, go-ini interpolates %(key)s.
INI_MANGLED = re.compile(r'"""|"$|[\r\n]|\$(__\w+)?\{|%\(')


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.grafana_data_dir


def package_name(machine_name: str) -> str:
    # Grafana builds armv6 (Raspberry Pi 1 / Zero) only as a separate package of its APT
    # repository, grafana-rpi (same layout); every other architecture gets grafana.
    return "grafana-rpi" if machine_name == "armv6l" else "grafana"



def admin_password(s) -> str:
    name = s.grafana_admin_password_secret
    password = secret(name, "Grafana's admin password")
    if INI_MANGLED.search(password):
        raise SettingsError(f"secret {name} (Grafana's admin password) holds a line break, "
                            '""", a trailing ", ${, $__name{ or %( which grafana.ini would '
                            "not keep as written; choose another password")
    return password


def config_content(s) -> str:
    root_url = s.grafana_root_url
    if root_url and not root_url.startswith(("http://", "https://")):
        raise SettingsError(f"grafana_root_url: {root_url!r} is not an http(s):// URL")
    return render(
        "grafana/grafana.ini.j2",
        http_addr=bind_address(NAME, s=s), http_port=s.grafana_port, root_url=root_url,
        data_dir=s.grafana_data_dir.rstrip("/"), admin_user=s.grafana_admin_user,
        admin_password=admin_password(s),
        cookie_secure=bool(root_url and root_url.startswith("https://")),
        allow_sign_up=s.grafana_allow_sign_up, anonymous=s.grafana_anonymous_access)


# -- package method ------------------------------------------------------------------------
def install_from_repository(s) -> tuple[str, list]:
    # the key and the source, planned once per host: Loki and Alloy use them too
    grafana_apt.repository(s)
    installed = install_package(NAME, [NAME], package=package_name(machine()),
                                unit=PACKAGED_UNIT, paths={NAME: f"{PACKAGE_HOME}/bin/grafana"},
                                version=grafana_apt.deb_version(NAME, s.grafana_version))
    return PACKAGE_HOME, installed.ops


# -- archive method ------------------------------------------------------------------------
@operation()
def unpacked_tree(archive: str, sha256: str, dest: str, strip: int):
    """
    A verified release archive unpacked whole into the folder `dest`, once.

    + archive: the archive on the controller (verified against `sha256` already)
    + strip: leading folders of the archive to drop (its top folder)

    `dest`/.monstack-archive-sha256 records the archive it came from: the decision is
    made from that one fact, so --dry is exact and a second run does nothing.
    """
    marker = f"{dest}/{ARCHIVE_MARKER}"
    if host.get_fact(Sha1File, path=marker) == hashlib.sha1(f"{sha256}\n".encode()).hexdigest():
        return
    staged, tmp = f"{dest}.tar.gz.monstack-new", f"{dest}.monstack-new"
    q_staged, q_tmp, q_dest = shlex.quote(staged), shlex.quote(tmp), shlex.quote(dest)
    yield FileUploadCommand(archive, staged, remote_temp_filename=host.get_temp_filename(staged))
    yield StringCommand(
        f"rm -rf {q_tmp} && mkdir {q_tmp} && "
        f"tar -xzf {q_staged} -C {q_tmp} --strip-components={strip} --no-same-owner && "
        f"chmod -R go-w {q_tmp} && printf '%s\\n' {sha256} > {q_tmp}/{ARCHIVE_MARKER} && "
        f"rm -rf {q_dest} && mv {q_tmp} {q_dest} && rm -f {q_staged} "
        f"|| {{ rm -rf {q_tmp} {q_staged}; exit 1; }}")


def install_from_archive(s) -> tuple[str, list]:
    """The whole tarball (bin/grafana needs its conf/ and public/ beside it) unpacked to a
    folder of its version. Not files.sync: that checks each of the tree's thousands of
    files with remote commands, at plan time and again at run time. Here the archive,
    already verified and test-unpacked on the controller, is uploaded and unpacked only
    when the folder's marker does not name its sha256."""
    cache = os.path.expanduser(s.artifact_cache_dir)
    artifact, folder = artifacts.prepare(NAME, s.grafana_version, machine(), s.artifact_mirror,
                                         s.artifact_checksums, cache)
    artifacts.binary_paths(artifact, folder)  # bin/grafana is there
    archive = Path(cache) / artifact.file_name
    # the archive's top folder is grafana-v<version> or grafana-<version>: strip what it has
    strip = len(folder.relative_to(archive.with_name(archive.name + ".d")).parts)
    tree = f"{ARCHIVE_ROOT}/grafana-{artifact.version}"
    ops = [unpacked_tree(name=f"Install Grafana {artifact.version} ({artifact.file_name}) "
                              f"in {tree}",
                         archive=str(archive), sha256=artifact.sha256, dest=tree, strip=strip),
           files.link(name="Link /usr/local/bin/grafana to it", path="/usr/local/bin/grafana",
                      target=f"{tree}/bin/grafana")]
    return tree, ops


@deploy("Grafana")
def install():
    s = settings()
    content = config_content(s)  # the admin password first: unset, nothing is planned
    system_user(NAME, home(s))
    if s.grafana_install_method == "package":
        grafana_home, install_ops = install_from_repository(s)
    else:
        grafana_home, install_ops = install_from_archive(s)
    # after the package: its postinst sets these folders to 0755 when it installs
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (s.grafana_data_dir, NAME, NAME, "0750"))
    config_op = validated_file(
        name="Write grafana.ini (Grafana has no config checker)", dest=CONFIG,
        content=content, user="root", group=NAME, mode="0640", secret=True)
    unit = Unit(
        name=NAME, user=NAME,
        description="Grafana", documentation="https://grafana.com/docs/grafana/latest/",
        write_paths=[s.grafana_data_dir],
        memory_deny_write_execute=False,  # as in Grafana's own hardened unit
        exec_start=[f"{grafana_home}/bin/grafana", "server", f"--config={CONFIG}",
                    f"--homepath={grafana_home}", *s.grafana_extra_flags],
    )
    # the first start migrates the database: slow on a Raspberry Pi
    service(unit, local_url(NAME, "/api/health"), restart_on=install_ops,
            reload_on=[config_op], ready_seconds=300)

    grafana = grafana_provisioning.connect(s, host)
    if grafana.state == grafana_provisioning.ROTATE:
        python.call(name="Change Grafana's admin password over its API (grafana.ini sets it "
                         "only at the first start)",
                    function=grafana_provisioning.change_admin_password, grafana=grafana)
