"""Grafana Alloy: the log shipper on every host. It reads the systemd journal, the log
files of alloy_log_paths and, where Docker runs, the containers' logs, and pushes them to
Loki with the labels host, job, unit / container / filename and level.

Alloy runs as its own user alloy, in the groups that may read logs: systemd-journal (the
journal), adm (/var/log) and docker (the Docker socket) where those groups exist and their
source is shipped. The groups are given by the unit (SupplementaryGroups), not added to
the account.
"""

from __future__ import annotations

import json

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Socket

from operations.base import grafana_repository
from operations.base.addresses import url_problem
from operations.base.component import Component, Leaves
from operations.base.facts import SystemGroups
from operations.base.files import validated_file
from operations.base.grafana_repository import VERSION_HELP
from operations.base.install import directories, install_binaries, system_user
from operations.base.inventory import (endpoint, host_label, hosts_running, listen_address,
                                       local_url, settings)
from operations.base.schema import Setting, SettingsError, version_tuple
from operations.base.services import Unit, service
from operations.base.templates import render

NAME = "alloy"
CONFIG_DIR = "/etc/alloy"
CONFIG = f"{CONFIG_DIR}/config.alloy"
DATA_DIR = "/var/lib/alloy"          # --storage.path: positions of files and journal
PACKAGE_BINARY = "/usr/bin/alloy"    # where Grafana's deb puts it
DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_HOST = f"unix://{DOCKER_SOCKET}"
LOG_GROUPS = ("systemd-journal", "adm")
LOKI_PUSH_PATH = "/loki/api/v1/push"

# The level field of a line: logfmt (level=warn), JSON ("level":"error") or "severity:
# info", case-insensitive. Only known level words are taken, so no line can invent label
# values (every value is a stream in Loki).
LEVEL_REGEX = (r"""(?i)(?:^|[\s{,"'])["']?(?:level|lvl|severity)["']?\s*[=:]\s*["']?"""
               r"(?P<level>trace|debug|info|notice|warn(?:ing)?|err(?:or)?|crit(?:ical)?"
               r"|alert|emerg(?:ency)?|fatal|panic)\b")
# After lower-casing: the journal's keywords (warning, crit) and short forms, as one name.
LEVEL_ALIASES = (("err", "error"), ("warning", "warn"), ("crit", "critical"),
                 ("emergency", "emerg"))


