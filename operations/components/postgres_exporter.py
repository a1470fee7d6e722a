"""postgres_exporter: metrics of the PostgreSQL server on hosts of the postgres group."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from operations.base.component import Leaves, exporter
from operations.base.facts import PostgresRole
from operations.base.exporters import ExporterFile, exporter_service, no_home
from operations.base.inventory import listen_address, secret, settings
from operations.base.releases import promu_release
from operations.base.schema import Setting, SettingsError, secret_setting

NAME = "postgres_exporter"
CONFIG_DIR = "/etc/postgres_exporter"
ENV_FILE = f"{CONFIG_DIR}/postgres_exporter.env"


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="PostgreSQL metrics, on hosts of the postgres group",
    port=9187, group="postgres",
    scrape_job=("postgres", "PostgreSQL"),
    release=promu_release(
        "prometheus-community/postgres_exporter", NAME, version="0.20.1", oldest="0.11.1",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("0.11.1", "bookworm"), ("0.17.1", "trixie"), ("0.19.1", "sid")],
        debian_package="prometheus-postgres-exporter",
        notes="Built with promu like the prometheus/ repos: v0.20.1:.promu.yml has no crossbuild "
              "platforms, so promu's defaults apply (prometheus/promu cmd/crossbuild.go "
              "defaultPlatforms: linux/amd64, arm64, armv5, armv6, armv7, ...), published "
              "by promci's publish_release (promu crossbuild tarballs, checksum, release) with "
              "sha256sums.txt. No 32-bit ARM checksum is pinned: those archives need "
              "artifact_checksums or artifact_checksums_from_release."),
    checksums={
        "postgres_exporter-0.20.1.linux-amd64.tar.gz": "89d4f7e7920cad48fdc3133f789556ef5253c330a9f5fdace3bdb6344c0a8b5a",  # x3+: postgres_exporter RPM spec; a 'setup-monitoring' script; a Python ARCHIVES table; ops docs
        "postgres_exporter-0.20.1.linux-arm64.tar.gz": "d5d86fb98bb1f26b088d1a6fda07fd6b6f035cb5d40492f75ec3bfebb5ddfe9d",  # x3: postgres_exporter RPM spec; 'setup-monitoring' script; Python ARCHIVES table
    },
    settings=(
        Setting("postgres_exporter_dsn", "str",
                "postgresql://postgres_exporter@:5432/postgres?host=/run/postgresql&sslmode=disable",
                section="postgres_exporter", help=(
                    "connection string without password (default: the local server over its "
                    "socket, peer authentication as the postgres_exporter role)")),
        secret_setting("postgres_exporter_password_secret",
                       "the role's password (TCP connections)", section="postgres_exporter"),
        Setting("postgres_exporter_create_db_user", "bool", False, section="postgres_exporter",
                help="create the postgres_exporter role (login, pg_monitor) on the local server"),
    ),
)


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


# its service user has no data folder
home = no_home


@deploy("postgres_exporter")
def install():
    s = settings()
    exporter_service(
        NAME, home(s), CONFIG_DIR,
        folders=[(CONFIG_DIR, "root", NAME, "0750")],
        before_program=database_role if s.postgres_exporter_create_db_user else None,
        # the password's secret is read once the TLS files are planned
        file=lambda web: ExporterFile(
            name="Write postgres_exporter's environment file", dest=ENV_FILE,
            content=f"DATA_SOURCE_NAME={data_source_name(s)}\n", secret=True),
        description="Prometheus postgres_exporter (PostgreSQL metrics)",
        documentation="https://github.com/prometheus-community/postgres_exporter",
        environment_files=[ENV_FILE],
        args=[f"--web.listen-address={listen_address(NAME)}"],
    )
