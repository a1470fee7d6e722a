"""postgres_exporter: metrics of the PostgreSQL server on hosts of the postgres group."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from .config_files import validated_file
from .context import listen_address, local_url, secret, settings
from .facts import PostgresRole
from .install import directory, install_binaries, system_user
from .services import Unit, service
from .settings import SettingsError
from .web_config import protect

NAME = "postgres_exporter"
CONFIG_DIR = "/etc/postgres_exporter"
ENV_FILE = f"{CONFIG_DIR}/postgres_exporter.env"


def data_source_name(s) -> str:
    dsn = s.postgres_exporter_dsn
    if s.postgres_exporter_password_secret:
        password = secret(s.postgres_exporter_password_secret, "postgres_exporter's password")
        from urllib.parse import quote
        user_part, rest = dsn.split("@", 1)
        dsn = f"{user_part}:{quote(password, safe='')}@{rest}"
    return dsn


def database_role() -> None:
    """A login role in pg_monitor, matched by peer authentication to our system user."""
    role = host.get_fact(PostgresRole, role=NAME)
    if role is None:
        raise SettingsError(
            f"host {host.name}: postgres_exporter_create_db_user is set but no PostgreSQL "
            "server answers psql as the postgres user there")
    statements = []
    if not role:
        statements.append(f"CREATE ROLE {NAME} LOGIN")
    elif not role["login"]:
        statements.append(f"ALTER ROLE {NAME} LOGIN")
    if not role.get("monitor"):
        statements.append(f"GRANT pg_monitor TO {NAME}")
    if statements:
        sql = "; ".join(statements)
        server.shell(name=f"Create the {NAME} database role (pg_monitor)",
                     commands=[f"runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qXc '{sql}'"])


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return "/nonexistent"


@deploy("postgres_exporter")
def install():
    s = settings()
    system_user(NAME, home(s))
    directory(CONFIG_DIR, "root", NAME, "0750")
    if s.postgres_exporter_create_db_user:
        database_role()
    binaries = install_binaries(NAME)
    web = protect(NAME, CONFIG_DIR)
    env_op = validated_file(name="Write postgres_exporter's environment file", dest=ENV_FILE,
                            content=f"DATA_SOURCE_NAME={data_source_name(s)}\n",
                            user="root", group=NAME, mode="0640", secret=True)
    unit = Unit(
        name=NAME, user=NAME,
        description="Prometheus postgres_exporter (PostgreSQL metrics)",
        documentation="https://github.com/prometheus-community/postgres_exporter",
        environment_files=[ENV_FILE],
        exec_start=[binaries.path(NAME), f"--web.listen-address={listen_address(NAME)}",
                    *web.flags, *s.postgres_exporter_extra_flags],
    )
    service(unit, local_url(NAME, "/metrics"),
            restart_on=[*binaries.ops, env_op, *web.restart_on])
