"""mysqld_exporter: metrics of the MySQL or MariaDB server on hosts of the mysql group.

Its login is a `.my.cnf` ([client] section: user, socket or host and port, password when
a secret names one), readable by the exporter's group only, given by --config.my-cnf.

The default login needs no password: the exporter connects over the server's socket as
the database user `mysqld_exporter`, which is also the name of the system user it runs
as, and MariaDB's unix_socket authentication (MySQL's auth_socket) lets that system user
in as that database user. No secret to keep, rotate or leak; only that one system user
can log in as it. Debian's MariaDB authenticates root the same way, which is how the
deploy itself asks and creates that user (`mysqld_exporter_create_db_user`).

Setting `mysqld_exporter_password_secret` switches to a password login (a MySQL server
without auth_socket, a TCP address in mysqld_exporter_address, a user made by hand).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.command import QuoteString, StringCommand

try:  # pyinfra 3.10 names it HiddenValue; MaskString before
    from pyinfra.api.command import HiddenValue as Hidden
except ImportError:  # pragma: no cover - depends on the pyinfra version
    from pyinfra.api.command import MaskString as Hidden
from pyinfra.operations import server

from operations.base.component import Leaves, exporter
from operations.base.facts import MysqlUser
from operations.base.exporters import ExporterFile, exporter_service, no_home
from operations.base.install import refuse_older_package
from operations.base.inventory import listen_address, secret, settings
from operations.base.releases import promu_release
from operations.base.schema import Setting, SettingsError, secret_setting, version_tuple

NAME = "mysqld_exporter"
CONFIG_DIR = "/etc/mysqld_exporter"
MY_CNF = f"{CONFIG_DIR}/.my.cnf"

# --config.my-cnf's file may leave out the password (a socket login) and name a socket
# from 0.15.0 on; 0.14.0 (Debian 12's) refuses a [client] section without a password or
# ssl-key (mysqld_exporter.go parseMycnf at v0.14.0).
FLOOR = "0.15.0"
# upstream's README at v0.19.0, "Required Grants"
GRANTS = ("PROCESS", "REPLICATION CLIENT", "SELECT")
MAX_USER_CONNECTIONS = 3
# MariaDB 10.5.9 moved SHOW SLAVE STATUS from REPLICATION CLIENT (now an alias of BINLOG
# MONITOR) to SLAVE MONITOR: without it the replication rules have no metrics.
SLAVE_MONITOR_SINCE = (10, 5, 9)


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="MySQL or MariaDB metrics, on hosts of the mysql group",
    port=9104, group="mysql",
    scrape_job=("mysql", "MySQL/MariaDB"),
    release=promu_release(
        "prometheus/mysqld_exporter", NAME, version="0.19.0", oldest=FLOOR,
        oldest_reason="a .my.cnf without password (socket login) needs 0.15.0; Debian 12's "
                      "0.14.0 requires a password or ssl-key in it",
        proven=[("0.17.2", "trixie"), ("0.19.0", "sid")],
        debian_package="prometheus-mysqld-exporter",
        notes="Facts from prometheus/mysqld_exporter at the tags: v0.15.0 mysqld_exporter.go "
              "and config/config.go (--config.my-cnf read with [client] user, password, host, "
              "port, socket; DATA_SOURCE_NAME dropped, CHANGELOG.md 0.15.0); v0.14.0 "
              "mysqld_exporter.go parseMycnf (password or ssl-key required); v0.19.0 "
              "README.md 'Required Grants'; .promu.yml (promu tarballs). No sha256 of any "
              "0.19.0 archive was found in two public sources: none is pinned; pass "
              "artifact_checksums or use the package method (trixie 0.17.2 and newer)."),
    checksums={},
    settings=(
        Setting("mysqld_exporter_socket", "str", "/run/mysqld/mysqld.sock",
                "the server's socket the exporter logs in over (Debian's MariaDB and MySQL)",
                section=NAME),
        Setting("mysqld_exporter_address", "str", None, optional=True, section=NAME,
                help="host:port to log in over TCP instead of the socket (needs "
                     "mysqld_exporter_password_secret)"),
        Setting("mysqld_exporter_db_user", "str", NAME, section=NAME,
                help="the database user it logs in as (socket login: the same name as its "
                     "system user, mysqld_exporter)"),
        secret_setting("mysqld_exporter_password_secret",
                       "the database user's password (none: passwordless socket login, "
                       "MariaDB's unix_socket)", section=NAME),
        Setting("mysqld_exporter_create_db_user", "bool", False, section=NAME,
                help="create the database user on the local server with the grants upstream "
                     "documents (PROCESS, REPLICATION CLIENT, SELECT, at most 3 connections)"),
    ),
    checks=lambda v: settings_problems(v),
)


def settings_problems(v) -> list[str]:
    errors = []
    if v.get("mysqld_exporter_address") and not v.get("mysqld_exporter_password_secret"):
        errors.append("mysqld_exporter_address (a TCP login) needs "
                      "mysqld_exporter_password_secret: the passwordless login works over "
                      "the socket only")
    if (not v.get("mysqld_exporter_password_secret")
            and v.get("mysqld_exporter_db_user", NAME) != NAME):
        errors.append(f"mysqld_exporter_db_user {v['mysqld_exporter_db_user']!r} without "
                      "mysqld_exporter_password_secret: a socket login is the system user's "
                      f"own name, {NAME}")
    user = v.get("mysqld_exporter_db_user") or ""
    if not user.replace("_", "").replace("-", "").isalnum():
        errors.append(f"mysqld_exporter_db_user {user!r}: letters, digits, '_' and '-' only")
    return errors


def ini_value(value: str) -> str:
    """A .my.cnf value read literally by the exporter's ini parser (go-ini: backquotes)."""
    if "`" in value or "\n" in value:
        raise SettingsError("mysqld_exporter's password holds a backquote or a newline, "
                            "which its .my.cnf cannot carry; choose another")
    return f"`{value}`"


