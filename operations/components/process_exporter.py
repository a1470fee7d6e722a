"""process_exporter: named groups of processes (count, CPU, memory, start time) on every
host that enables it, from ncabatoff/process-exporter.

The groups come from `process_exporter_names`, rendered into the exporter's YAML config.
process-exporter has no check mode in the builds the deploy installs (upstream's
`-once-to-stdout-delay` reads the config and exits, but Debian's build has that flag
removed), so the config is checked on the controller instead: the setting's own checks
below refuse every entry the exporter's config reader (config/config.go at v0.8.7) would
refuse, and the unit tests run Debian's real builds on rendered configs.
"""

from __future__ import annotations

import re

from pyinfra.api import deploy

from operations.base.component import Leaves, exporter
from operations.base.exporters import ExporterFile, exporter_service, exporter_unit, no_home
from operations.base.inventory import listen_address, settings
from operations.base.releases import PROMETHEUS_ARCHES, github_release
from operations.base.schema import Setting, re2_problems
from operations.base.services import Unit
from operations.base.templates import render

NAME = "process_exporter"
CONFIG_DIR = "/etc/process_exporter"
CONFIG = f"{CONFIG_DIR}/process_exporter.yml"

# a group's selectors (upstream README, "process selectors"): comm and exe are lists of
# names (any may match), cmdline a list of regular expressions (all must match)
SELECTORS = ("comm", "exe", "cmdline")
# a group name is a literal here: upstream's Go templates ({{.Comm}}) could not be checked
# before the exporter reads them, and would make one setting entry many groups
GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+-]*")
# the kernel's comm: the executable's name cut to 15 characters (TASK_COMM_LEN 16)
COMM_MAX = 15


def group_problems(index: int, entry) -> list[str]:
    """What is wrong with entry `index` of process_exporter_names (none: it is a group)."""
    where = f"process_exporter_names[{index}]"
    if not isinstance(entry, dict):
        return [f"{where}: expected a mapping like {{name: sshd, comm: [sshd]}}, got {entry!r}"]
    problems = []
    unknown = sorted(set(entry) - {"name", *SELECTORS})
    if unknown:
        problems.append(f"{where}: unknown keys {unknown} (a group has name, and comm, exe "
                        "and/or cmdline)")
    name = entry.get("name")
    if not isinstance(name, str) or not GROUP_NAME.fullmatch(name):
        problems.append(f"{where}: name {name!r} must be a plain group name (letters, "
                        "digits and _ . : @ + -), not a template")
    given = [key for key in SELECTORS if key in entry]
    if not given:
        problems.append(f"{where}: {name!r} has no selector: give comm, exe and/or cmdline "
                        "(process-exporter refuses a group without one)")
    for key in given:
        values = entry[key]
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str) and v for v in values):
            problems.append(f"{where}.{key}: expected a non-empty list of non-empty strings, "
                            f"got {values!r}")
            continue
        for value in values:
            if key == "comm" and len(value) > COMM_MAX:
                problems.append(f"{where}.comm: {value!r} is longer than {COMM_MAX} characters "
                                "and can never match (the kernel cuts a process's comm to "
                                f"{COMM_MAX}); use {value[:COMM_MAX]!r} or exe")
            if key == "cmdline":
                problems += re2_problems(f"{where}.cmdline", value)
    return problems


