"""Facts of our own, for what pyinfra's built-in facts do not tell."""

from __future__ import annotations

import ipaddress
import re
import shlex

from pyinfra.api import FactBase


class PostgresRole(FactBase):
    """A role of the local PostgreSQL server, asked as the postgres OS user:
    {"login": bool, "monitor": bool}, {} when the role does not exist, None when there is
    no server to ask."""

    def requires_command(self, role: str) -> str:
        return "psql"

    def command(self, role: str) -> str:
        query = ("SELECT rolcanlogin::int || '|' || pg_has_role(rolname, 'pg_monitor', "
                 f"'MEMBER')::int FROM pg_roles WHERE rolname = '{role}'")
        # always print a line: pyinfra treats empty output as "no fact"
        return (f"out=$(runuser -u postgres -- psql -tAXc {shlex.quote(query)} 2>/dev/null) "
                "&& echo \"role:$out\" || echo unavailable")

    def process(self, output):
        line = "".join(output).strip()
        if not line.startswith("role:"):
            return None
        line = line[len("role:"):]
        if not line:
            return {}
        login, monitor = line.split("|")
        return {"login": login == "1", "monitor": monitor == "1"}


class MysqlUser(FactBase):
    """A user@localhost of the local MySQL or MariaDB server, asked by root over the
    socket: {"version": VERSION(), "exists": bool, "max_user_connections": int,
    "grants": [global privileges]}; None when there is no server (or client) to ask."""

    def command(self, user: str) -> str:
        name = user.replace("'", "")
        grantee = f"CONCAT(CHAR(39), '{name}', CHAR(39), '@', CHAR(39), 'localhost', CHAR(39))"
        where = f"User = '{name}' AND Host = 'localhost'"
        query = ("SELECT CONCAT_WS('|', VERSION(), "
                 f"(SELECT COUNT(*) FROM mysql.user WHERE {where}), "
                 f"IFNULL((SELECT max_user_connections FROM mysql.user WHERE {where}), 0), "
                 "IFNULL((SELECT GROUP_CONCAT(PRIVILEGE_TYPE) FROM "
                 f"information_schema.USER_PRIVILEGES WHERE GRANTEE = {grantee}), ''))")
        # always print a line: pyinfra treats empty output as "no fact"
        return ("c=$(command -v mariadb || command -v mysql) && "
                f"out=$(\"$c\" -NBe {shlex.quote(query)} 2>/dev/null) "
                "&& echo \"user:$out\" || echo unavailable")

    def process(self, output):
        line = "".join(output).strip()
        if not line.startswith("user:"):
            return None
        fields = line[len("user:"):].split("|")
        if len(fields) != 4 or not fields[1].isdigit():
            return None
        version, count, limit, grants = fields
        return {"version": version, "exists": int(count) > 0,
                "max_user_connections": int(limit) if limit.isdigit() else 0,
                "grants": sorted(g for g in grants.split(",") if g)}


class HttpAnswers(FactBase):
    """Does http://`address`:`port``path` answer with `marker` in its response? True or
    False. Asked with bash's /dev/tcp: a host needs no curl or wget."""

    def command(self, address: str, port: int, path: str, marker: str) -> str:
        request = f"GET {path} HTTP/1.0\\r\\nHost: {address}\\r\\n\\r\\n"
        script = (f"exec 3<>/dev/tcp/{address.strip('[]')}/{int(port)} && "
                  f"printf '{request}' >&3 && cat <&3")
        return (f"if timeout 5 bash -c {shlex.quote(script)} 2>/dev/null "
                f"| grep -qF {shlex.quote(marker)}; then echo answers:yes; "
                "else echo answers:no; fi")

    def process(self, output):
        return "".join(output).strip() == "answers:yes"


# Keys whose values are masked when a file holding secrets is shown (--diff). Matched on
# the host too, so a live file's old secrets never leave it, even with -vvv.
SECRET_KEY_WORDS = ("password", "passwd", "token", "secret", "key", "url", "dsn",
                    "data_source_name")
SECRET_MASK = "********"


