"""Facts of our own, for what pyinfra's built-in facts do not tell."""

from __future__ import annotations

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
        return ("mine=$(ip -o addr show | awk '{split($4, a, \"/\"); print a[1]}'); "
                f"for a in $(getent ahosts {shlex.quote(address)} | awk '{{print $1}}' | uniq); do "
                "if printf '%s\\n' \"$mine\" | grep -qxF \"$a\"; then echo \"local:$a\"; exit 0; fi; "
                "done; echo none")

    def process(self, output):
        line = "".join(output).strip()
        return line[len("local:"):] if line.startswith("local:") else None


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