def settings_problems(values: dict) -> list[str]:
    """loki.write takes an http(s) URL; another one leaves Alloy shipping nothing."""
    url = values["alloy_loki_url"]
    problem = url and url_problem("alloy_loki_url", url,
                                  f"http://loki.lan:3100{LOKI_PUSH_PATH}")
    return [problem] if problem else []

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(DATA_DIR,),
                  packages=(NAME,))   # Grafana's repository's package


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    help="log shipper: journal, log files and Docker containers to Loki",
    port=12345, group="all", listen_address="auto",
    scrape_job=("alloy", "the Alloy log shipper"),
    install_method="package",
    install_help=("`archive`: upstream zip (x86_64, aarch64; via artifact_mirror; no sha256 "
                  "is pinned: give it in artifact_checksums); `package`: Grafana's APT "
                  "repository (package alloy)"),
    version_help=VERSION_HELP,
    checks=settings_problems,
    release={
        "version": "1.17.1",
        "oldest": "1.0.0",
        "oldest_reason": ("the first Alloy release; every component of config.alloy and run's "
                          "flags are there at v1.0.0"),
        "proven": [],
        "url": "https://github.com/grafana/alloy/releases/download/v{version}/{file}",
        "file": "alloy-linux-{arch}.zip",
        "format": "zip",
        "top_dir": None,
        "binaries": {"alloy": "alloy-linux-{arch}"},
        "arch": {"x86_64": "amd64", "aarch64": "arm64"},
        "checksums": "https://github.com/grafana/alloy/releases/download/v{version}/SHA256SUMS",
        "checksums_mirror_name": "alloy-v{version}-SHA256SUMS",
        "deb_version": "{version}-1",
        "debian_package": None,
        "notes": "Floor checked at v1.0.0: loki.source.journal, loki.source.file, loki.source.docker, discovery.docker, discovery.relabel, local.file_match, loki.process, loki.relabel (action lowercase: internal/component/common/relabel/relabel.go) and loki.write are documented there, and cmd_run.go has --server.http.listen-addr, --storage.path and --disable-reporting. Test doubles only: the suite runs no real build of it (proven is []). The Grafana docs list Linux AMD64 and ARM64 only, with no 32-bit ARM build, so the Pi 1/Zero "
                 "and 32-bit Pi OS are not supported. There are also alloy-boringcrypto-linux-{amd64,arm64} "
                 "zips. Zips are verified against the release's SHA256SUMS (v1.17.1 "
                 "scripts/publish-release-artifacts.sh: `sha256sum -- *` in dist/ after zipping the "
                 "binaries, uploaded with them by .github/workflows/release-publish-alloy-artifacts.yml). "
                 "Not pinned: the only 1.17.1 hashes seen were in an example comment of a Homebrew "
                 "formula template (amd64 b92bfa28..., arm64 730d41d9...), which is not a reliable source. "
                 "The Grafana APT repo has package alloy (not checked here). `alloy validate` "
                 "exists from v1.9.0 on (internal/alloycli/cmd_validate.go is absent at v1.8.3, "
                 "present at v1.9.0 and v1.17.1; docs/sources/reference/cli/validate.md at v1.17.1: "
                 "exit non-zero with diagnostics on stderr, run's --stability.level and "
                 "--feature.community-components.enabled must be given to it too). deb_version "
                 "'{version}-1': build-tools/make/packaging.mk at v1.17.1 runs fpm -v "
                 "<VERSION without v> --iteration 1 (ALLOY_PACKAGE_RELEASE); the deb puts "
                 "/usr/bin/alloy and /usr/lib/systemd/system/alloy.service.",
    },
    settings=(
        Setting("alloy_log_paths", "list", ["/var/log/*.log"], section="alloy",
                help="log files Alloy tails (glob patterns; [] for none)"),
        Setting("alloy_journal", "bool", True, section="alloy",
                help="ship the systemd journal (labels unit and level)"),
        Setting("alloy_docker_logs", "choice", "auto", choices=("auto", "true", "false"),
                section="alloy", help=(
                    "ship Docker containers' logs (label container); auto: where "
                    "/var/run/docker.sock and the docker group exist")),
        Setting("alloy_loki_url", "str", None, optional=True, section="alloy", help=(
            "push URL of the Loki to ship to (default: the first Loki host of the inventory, "
            "http://<host>:<loki_port>/loki/api/v1/push)")),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder."""
    return DATA_DIR


def alloy_string(value: str) -> str:
    """`value` as an Alloy string literal (Go-style double-quoted escapes)."""
    return json.dumps(value, ensure_ascii=False)


def loki_push_url(s) -> str:
    """alloy_loki_url, or the push endpoint of the first Loki host of the inventory."""
    if s.alloy_loki_url:
        return s.alloy_loki_url
    lokis = sorted(hosts_running("loki"), key=lambda h: h.name)
    if not lokis:
        raise SettingsError(
            f"host {s.host_name}: Alloy ships logs to Loki, but no host of the inventory "
            f"runs Loki (group {s.loki_group!r}, loki_enabled): add one, set alloy_loki_url "
            "to your Loki's push URL, or set alloy_enabled = False")
    return f"http://{endpoint('loki', lokis[0])}{LOKI_PUSH_PATH}"


def ships_docker(s) -> bool:
    """alloy_docker_logs; auto: the Docker socket exists and so does the docker group
    that may read it."""
    if s.alloy_docker_logs != "auto":
        return s.alloy_docker_logs == "true"
    return bool(host.get_fact(Socket, path=DOCKER_SOCKET)) and "docker" in host.get_fact(
        SystemGroups, names=["docker"])


def config_content(s, host_name: str, loki_url: str, docker: bool) -> str:
    for path in s.alloy_log_paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise SettingsError(f"host {s.host_name}: alloy_log_paths: {path!r} is not an "
                                "absolute path (glob patterns such as /var/log/*.log)")
    return render(
        "alloy/config.alloy.j2", quote=alloy_string, host=host_name, loki_url=loki_url,
        journal=s.alloy_journal, log_paths=list(s.alloy_log_paths), docker=docker,
        docker_host=DOCKER_HOST, level_regex=LEVEL_REGEX, level_aliases=LEVEL_ALIASES)


def groups(s, docker: bool) -> list[str]:
    """The unit's supplementary groups: only those the host has (a missing one would stop
    the unit from starting)."""
    wanted = [*LOG_GROUPS, "docker"] if docker else list(LOG_GROUPS)
    present = host.get_fact(SystemGroups, names=wanted)
    return [g for g in wanted if g in present]


# `alloy validate` came with v1.9.0 (grafana/alloy internal/alloycli/cmd_validate.go)
VALIDATE_SINCE = (1, 9, 0)
# run's flags that change what validate accepts: its docs ask for the values run gets
VALIDATE_SHARES = ("--stability.level", "--feature.community-components.enabled")


def config_check(version: str) -> str:
    """The subcommand that checks config.alloy for this Alloy version."""
    return "validate" if version_tuple(version) >= VALIDATE_SINCE else "fmt"


def validator(binary: str, check: str = "fmt", run_flags: list[str] | tuple = ()) -> str:
    """`alloy validate` loads the file as `run` would (unknown components, unknown or
    missing arguments are errors) and exits non-zero naming them; `alloy fmt`, all older
    releases have, only parses it (and prints it formatted). validate is given the
    stability and community-component flags of the unit's command line."""
    if check == "fmt":
        return f"{binary} fmt {{path}}"
    shared = [f for f in run_flags if f.split("=", 1)[0] in VALIDATE_SHARES]
    return " ".join([binary, "validate", *shared, "{path}"])