def settings_problems(values: dict) -> list[str]:
    groups = values["process_exporter_names"]
    problems = []
    for index, entry in enumerate(groups):
        problems += group_problems(index, entry)
    names = [e.get("name") for e in groups if isinstance(e, dict)]
    twice = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if twice:
        problems.append(f"process_exporter_names: group names given twice: {twice} (the "
                        "first entry a process matches wins: the second would never count)")
    if values["process_exporter_enabled"] and not groups:
        problems.append("process_exporter_enabled is set but process_exporter_names names no "
                        "process group: give at least one, e.g. "
                        "[{'name': 'sshd', 'comm': ['sshd']}]")
    return problems


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="named groups of processes: count, CPU, memory, restarts",
    port=9256, group="all", enabled=False,
    scrape_job=("process", "named process groups"),
    checks=settings_problems,
    release=github_release(
        "ncabatoff/process-exporter", version="0.8.7", oldest="0.7.10",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("0.7.10", "bookworm"), ("0.8.5", "trixie"), ("0.8.7", "sid")],
        file="process-exporter-{version}.linux-{arch}.tar.gz",
        top_dir="process-exporter-{version}.linux-{arch}",
        binaries={NAME: "process-exporter"},
        arch=PROMETHEUS_ARCHES,
        checksums="checksums.txt",
        debian_package="prometheus-process-exporter",
        notes="Built with goreleaser, not promu (v0.8.7:.goreleaser.yml): archives "
              "process-exporter-<version>.<os>-<arch><v<arm>>.tar.gz wrapped in a folder of "
              "the same name, binary process-exporter, checksum file checksums.txt; goarch "
              "amd64, 386, arm (goarm 6 and 7), arm64, ppc64, ppc64le. Flags at v0.8.7 "
              "(cmd/process-exporter/main.go): -config.path, -web.listen-address (default "
              ":9256), -web.config.file, -gather-smaps; config keys process_names with name, "
              "comm, exe, cmdline (README.md, config/config.go). No check mode: "
              "-once-to-stdout-delay reads the config and exits, but Debian's builds drop "
              "that flag, so the config is checked by the setting's own checks. armv7/armv6 "
              "are not pinned."),
    checksums={
        "process-exporter-0.8.7.linux-amd64.tar.gz": "6d274cca5e94c6a25e55ec05762a472561859ce0a05b984aaedb67dd857ceee2",  # x3+: zulip puppet/zulip/manifests/common.pp; scylladb's process-exporter install script; a process-exporter RPM spec; a course page quoting checksums.txt
        "process-exporter-0.8.7.linux-arm64.tar.gz": "4a2502f290323e57eeeb070fc10e64047ad0cd838ae5a1b347868f75667b5ab0",  # x3+: same sources as amd64
    },
    settings=(
        Setting("process_exporter_names", "list", [], section="process_exporter", help=(
            "the named process groups: a list of {name, comm, exe, cmdline} as "
            "process-exporter's config documents them (name a plain group name; comm: "
            "process names of up to 15 characters, exe: argv[0] names or paths, any of "
            "them matching; cmdline: regular expressions, all matching), e.g. "
            "[{'name': 'sshd', 'comm': ['sshd']}]; a process counts in the first group it "
            "matches")),
    ),
)


def config(s) -> str:
    """process_exporter.yml: the groups of process_exporter_names, selectors in upstream's
    order, nothing else."""
    groups = [{"name": entry["name"], **{k: entry[k] for k in SELECTORS if k in entry}}
              for entry in s.process_exporter_names]
    return render("process_exporter/process_exporter.yml.j2", groups=groups)


def unit_fields(s) -> dict:
    """Its unit but for the program and the flags of its TLS and login (exporter_unit)."""
    return dict(
        description="Prometheus process-exporter (named process groups)",
        documentation="https://github.com/ncabatoff/process-exporter",
        args=[f"-config.path={CONFIG}", f"-web.listen-address={listen_address(NAME)}",
              # /proc/<pid>/smaps of other users' processes is unreadable to it
              "-gather-smaps=false"],
        # it reads /proc/<pid>/ of every process: they must be visible
        protect_proc="default",
    )


def unit(s, binary: str, web_flags: list[str]) -> Unit:
    return exporter_unit(NAME, binary, web_flags, **unit_fields(s))


# its service user has no data folder
home = no_home


@deploy("process_exporter")
def install():
    s = settings()
    exporter_service(
        NAME, home(s), CONFIG_DIR,
        folders=[(CONFIG_DIR, "root", NAME, "0750")],
        # no check mode (see the module's doc): checked by the settings' checks; it reads
        # its config only at start: a change restarts it
        file=ExporterFile(name="Write process_exporter.yml (checked on the controller)",
                          dest=CONFIG, content=config(s)),
        **unit_fields(s),
    )