class MaskedFileContents(FactBase):
    """A file's lines with the value of every secret-looking `key: value` / `key = value`
    / `KEY=value` replaced by SECRET_MASK on the host; None when the file is missing."""

    def command(self, path: str) -> str:
        words = "|".join(SECRET_KEY_WORDS)
        expr = (r"s/^([[:space:]]*(-[[:space:]]+)?[[:alnum:]_.-]*(" + words + r")[[:alnum:]_.-]*"
                r"[[:space:]]*[:=][[:space:]]*)[^[:space:]].*$/\1" + SECRET_MASK + "/I")
        q = shlex.quote(path)
        # a marker line first: pyinfra treats empty output as "no fact"
        return f"test -f {q} && {{ echo file:; sed -E {shlex.quote(expr)} {q}; }} || true"

    def process(self, output):
        lines = list(output)
        if not lines or lines[0] != "file:":
            return None
        return lines[1:]


class LocalAddressOf(FactBase):
    """The address `address` resolves to on the host, if the host has that address on one of
    its interfaces (what an exporter binds to so it is reachable there and nowhere else);
    None when it has not (NAT, a load balancer, an unresolvable name)."""

    def requires_command(self, address: str) -> str:
        return "ip"

    def command(self, address: str) -> str:
        literal = ip_literal(address)
        if literal:  # inventories mostly name hosts by address: no resolver to ask
            # reached over SSH at that very address (sshd's SSH_CONNECTION: client address
            # and port, then the host's own address and port): it is the host's, no program
            # to start; else (NAT, a jump host, sudo's clean environment) `ip` tells
            return (f"set -- $SSH_CONNECTION; if [ \"${{3:-}}\" = '{literal}' ] || "
                    f"ip -o addr show | grep -qF ' {literal}/'; then echo 'local:{literal}'; "
                    "else echo none; fi")
        # the first of its addresses that is the host's (a loop left, not an exit: the
        # command may share a shell with other facts)
        return ("mine=$(ip -o addr show | awk '{split($4, a, \"/\"); print a[1]}'); l=none; "
                f"for a in $(getent ahosts {shlex.quote(address)} | awk '{{print $1}}' | uniq); do "
                "if printf '%s\\n' \"$mine\" | grep -qxF \"$a\"; then l=\"local:$a\"; break; fi; "
                "done; echo \"$l\"")

    def process(self, output):
        line = "".join(output).strip()
        return line[len("local:"):] if line.startswith("local:") else None