def my_cnf(s, password: str | None) -> str:
    lines = ["# written by monstack: mysqld_exporter's login", "[client]",
             f"user = {s.mysqld_exporter_db_user}"]
    if s.mysqld_exporter_address:
        host_part, _, port = s.mysqld_exporter_address.rpartition(":")
        lines += [f"host = {host_part.strip('[]')}", f"port = {port}"]
    else:
        lines.append(f"socket = {s.mysqld_exporter_socket}")
    if password is not None:
        lines.append(f"password = {ini_value(password)}")
    return "\n".join(lines) + "\n"


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wanted_grants(server_version: str) -> list[str]:
    grants = list(GRANTS)
    if "mariadb" in server_version.lower() and version_tuple(
            server_version.split("-")[0]) >= SLAVE_MONITOR_SINCE:
        grants.append("SLAVE MONITOR")
    return grants


# names a server may list a granted privilege under: MariaDB 10.5+ shows REPLICATION
# CLIENT as BINLOG MONITOR, its new name; SLAVE MONITOR has the alias REPLICA MONITOR
SAME_GRANT = {"REPLICATION CLIENT": {"BINLOG MONITOR"}, "SLAVE MONITOR": {"REPLICA MONITOR"}}


def has_grant(held: set[str], grant: str) -> bool:
    return grant in held or bool(SAME_GRANT.get(grant, set()) & held)


def user_statements(found: dict, user: str, password: str | None) -> list:
    """The SQL that makes `found` (the MysqlUser fact) the user we want: a list of str and
    Hidden pieces (the password never shows in pyinfra's output)."""
    account = f"{sql_string(user)}@'localhost'"
    limit = f"WITH MAX_USER_CONNECTIONS {MAX_USER_CONNECTIONS}"
    mariadb = "mariadb" in found["version"].lower()
    statements: list = []
    if not found.get("exists"):
        if password is not None:
            statements.append([f"CREATE USER {account} IDENTIFIED BY ",
                               Hidden(sql_string(password)), f" {limit}"])
        else:
            plugin = "VIA unix_socket" if mariadb else "WITH auth_socket"
            statements.append([f"CREATE USER {account} IDENTIFIED {plugin} {limit}"])
    elif found["max_user_connections"] != MAX_USER_CONNECTIONS:
        statements.append([f"ALTER USER {account} {limit}"])
    grants = wanted_grants(found["version"])
    if not all(has_grant(set(found.get("grants", ())), g) for g in grants):
        statements.append([f"GRANT {', '.join(grants)} ON *.* TO {account}"])
    return statements


def database_user(s, password: str | None) -> None:
    """The exporter's database user, created or completed as the facts show it."""
    found = host.get_fact(MysqlUser, user=s.mysqld_exporter_db_user)
    if found is None:
        raise SettingsError(
            f"host {host.name}: mysqld_exporter_create_db_user is set but no MySQL or "
            "MariaDB server answers its client as root over the socket there")
    statements = user_statements(found, s.mysqld_exporter_db_user, password)
    if not statements:
        return
    pieces: list = []
    for statement in statements:
        pieces += [*statement, "; "]
    # the SQL travels on stdin (printf is the shell's own): a password is never in a
    # process list
    sql = StringCommand(*pieces[:-1], separator="")
    command = StringCommand("printf '%s\\n'", QuoteString(sql),
                            "| $(command -v mariadb || command -v mysql)")
    server.shell(name=f"Create or complete the {NAME} database user",
                 commands=[command])


def check_package_version() -> None:
    """Under the package method: refuse a package older than FLOOR."""
    refuse_older_package(NAME, FLOOR,
                         "its .my.cnf needs a password there: Debian 12 has 0.14.0")


# its service user has no data folder
home = no_home


@deploy("mysqld_exporter")
def install():
    s = settings()
    check_package_version()
    password = (secret(s.mysqld_exporter_password_secret, "mysqld_exporter's database login")
                if s.mysqld_exporter_password_secret else None)
    exporter_service(
        NAME, home(s), CONFIG_DIR,
        folders=[(CONFIG_DIR, "root", NAME, "0750")],
        before_program=((lambda: database_user(s, password))
                        if s.mysqld_exporter_create_db_user else None),
        # written once the TLS files are planned (ini_value refuses some passwords)
        file=lambda web: ExporterFile(
            name="Write mysqld_exporter's login (.my.cnf)", dest=MY_CNF,
            content=my_cnf(s, password), secret=True,
            secrets=[password, ini_value(password)] if password else []),
        description="Prometheus mysqld_exporter (MySQL/MariaDB metrics)",
        documentation="https://github.com/prometheus/mysqld_exporter",
        args=[f"--config.my-cnf={MY_CNF}", f"--web.listen-address={listen_address(NAME)}"],
    )
