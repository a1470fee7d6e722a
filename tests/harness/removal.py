"""The last step of an end-to-end module: every component it ran is switched off, with its
data purged, and the hosts are checked to hold nothing of them.

`switch_off_and_purge(write_inventory_with, hosts)`: `write_inventory_with(extra)` writes
the module's inventory again with `extra` (settings of every host, over anything else it
sets) and gives its path; `hosts`: (host, [component, ...]) pairs, what each host ran.
Every one of those components gets `<c>_enabled: False` and `<c>_purge_data: True`; the
preview must list exactly what the run then does, every removal of each component on
each host among it. Then each host is asked directly (not through the deploy's own fact,
DeployedLeftovers) whether anything of them is left, from what the catalogue says they
leave (operations/stack.py COMPONENTS[c].leaves, given the host's settings as the deploy
sees them: the inventory loaded as pyinfra's CLI loads it); and the next `--dry` and run
change nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable


from harness.pyinfra_cli import REPO, assert_preview_was_exact, preview_then_run, run_pyinfra
from operations.base.component import Leaves
from operations.base.facts import program_stamp
from operations.stack import COMPONENTS, INSTALLED, INSTALLERS, RELEASES, validate

STARTED = "/var/lib/monstack/started"
NO_HOME = "/nonexistent"
UNIT_DIR = "/etc/systemd/system"
BIN_DIR = "/usr/local/bin"


def inventory_with(inventory: Path, folder: Path) -> Callable[[dict], Path]:
    """A `write_inventory_with` for the module's inventory file as it is: `extra` is added
    to every host's data (over its group data and its own), written in `folder` with a
    copy of the inventory's group_data/."""
    def write(extra: dict) -> Path:
        source = Path(inventory)
        groups = {}
        exec(compile(source.read_text(), str(source), "exec"), {}, groups)
        lines = ["# the module's inventory, every host's data with the settings of a test"]
        for group, entries in groups.items():
            rows = [f"    ({name!r}, {{**{data!r}, **{extra!r}}}),"
                    for name, data in entries]
            lines.append(f"{group} = [\n" + "\n".join(rows) + "\n]")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / source.name
        target.write_text("\n".join(lines) + "\n")
        if (source.parent / "group_data").is_dir():
            shutil.copytree(source.parent / "group_data", folder / "group_data",
                            dirs_exist_ok=True)
        return target
    return write


def switch_off_settings(components) -> dict:
    """Every one of `components` off, its data purged."""
    extra = {}
    for c in components:
        extra[f"{c}_enabled"] = False
        if c in INSTALLED:   # a scrape-only component has no data of the deploy's
            extra[f"{c}_purge_data"] = True
    return extra


# Loaded as the pyinfra CLI loads it (its inventory reader, from the repository's top
# folder), in a process of its own: importing pyinfra_cli patches ssl with gevent for
# everything after it (as tests/unit/test_placement_checks.py does).
HOST_DATA_AS_THE_CLI_READS_IT = """
import json, sys
from pyinfra.api import Config, State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
state = State(check_for_changes=False)
with ctx_state.use(state):
    inventory = make_inventory(sys.argv[1], cwd=".")
print(json.dumps({h.name: h.data.dict() for h in inventory}, default=str))
"""


