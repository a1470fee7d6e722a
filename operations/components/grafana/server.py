"""Grafana: the dashboards, from Grafana's APT repository or its release tarball, as a
hardened service. Its data sources, folder and dashboards are provisioned over its API by
grafana_provisioning.py once it is ready."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files, python

from operations.base import artifacts, grafana_repository
from operations.base.addresses import url_problem
from operations.base.component import Backup, Component, Leaves
from operations.base.files import stages_beside, unpacked_in_place, validated_file
from operations.base.grafana_repository import VERSION_HELP
from operations.base.install import (ARCHIVE_BIN_DIR, directories, install_package, machine,
                                     system_user)
from operations.base.inventory import bind_address, endpoint, local_url, settings
from operations.base.schema import Setting
from operations.base.services import Unit, service
from operations.base.templates import render
from operations.components.grafana import alerting, community, login, plugins
from operations.components.grafana import provisioning as grafana_provisioning

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
# URL settings -> an example of each; apt also reads a repository from a local folder
URLS = {"grafana_root_url": "https://grafana.example.org/",
        "grafana_url": "http://mon1.lan:3000",
        "grafana_apt_repo_url": "https://apt.grafana.com (or file:///srv/grafana-apt)",
        "grafana_apt_key_url": "https://apt.grafana.com/gpg.key"}
URL_SCHEMES = {"grafana_apt_repo_url": ("http", "https", "file")}


def users_url(h) -> str:
    """The URL users reach the Grafana of host `h` at (links in alerts): its
    grafana_root_url, else its address and port (Grafana serves plain HTTP here)."""
    return (settings(h).grafana_root_url or f"http://{endpoint(NAME, h)}").rstrip("/")


def settings_problems(values: dict) -> list[str]:
    """Grafana's URLs: users', the controller's and apt's; checked here, not where
    they are used (the API is reached only after every host is planned)."""
    found = (url_problem(key, values[key], example, URL_SCHEMES.get(key, ("http", "https")))
             for key, example in URLS.items() if values[key] is not None)
    return ([problem for problem in found if problem]
            + login.settings_problems(values) + plugins.settings_problems(values)
            + community.settings_problems(values) + alerting.settings_problems(values))

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(
        config=(CONFIG_DIR,), data=(s.grafana_data_dir, plugins.plugins_dir(s)),
        # Grafana's repository's package (grafana-rpi on armv6), its own unit masked
        packages=("grafana", "grafana-rpi"), packaged_units=(PACKAGED_UNIT,),
        # the archive method: the unpacked tree of each version, the link to its program
        trees=((ARCHIVE_ROOT, "grafana-*", ARCHIVE_MARKER),),
        links=((f"{ARCHIVE_BIN_DIR}/grafana", f"{ARCHIVE_ROOT}/grafana-"),))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    # weekly, as the design notes ask: its database through sqlite3's online backup (a
    # consistent copy of the live file) and every dashboard as JSON from the copy
    backup=Backup(method="sqlite", paths=("grafana.db",), schedule="weekly",
                  data_dir_setting="grafana_data_dir", packages=("sqlite3",),
                  writes_data_dir=True, ready_path="/api/health"),
    help="dashboards; data sources and dashboards provisioned over its API",
    port=3000, group="monitoring",
    install_help=("`archive`: upstream tarball (x86_64, aarch64; via artifact_mirror); "
                  "`package`: Grafana's APT repository (package grafana, or grafana-rpi on "
                  "armv6l hosts)"),
    version_help=VERSION_HELP,
    checks=settings_problems,
    release={
        "version": "13.2.3",
        "oldest": "10.0.0",
        "oldest_reason": ("the unit runs `bin/grafana server`, the form Grafana asks for from "
                          "10.0.0 on (grafana/grafana PR #66976 deprecated grafana-server "
                          "there)"),
        "proven": [],
        "url": "https://dl.grafana.com/oss/release/{file}",
        "file": "grafana-{version}.linux-{arch}.tar.gz",
        "format": "tar.gz",
        "top_dir": "grafana-v{version}",
        "binaries": {"grafana": "bin/grafana"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": "https://dl.grafana.com/oss/release/{file}.sha256",
        "deb_version": "{version}",
        "debian_package": None,
        "notes": "Test doubles only: the suite runs no real build of it (proven is []). OSS build. Enterprise is grafana-enterprise-{version}.linux-{arch}.tar.gz under "
                 "/enterprise/release/. Grafana also publishes the same release as "
                 "dl.grafana.com/grafana/release/{version}/grafana_{version}_<build-id>_linux_{arch}.tar.gz, "
                 "but the pins below are for the oss/release name. top_dir 'grafana-v{version}' is what "
                 "zulip uses for 12.3.3 and has not been checked for 13.x; one script expects 'grafana-{version}' "
                 "for the build-id tarball. Strip the one top-level directory rather than trust the name. "
                 "bin/grafana is the only binary from 13.0.0 on (`grafana server`, `grafana cli`): the "
                 "grafana-server and grafana-cli binaries were dropped from the build for 13.0.0 "
                 "(grafana/grafana PR #120225; the 12.4.x backport PR #122125 keeps them below 13.0.0; "
                 "grafana.com what's-new 2026-04-14 'removal of grafana-cli and grafana-server "
                 "commands'; an endoflife-date report (PR #9982) finds no grafana-server on 13.0.1 "
                 "and 13.1.0 installs). NOT read at tag v13.2.3: the grafana/grafana repository is "
                 "too large to fetch here, so the tarball layout and the deb's /usr/sbin wrappers "
                 "rest on those sources. "
                 "32-bit ARM: armv7 (armhf) builds have been unlisted on the download page since about 10.1.x "
                 "but were still uploaded as debs (grafana/grafana#84994). armv6 is only the 'grafana-rpi' deb "
                 "(grafana-rpi_{version}_armhf.deb, depends on musl) from the Grafana APT repo "
                 "(grafana/grafana#92385, #56773). No armv6/armv7 tarball is confirmed for 13.x, so they are left "
                 "out of the arch map. Grafana is not packaged in Debian; it comes from Grafana's APT repo "
                 "(grafana, grafana-enterprise, grafana-rpi). deb_version '{version}': NOT verified at "
                 "the tag; a stored (unknown-date) pkg/build/daggerbuild/fpm/build.go calls fpm with "
                 "--version=<version without v> and no --iteration, and apt.grafana.com lists plain "
                 "versions such as 12.0.2.",
    },
    checksums={
        "grafana-13.2.3.linux-amd64.tar.gz": "6107ad27016296aac38e0d7ffa8753ab540b5541ad27e94790f771289d733235",  # x2: enajx/nanoHPC src/nanohpc/deploy.py; 'himmel' install-grafana.sh (taken from dl.grafana.com's .sha256)
        "grafana-13.2.3.linux-arm64.tar.gz": "a2a41b960ba4c25e83140484e48813730d3c81891a128439a2a9d2df6eb3840e",  # x2: same sources as amd64
    },
    settings=(
        Setting("grafana_admin_user", "str", "admin", section="grafana",
                help="login of Grafana's server admin (used to provision over the API)"),
        Setting("grafana_admin_password_secret", "str", "GRAFANA_ADMIN_PASSWORD",
                section="grafana", help=(
                    "name of the secret holding the admin password (there is no default "
                    "password: the deploy stops while it is unset)")),
        Setting("grafana_admin_password_previous_secret", "str", None, optional=True,
                section="grafana", help=(
                    "name of the secret holding the admin password Grafana has now, to change "
                    "it to the one above (Grafana reads admin_password only at its first "
                    "start)")),
        Setting("grafana_root_url", "str", None, optional=True, section="grafana",
                help="URL users reach Grafana at (https: secure cookies)"),
        Setting("grafana_data_dir", "str", "/var/lib/grafana", section="grafana",
                help="database, plugins and logs"),
        Setting("grafana_apt_repo_url", "str", "https://apt.grafana.com", section="grafana",
                help="Grafana's APT repository (package method; or your mirror of it)"),
        Setting("grafana_apt_key_url", "str", "https://apt.grafana.com/gpg.key",
                section="grafana", help=(
                    "signing key of that repository, downloaded once on the controller into "
                    "artifact_cache_dir (delete it there to fetch it again)")),
        Setting("grafana_apt_key_file", "str", None, optional=True, section="grafana",
                help="controller path of that key, instead of downloading it (air-gapped sites)"),
        Setting("grafana_allow_sign_up", "bool", False, section="grafana",
                help="let visitors create their own accounts"),
        Setting("grafana_anonymous_access", "bool", False, section="grafana",
                help="let visitors view dashboards without logging in"),
        Setting("grafana_dashboards_dir", "str", None, optional=True, section="grafana",
                help="controller folder of your own dashboard JSON files (each with a uid)"),
        Setting("grafana_extra_datasources", "list", [], section="grafana", help=(
            "more data sources: [{uid, name, type, url, access, jsonData, secureJsonData}]; "
            "secureJsonData keys ending in _secret name a secret")),
        Setting("grafana_service_account", "str", "monstack", optional=True, section="grafana",
                help=("service account (Admin) with a token for automation, created once; its "
                      "token is written to grafana_token_dir; unset: none")),
        Setting("grafana_token_dir", "str", "~/.config/monstack/grafana-tokens",
                section="grafana", help=(
                    "controller folder (0700) where each Grafana host's service-account token "
                    "is kept, as <host>.token (0600); a lost token is replaced on the next run")),
        Setting("grafana_folder", "str", "Monitoring", section="grafana",
                help="title of the folder (uid monstack) holding the dashboards"),
        Setting("grafana_url", "str", None, optional=True, section="grafana", help=(
            "URL the controller reaches Grafana's API at (default: http://<host address>:"
            "<grafana_port>)")),
    ) + login.SETTINGS + plugins.SETTINGS + community.SETTINGS + alerting.SETTINGS,
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return s.grafana_data_dir


def package_name(machine_name: str) -> str:
    # Grafana builds armv6 (Raspberry Pi 1 / Zero) only as a separate package of its APT
    # repository, grafana-rpi (same layout); every other architecture gets grafana.
    return "grafana-rpi" if machine_name == "armv6l" else "grafana"



def admin_password(s) -> str:
    return login.ini_secret(s.grafana_admin_password_secret, "Grafana's admin password",
                            "password")


def config_content(s) -> str:
    root_url = s.grafana_root_url   # an http(s) URL: settings_problems
    return render(
        "grafana/grafana.ini.j2",
        http_addr=bind_address(NAME, s=s), http_port=s.grafana_port, root_url=root_url,
        data_dir=s.grafana_data_dir.rstrip("/"), admin_user=s.grafana_admin_user,
        admin_password=admin_password(s),
        cookie_secure=bool(root_url and root_url.startswith("https://")),
        allow_sign_up=s.grafana_allow_sign_up, anonymous=s.grafana_anonymous_access,
        login_ini=login.ini_content(s))


# -- package method ------------------------------------------------------------------------
def install_from_repository(s) -> tuple[str, list]:
    # the key and the source, planned once per host: Loki and Alloy use them too
    grafana_repository.repository(s)
    installed = install_package(NAME, [NAME], package=package_name(machine()),
                                unit=PACKAGED_UNIT, paths={NAME: f"{PACKAGE_HOME}/bin/grafana"},
                                version=grafana_repository.deb_version(NAME, s.grafana_version))
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
    yield from unpacked_in_place(archive, dest, dest, strip=strip, marker=ARCHIVE_MARKER,
                                 sha256=sha256)


def install_from_archive(s) -> tuple[str, list]:
    """The whole tarball (bin/grafana needs its conf/ and public/ beside it) unpacked to a
    folder of its version. Not files.sync: that checks each of the tree's thousands of
    files with remote commands, at plan time and again at run time. Here the archive,
    already verified and test-unpacked on the controller, is uploaded and unpacked only
    when the folder's marker does not name its sha256."""
    cache = os.path.expanduser(s.artifact_cache_dir)
    artifact, folder = artifacts.prepare(NAME, s.grafana_version, machine(), s.artifact_mirror,
                                         s.artifact_checksums, cache,
                                         s.artifact_checksums_from_release)
    artifacts.binary_paths(artifact, folder)  # bin/grafana is there
    archive = Path(cache) / artifact.file_name
    # the archive's top folder is grafana-v<version> or grafana-<version>: strip what it has
    strip = len(folder.relative_to(archive.with_name(archive.name + ".d")).parts)
    tree = f"{ARCHIVE_ROOT}/grafana-{artifact.version}"
    stages_beside(tree)
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
    ldap_content = login.ldap_content(s)  # its bind password too
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
    ldap_ops = login.install_ldap(s, ldap_content)
    # Grafana loads plugins only at its start: any plugin installed or removed restarts it
    plugin_ops = plugins.install(s)
    unit = Unit(
        name=NAME, user=NAME,
        description="Grafana", documentation="https://grafana.com/docs/grafana/latest/",
        write_paths=[s.grafana_data_dir],
        memory_deny_write_execute=False,  # as in Grafana's own hardened unit
        exec_start=[f"{grafana_home}/bin/grafana", "server", f"--config={CONFIG}",
                    f"--homepath={grafana_home}", *s.grafana_extra_flags],
    )
    # the first start migrates the database: slow on a Raspberry Pi
    service(unit, local_url(NAME, "/api/health"), restart_on=[*install_ops, *plugin_ops],
            reload_on=[config_op, *ldap_ops], ready_seconds=300)

    grafana = grafana_provisioning.connect(s, host)
    if grafana.state == grafana_provisioning.ROTATE:
        python.call(name="Change Grafana's admin password over its API (grafana.ini sets it "
                         "only at the first start)",
                    function=grafana_provisioning.change_admin_password, grafana=grafana)