def unit(s, binary: str, supplementary_groups: list[str]) -> Unit:
    return Unit(
        name=NAME, user=NAME, reloadable=True,   # Alloy reloads its config on SIGHUP
        description="Grafana Alloy (ships logs to Loki)",
        documentation="https://grafana.com/docs/alloy/latest/",
        write_paths=[DATA_DIR],
        supplementary_groups=supplementary_groups,
        exec_start=[binary, "run", f"--server.http.listen-addr={listen_address(NAME)}",
                    f"--storage.path={DATA_DIR}", "--disable-reporting",
                    *s.alloy_extra_flags, CONFIG],
        # the journal and /var/log are read through the read-only system view; the Docker
        # socket is AF_UNIX; AF_NETLINK for Go's interface listing
        address_families=["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"],
    )


def install_alloy(s):
    if s.alloy_install_method == "package":
        return grafana_repository.install(NAME, {NAME: PACKAGE_BINARY}, s.alloy_version)
    return install_binaries(NAME)


def reset_by_package(s, binaries) -> tuple[str, ...]:
    """The folders whose owner and mode the package's postinst sets again on every install
    and upgrade (grafana/alloy v1.17.1 packaging/deb/control/postinst: /etc/alloy to
    root:alloy 0770), when this run installs the package: the facts, read before that,
    cannot show it."""
    return (CONFIG_DIR,) if s.alloy_install_method == "package" and binaries.ops else ()


@deploy("Alloy")
def install():
    s = settings()
    docker = ships_docker(s)
    content = config_content(s, host_label(host), loki_push_url(s), docker)
    system_user(NAME, home(s))
    binaries = install_alloy(s)
    # after the package: its postinst makes both 0770 (/etc/alloy on upgrades too)
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (DATA_DIR, NAME, NAME, "0750"),
                reset=reset_by_package(s, binaries))
    alloy = binaries.path(NAME)
    check = config_check(s.alloy_version)
    config_op = validated_file(
        name=f"Write config.alloy (checked by alloy {check})", dest=CONFIG, content=content,
        validate=validator(alloy, check, s.alloy_extra_flags), user="root", group=NAME,
        mode="0640")
    service(unit(s, alloy, groups(s, docker)), local_url(NAME, "/-/ready"),
            restart_on=binaries.ops, reload_on=[config_op])