def host_settings(inventory: Path, env: dict | None = None) -> dict:
    """Each inventory host's validated settings (by its inventory name), from its data as
    the CLI reads it: the project's group_data, then the inventory's own, then the host's."""
    res = subprocess.run([sys.executable, "-c", HOST_DATA_AS_THE_CLI_READS_IT, str(inventory)],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert res.returncode == 0, res.stderr[-2000:]
    return {name: validate(name, data) for name, data in json.loads(res.stdout).items()}


def leaves_of(c: str, s) -> Leaves:
    leaves = COMPONENTS[c].leaves
    return (leaves(s) if callable(leaves) else leaves) or Leaves()


def programs_of(c: str) -> list[str]:
    """/usr/local/bin paths of its release's programs (of a release shared by several
    components, the one named like it)."""
    names = list(RELEASES[COMPONENTS[c].release_key].get("binaries") or {c: c})
    if COMPONENTS[c].release_name:
        names = [n for n in names if n == c]
    return [f"{BIN_DIR}/{n}" for n in names]


def packages_of(c: str, leaves: Leaves) -> list[str]:
    if leaves.packages is not None:
        return list(leaves.packages)
    package = RELEASES[COMPONENTS[c].release_key].get("debian_package")
    return [package] if package else []


def packaged_units_of(c: str, leaves: Leaves) -> list[str]:
    if leaves.packaged_units is not None:
        return list(leaves.packaged_units)
    package = RELEASES[COMPONENTS[c].release_key].get("debian_package")
    return [package] if package and package != c else []


def what_is_left(host, c: str, s) -> list[str]:
    """What is still on `host` of component `c` (settings `s`), each a short sentence;
    empty when nothing is."""
    q = shlex.quote
    leaves = leaves_of(c, s)
    home = INSTALLERS[c].home(s)
    checks = []   # (what, shell command that succeeds when it is gone)
    unit = f"{UNIT_DIR}/{c}.service"
    checks.append((f"unit file {unit}", f"test ! -e {q(unit)} && test ! -L {q(unit)}"))
    checks.append((f"unit {c}.service active",
                   f"! systemctl is-active --quiet {q(c + '.service')}"))
    for program in programs_of(c):
        checks.append((f"program {program}", f"test ! -e {q(program)}"))
        checks.append((f"program stamp of {program}", f"test ! -e {q(program_stamp(program))}"))
    for path in leaves.program_files:
        checks.append((f"program file {path}", f"test ! -e {q(path)}"))
    for link, _ in leaves.links:
        checks.append((f"link {link}", f"test ! -L {q(link)}"))
    for folder, glob, marker in leaves.trees:
        checks.append((f"release tree {folder}/{glob} (with {marker})",
                       f"for d in {q(folder)}/{glob}; do test ! -e \"$d\"/{q(marker)} || "
                       "exit 1; done"))
    for path in leaves.config:
        checks.append((f"config {path}", f"test ! -e {q(path)}"))
    checks.append((f"started stamp of {c}", f"test ! -e {q(f'{STARTED}/{c}.service')}"))
    data = list(leaves.data)
    if home and home != NO_HOME and home not in data:
        data.insert(0, home)
    for path in data:
        checks.append((f"data {path}", f"test ! -e {q(path)}"))
    if home is not None:   # it ran as a user of its own
        checks.append((f"service user {c}", f"! getent passwd {q(c)} >/dev/null"))
        checks.append((f"service group {c}", f"! getent group {q(c)} >/dev/null"))
    if s.component(c, "install_method") == "package":
        for package in packages_of(c, leaves):
            checks.append((f"package {package} installed",
                           f"! dpkg-query -W -f='${{Status}}' {q(package)} 2>/dev/null "
                           "| grep -q ' installed$'"))
        for packaged in packaged_units_of(c, leaves):
            path = f"{UNIT_DIR}/{packaged}.service"
            checks.append((f"packaged unit {packaged} masked",
                           f"test \"$(readlink {q(path)})\" != /dev/null"))
    for path in leaves.diversions:
        checks.append((f"diversion of {path}",
                       f"! dpkg-divert --list {q(path)} | grep -q 'by monstack$'"))
    # one round trip: each check prints its number when something is left
    script = "; ".join(f"( {command} ) || echo LEFT{i}" for i, (_, command) in enumerate(checks))
    out = host.ssh(script).stdout.split()
    return [checks[int(word[4:])][0] for word in out if word.startswith("LEFT")]


def removal_ops(c: str, s) -> list[str]:
    """The names of the operations that remove component `c` from a host (settings `s`)
    that ran it with its data purged (operations/base/removal.py remove())."""
    names = [f"Remove {c} (disabled here): stop, disable, unit, programs"]
    if s.component(c, "install_method") == "package":
        names.append(f"Remove {c}'s package (disabled here)")
    names.append(f"Remove {c}'s config and started stamp (disabled here)")
    home = INSTALLERS[c].home(s)
    if home is not None or leaves_of(c, s).data:
        names.append(f"Remove {c}'s data and service user (disabled here, {c}_purge_data)")
    return names


def switch_off_and_purge(write_inventory_with: Callable[[dict], Path], hosts, **run_kw):
    """Switch every component of `hosts` ((host, [component, ...]) pairs) off with its
    data purged, and check it is gone from each host that ran it, as --dry said; the next
    --dry and run change nothing. `run_kw`: passed to every run (env, ...). Returns the
    inventory written."""
    components = sorted({c for _, names in hosts for c in names})
    inventory = write_inventory_with(switch_off_settings(components))
    dry, real = preview_then_run(inventory, **run_kw)
    assert_preview_was_exact(dry, real)
    settings = host_settings(inventory, run_kw.get("env"))
    changed = real.changed_ops()

    def hosts_changed_by(name: str) -> int:
        return sum(n for op, n in changed.items() if op.split(" | ")[-1] == name)

    expected: dict[str, int] = {}
    for host, names in hosts:
        s = settings[host.ip]
        for c in names:
            if c not in INSTALLED:   # scrape-only: the deploy put nothing there
                continue
            for name in removal_ops(c, s):
                expected[name] = expected.get(name, 0) + 1
    for name, count in expected.items():
        assert hosts_changed_by(name) == count, (name, count, changed)
    for c in components:
        if c not in INSTALLED:
            assert not [op for op in changed if f"Remove {c}" in op], (c, changed)
    left = {}
    for host, names in hosts:
        for c in names:
            if c in INSTALLED:
                found = what_is_left(host, c, settings[host.ip])
                if found:
                    left[(host.name, c)] = found
    assert left == {}, left
    assert run_pyinfra(inventory, dry=True, **run_kw).check().changed_ops() == {}
    assert run_pyinfra(inventory, **run_kw).check().changed_ops() == {}
    return inventory