def ip_literal(address: str) -> str | None:
    """`address` written as `ip addr` prints it (compressed IPv6, no zone), when it is an IP
    address; None for a name or anything unusual, which goes through the resolver."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return None if getattr(parsed, "scope_id", None) else str(parsed)


class FreeSpace(FactBase):
    """MiB free for a service user (df's "Available") on the filesystem holding `path`, or
    its nearest existing parent (a folder not made yet); None when df cannot tell."""

    def command(self, path: str) -> str:
        return (f"p={shlex.quote(path)}; "
                "while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; "
                "df -Pk \"$p\" | awk 'NR == 2 {print \"kib:\" $4}'")

    def process(self, output):
        line = "".join(output).strip()
        kib = line[len("kib:"):]
        return int(kib) // 1024 if line.startswith("kib:") and kib.isdigit() else None


PROGRAM_STAMPS = "/var/lib/monstack/programs"


def program_stamp(path: str) -> str:
    """Where the quick-check record of an installed program lives."""
    return f"{PROGRAM_STAMPS}/{path.strip('/').replace('/', '%')}.stamp"


def write_program_stamp(path: str, sha1: str) -> str:
    """Shell: record `path`'s size, ctime and inode with its sha1 (see InstalledProgram)."""
    q, stamp = shlex.quote(path), shlex.quote(program_stamp(path))
    return (f"mkdir -p {PROGRAM_STAMPS} && {{ stat -L -c '%s %.9Z %i' {q}; echo {sha1}; }} "
            f"> {stamp}")


class InstalledProgram(FactBase):
    """An installed executable: {user, group, mode, sha1, stamped}, None when missing.

    Hashing every binary (Prometheus' is ~100 MB) on every run was the largest part of a
    no-op run on the host. The sha1 recorded when we installed it is used while the file's
    size, ctime and inode are those recorded then (ctime cannot be set back by a
    user: any write, chmod or replacement changes it); otherwise it is hashed again."""

    def command(self, path: str) -> str:
        q, stamp = shlex.quote(path), shlex.quote(program_stamp(path))
        # the stamp's two lines read by the shell itself (a no-op run asks this of every
        # program on every host)
        return (f"if [ -e {q} ]; then set -- $(stat -L -c '%s %.9Z %i %U %G %a' {q}); "
                f"k=; h=; [ -f {stamp} ] && {{ read -r k; read -r h; }} < {stamp}; "
                f"if [ -f {stamp} ] && [ \"$k\" = \"$1 $2 $3\" ]; "
                f"then echo \"$4 $5 $6 $h stamped\"; "
                f"else echo \"$4 $5 $6 $(sha1sum < {q} | cut -d' ' -f1) hashed\"; fi; "
                "else echo missing; fi")

    def process(self, output):
        fields = "".join(output).split()
        if len(fields) != 5:
            return None
        user, group, mode, sha1, how = fields
        return {"user": user, "group": group, "mode": int(mode), "sha1": sha1,
                "stamped": how == "stamped"}


class ProgramVersion(FactBase):
    """The version an installed program says it is (`<path> --version`, first X.Y.Z of its
    first line); None when it is missing or says none."""

    def command(self, path: str) -> str:
        q = shlex.quote(path)
        return f"if [ -x {q} ]; then {q} --version 2>&1 | head -1; fi; true"

    def process(self, output):
        found = re.search(r"\d+\.\d+\.\d+", "".join(output))
        return found.group(0) if found else None


class StagedLeftovers(FactBase):
    """What sits staged (a name ending in .monstack-new) directly in any of `folders`: an
    upload or move an interrupted run did not finish."""

    def command(self, folders) -> str:
        quoted = " ".join(shlex.quote(f) for f in folders)
        # globs, not find: no program started for a folder with nothing staged
        return (f"for d in {quoted}; do [ -d \"$d\" ] || continue; "
                "for f in \"$d\"/*.monstack-new \"$d\"/.*.monstack-new; do "
                "if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f\"; fi; done; done; true")

    def process(self, output):
        return sorted(line for line in output if line)


# Asked about by name: pyinfra's Users fact runs lastlog, id and grep for every account of
# the host (~0.2 s of CPU a host), its systemd facts list every unit (~0.07 s each).
class ServiceAccounts(FactBase):
    """{"users": {name: {gid, home, shell}}, "groups": {name: gid}} of those of `names`
    that exist as users, and as groups (the primary group is told by its number: the
    component's group is among `names`). One `grep` of /etc/group and /etc/passwd, where
    useradd and groupadd write them; `getent` (other account databases: LDAP, sssd) only
    for a name found in neither: a no-op starts one program, not two `getent` (each
    loads the name service modules)."""

    def command(self, names) -> str:
        quoted = " ".join(shlex.quote(n) for n in names)
        patterns = " ".join("-e " + shlex.quote(f"^{n}:") for n in names)
        return ("echo accounts:; "
                f"found=$(grep -sh {patterns} /etc/group /etc/passwd); "
                'if [ -n "$found" ]; then printf \'%s\\n\' "$found"; fi; '
                f"for n in {quoted}; do case \"\n$found\" in *\"\n$n:\"*) ;; "
                '*) getent group "$n"; getent passwd "$n";; esac; done; true')

    def process(self, output):
        # a group line has 4 fields (members are comma-separated), a user line 7
        accounts = {"users": {}, "groups": {}}
        for line in output[1:]:
            fields = line.split(":")
            if len(fields) == 4 and fields[2].isdigit():
                accounts["groups"].setdefault(fields[0], int(fields[2]))
            elif len(fields) == 7 and fields[3].isdigit():
                accounts["users"].setdefault(fields[0], {"gid": int(fields[3]),
                                                         "home": fields[5],
                                                         "shell": fields[6]})
        return accounts


class SystemGroups(FactBase):
    """Those of `names` that are groups of the host."""

    def command(self, names) -> str:
        quoted = " ".join(shlex.quote(n) for n in names)
        return (f"echo groups:; getent group {quoted} | while IFS=: read -r n _; do echo \"$n\"; "
                "done; true")

    def process(self, output):
        return [line.strip() for line in output[1:] if line.strip()]


STARTED_DIR = "/var/lib/monstack/started"   # a stamp per service, touched at each (re)start
DPKG_DIVERSIONS = "/var/lib/dpkg/diversions"   # dpkg's own list: path, diverted to, package


def _settled(unit: str, program: str) -> str:
    """A shell test, run by the shell alone (no program started), true only for a unit in
    the state the deploy leaves it: its file in /etc/systemd/system, not newer than the
    deploy's stamp of its last (re)start, no drop-in folder beside it (systemd read
    what is on disk: the deploy reloads it before each restart), enabled (its
    multi-user.target.wants link), and exactly one process in its control group that runs
    `program` as it is on disk. Anything else (a stopped, failed or forking service, a
    changed unit or program, cgroup v1) is asked of systemd, which costs the host ~10 ms
    of CPU a unit (systemctl and systemd's own work), most of a no-op's."""
    u = shlex.quote(unit)
    path = shlex.quote(f"/etc/systemd/system/{unit}")
    stamp = shlex.quote(f"{STARTED_DIR}/{unit}")
    procs = " ".join(shlex.quote(f"{top}/system.slice/{unit}/cgroup.procs")
                     for top in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"))
    return (f"{{ pid=; more=; [ -e {stamp} ] && [ -f {path} ] && [ ! -L {path} ] && "
            f"[ ! {path} -nt {stamp} ] && [ ! -e {path}.d ] && "
            f"[ ! -e /run/systemd/system/{u}.d ] && [ ! -e /run/systemd/system/{u} ] && "
            f"[ -L /etc/systemd/system/multi-user.target.wants/{u} ] && "
            f"for c in {procs}; do if [ -r \"$c\" ]; then "
            "{ read -r pid; read -r more; } < \"$c\"; break; fi; done; "
            '[ -n "$pid" ] && [ -z "$more" ] && '
            f"[ /proc/\"$pid\"/exe -ef {shlex.quote(program)} ]; }}")


class UnitState(FactBase):
    """One systemd unit as the deploy manages it: {"enabled": bool (UnitFileState enabled
    or static), "running": bool (SubState running), "daemon_reload": systemd has not read
    its changed unit file, "binary_replaced": the running process's executable is no longer
    on disk (an install replaced it), "newer": those of the `watched` files written after
    the deploy last (re)started or reloaded it (its stamp in STARTED_DIR; without a stamp,
    after the process started, by more than a second)}.

    `program`, the unit's executable, lets a unit in the state the deploy leaves it be told
    without systemctl (see `_settled`)."""

    def requires_command(self, unit: str, watched=(), program: str | None = None) -> str:
        return "systemctl"

    def command(self, unit: str, watched=(), program: str | None = None) -> str:
        q = shlex.quote(unit)
        stamp = shlex.quote(f"{STARTED_DIR}/{unit}")
        files = " ".join(shlex.quote(f) for f in watched)
        newer_files = f"for f in {files}; do newer \"$f\" && echo \"Newer=$f\"; done; "
        # one systemctl for the four properties (each call costs the host more than the
        # rest of this fact); the pid taken from its answer by the shell alone
        asked = (f"state=$(systemctl show -p UnitFileState -p SubState -p NeedDaemonReload "
                 f"-p MainPID {q} 2>/dev/null); printf '%s\\n' \"$state\"; pid=0; "
                 'for kv in $state; do case $kv in MainPID=*) pid=${kv#MainPID=};; esac; '
                 'done; '
                 'if [ "${pid:-0}" -gt 0 ] 2>/dev/null; then '
                 'echo "Exe=$(readlink /proc/$pid/exe 2>/dev/null)"; '
                 f"if [ -e {stamp} ]; then newer() {{ [ \"$1\" -nt {stamp} ]; }}; else "
                 f"start=$(systemctl show -p ExecMainStartTimestamp --timestamp=unix {q} "
                 "2>/dev/null | sed -n 's/^ExecMainStartTimestamp=@//p'); "
                 'newer() { [ -n "$start" ] && [ -n "$(find "$1" -maxdepth 0 '
                 '-newermt "@$((start + 1))" 2>/dev/null)" ]; }; fi; '
                 f"{newer_files}fi; true")
        if not program:
            return asked
        return (f"if {_settled(unit, program)}; then "
                "echo UnitFileState=enabled; echo SubState=running; "
                f"echo NeedDaemonReload=no; echo Exe={shlex.quote(program)}; "
                f"newer() {{ [ \"$1\" -nt {stamp} ]; }}; {newer_files}true; "
                f"else {asked}; fi")

    def process(self, output):
        values, newer = {}, []
        for line in output:
            key, _, value = line.partition("=")
            if key == "Newer":
                newer.append(value)
            else:
                values[key] = value
        return {"enabled": values.get("UnitFileState") in ("enabled", "static"),
                "running": values.get("SubState") == "running",
                "daemon_reload": values.get("NeedDaemonReload") == "yes",
                "binary_replaced": values.get("Exe", "").endswith(" (deleted)"),
                "newer": newer}


class PackageVersion(FactBase):
    """A Debian package's version: the installed one, else the one apt would install;
    None when apt knows no such package."""

    def command(self, package: str) -> str:
        q = shlex.quote(package)
        return (f"v=$(dpkg-query -W -f='${{Version}}' {q} 2>/dev/null); "
                f"[ -n \"$v\" ] || v=$(apt-cache policy {q} 2>/dev/null "
                "| sed -n 's/^ *Candidate: //p'); echo \"version:$v\"")

    def process(self, output):
        line = "".join(output).strip()
        version = line[len("version:"):] if line.startswith("version:") else ""
        return version if version and version != "(none)" else None


# Asked once for all the files (or folders) of one operation: pyinfra asks its File,
# Sha1File and Directory facts one command each, and asks them again while executing, once
# the host has changed (a round trip per file of a first converge).
class FilesState(FactBase):
    """{"files": {path: None (missing) | "other" (not a regular file) | {user, group, mode,
    sha1}}, "present": [every file under `folder`]} of `paths` (and `folder`)."""

    def command(self, paths, folder: str | None = None) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        # one stat and one sha1sum for all the regular files (a program started per file
        # cost the most); sha1sum's lines are "<sha1>  <path>"
        script = ("echo files:; set --; for p in " + quoted + "; do "
                  "if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then set -- \"$@\" \"$p\"; "
                  "elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo \"other $p\"; "
                  "else echo \"missing $p\"; fi; done; "
                  "if [ $# -gt 0 ]; then stat -c 'file %U %G %a %n' -- \"$@\"; "
                  "sha1sum -- \"$@\"; fi; " if paths else "echo files:; ")
        if folder:
            q = shlex.quote(folder)
            script += f"if [ -d {q} ]; then find {q} -type f | sed 's/^/present /'; fi; "
        return script + "true"

    def process(self, output):
        state, sha1s = {"files": {}, "present": []}, {}
        for kind, rest in tagged_lines(output):
            if kind == "file":
                user, group, mode, path = rest.split(" ", 3)
                state["files"][path] = {"user": user, "group": group, "mode": int(mode),
                                        "sha1": None}
            elif kind == "other":
                state["files"][rest] = "other"
            elif kind == "missing":
                state["files"][rest] = None
            elif kind == "present":
                state["present"].append(rest)
            elif len(kind) == 40 and rest.startswith(" "):
                sha1s[rest[1:]] = kind
        for path, found in state["files"].items():
            if isinstance(found, dict):
                # an unreadable file has no sha1: it differs from any wanted content
                found["sha1"] = sha1s.get(path)
        return state

    @staticmethod
    def pick(state, paths):
        """The answer for `paths` out of one asked for more (see PathsState)."""
        return {"files": {p: state["files"].get(p) for p in paths}, "present": []}


class DirectoriesState(FactBase):
    """{path: None (missing) | False (not a folder) | {user, group, mode}} of `paths`, as
    pyinfra's Directory fact tells each."""

    def command(self, paths) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        # one stat for all the folders (a program started per folder cost the most)
        return ("echo dirs:; set --; for p in " + quoted + "; do "
                "if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then set -- \"$@\" \"$p\"; "
                "elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo \"other $p\"; "
                "else echo \"missing $p\"; fi; done; "
                "if [ $# -gt 0 ]; then stat -c 'dir %U %G %a %n' -- \"$@\"; fi; true")

    def process(self, output):
        state = {}
        for kind, rest in tagged_lines(output):
            if kind == "dir":
                user, group, mode, path = rest.split(" ", 3)
                state[path] = {"user": user, "group": group, "mode": int(mode)}
            elif kind in ("other", "missing"):
                state[rest] = False if kind == "other" else None
        return state

    @staticmethod
    def pick(state, paths):
        """The answer for `paths` out of one asked for more (see PathsState)."""
        return {p: state.get(p) for p in paths}


class MarkedFolders(FactBase):
    """{name: the hex word of its `marker` file ("" when it holds none) | None} of every
    folder directly in `folder` (hidden ones aside): None for a folder without that
    marker, or one that is a symbolic link (someone else's: never ours to change). {} when
    `folder` is missing."""

    def command(self, folder: str, marker: str) -> str:
        q, m = shlex.quote(folder.rstrip("/") or "/"), shlex.quote(marker)
        return ("echo folders:; "
                f"if [ -d {q} ]; then for d in {q}/*/; do [ -d \"$d\" ] || continue; "
                'p=${d%/}; n=${p##*/}; '
                f"if [ -f \"$p\"/{m} ] && [ ! -L \"$p\" ]; then "
                f"s=$(head -n 1 \"$p\"/{m} | tr -cd 0-9a-f); echo \"marked ${{s:--}} $n\"; "
                'else echo "other $n"; fi; done; fi; true')

    def process(self, output):
        found = {}
        for kind, rest in tagged_lines(output):
            if kind == "marked":
                sha, _, name = rest.partition(" ")
                found[name] = "" if sha == "-" else sha
            elif kind == "other":
                found[rest] = None
        return found


class DeployedLeftovers(FactBase):
    """Which of the things a deploy puts on a host are there, for components the host no
    longer runs (operations/base/removal.py), in one command: {"units": those of `units`
    whose /etc/systemd/system/<unit>.service starts with `header`, "started": those with a
    stamp in STARTED_DIR, "programs": those of `programs` present with our program stamp,
    "stamps": those whose stamp is there, "paths": those of `paths` present, "links": the
    links of `links` ([link, target prefix]) pointing under their prefix, "trees": the
    folders matching `trees` ([folder, glob, marker]) that hold the marker, "packages":
    those of `packages` installed, "masked": those of `masked` (units) linked to
    /dev/null in /etc/systemd/system, "diversions": those of `diversions` diverted by
    `diverted_by`, "users", "groups": those of `users` that exist}."""

    def command(self, header: str, units=(), programs=(), paths=(), links=(), trees=(),
                packages=(), masked=(), diversions=(), diverted_by: str = "",
                users=()) -> str:
        # Loops over the names, not a line per name: the script goes to every host on
        # every run (it was 20 KB), and one dpkg-query asks for every package at once.
        # The pairs' loops reuse the positional parameters in place, not in a subshell
        # each (a fork per loop, on every host of every run; nothing after reads them).
        q = shlex.quote
        words = lambda items: " ".join(q(str(i)) for i in items)   # noqa: E731
        say = "printf '%s\\n'"
        lines = ["echo leftovers:"]
        if units:
            lines.append(
                f"H={q(header)}; for n in {words(units)}; do f=/etc/systemd/system/$n.service; "
                f"l=; if [ -f \"$f\" ] && [ ! -L \"$f\" ] && IFS= read -r l < \"$f\"; "
                f"then case $l in *\"$H\"*) {say} \"unit $n\";; esac; fi; if [ -e {q(STARTED_DIR)}/\"$n\".service ]; then "
                f"{say} \"started $n\"; fi; done")
        if programs:   # (program, its stamp) pairs
            pairs = words(x for path in programs for x in (path, program_stamp(path)))
            lines.append(f"set -- {pairs}; while [ $# -gt 1 ]; do if [ -f \"$2\" ]; then "
                         f"{say} \"stamp $1\"; if [ -e \"$1\" ]; then {say} \"program $1\"; fi; "
                         f"fi; shift 2; done")
        if paths:
            lines.append(f"for p in {words(paths)}; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then "
                         f"{say} \"path $p\"; fi; done")
        if links:      # (link, target prefix) pairs
            lines.append(f"set -- {words(x for pair in links for x in pair)}; "
                         f"while [ $# -gt 1 ]; do if [ -L \"$1\" ]; then case \"$(readlink "
                         f"\"$1\")\" in \"$2\"*) {say} \"link $1\";; esac; fi; shift 2; done")
        for folder, glob, marker in trees:   # glob: a pattern of our own code
            lines.append(f"for d in {q(folder.rstrip('/'))}/{glob}; do if [ -d \"$d\" ] && "
                         f"[ ! -L \"$d\" ] && [ -f \"$d\"/{q(marker)} ]; then echo \"tree $d\"; "
                         "fi; done")
        if packages:   # "<name> install ok installed" for each installed one; dpkg-query
            # only asked about those dpkg keeps a file list of (every unpacked package has
            # info/<name>.list; <name>:<arch>.list only for Multi-Arch: same ones, which
            # none of ours is): on most hosts none, and no dpkg-query runs
            lines.append(f"set --; for n in {words(packages)}; do "
                         f"if [ -e /var/lib/dpkg/info/\"$n\".list ]; then set -- \"$@\" \"$n\"; fi; "
                         f"done; if [ $# -gt 0 ]; then dpkg-query -W -f='${{Package}} ${{Status}}\\n' "
                         f"\"$@\" 2>/dev/null | while read -r n want ok status; do "
                         f"if [ \"$status\" = installed ]; then {say} \"package $n\"; fi; done; fi")
        if masked:
            lines.append(f"for u in {words(masked)}; do f=/etc/systemd/system/$u.service; "
                         f"if [ -L \"$f\" ] && [ \"$(readlink \"$f\")\" = /dev/null ]; then "
                         f"{say} \"masked $u\"; fi; done")
        if diversions:
            # dpkg-divert only for a path dpkg's list of diversions names at all
            lines.append(f"for p in {words(diversions)}; do d=; if [ -r {DPKG_DIVERSIONS} ]; "
                         f"then while IFS= read -r l; do if [ \"$l\" = \"$p\" ]; then d=1; break; "
                         f"fi; done < {DPKG_DIVERSIONS}; fi; if [ -n \"$d\" ] && "
                         f"[ \"$(dpkg-divert --listpackage \"$p\" 2>/dev/null)\" = {q(diverted_by)} ]; "
                         f"then {say} \"diversion $p\"; fi; done")
        if users:
            lines.append(f"for u in {words(users)}; do if getent passwd \"$u\" >/dev/null; then "
                         f"{say} \"user $u\"; fi; if getent group \"$u\" >/dev/null; then "
                         f"{say} \"group $u\"; fi; done")
        return "; ".join(lines) + "; true"

    KINDS = ("units", "started", "programs", "stamps", "paths", "links", "trees",
             "packages", "masked", "diversions", "users", "groups")

    def process(self, output):
        found = {kind: [] for kind in self.KINDS}
        # each line names its kind in the singular; "started" and "masked" are both
        singular = {kind[:-1]: kind for kind in self.KINDS}
        singular.update(started="started", masked="masked")
        for kind, rest in tagged_lines(output):
            if kind in singular and rest:
                found[singular[kind]].append(rest)
        return found


def tagged_lines(output):
    """(kind, rest) of each line of a fact's output after the header its command echoes
    first ("files:", "dirs:", ...): a line's first word names what the rest is."""
    for line in output[1:]:
        kind, _, rest = line.partition(" ")
        yield kind, rest
