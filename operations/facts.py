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
