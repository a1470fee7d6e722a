"""redis_exporter: metrics of the Redis server on hosts of the redis group."""

from pyinfra.api import deploy

from operations.base.component import Leaves, exporter
from operations.base.exporters import ExporterFile, exporter_service, no_home
from operations.base.inventory import listen_address, secret, settings
from operations.base.releases import github_release
from operations.base.schema import Setting, secret_setting, version_tuple
from operations.base.tls_auth import Served, env_quote

NAME = "redis_exporter"
CONFIG_DIR = "/etc/redis_exporter"
ENV_FILE = f"{CONFIG_DIR}/redis_exporter.env"


COMPONENT = exporter(
    NAME, leaves=Leaves(config=(CONFIG_DIR,)),
    help="Redis metrics, on hosts of the redis group",
    port=9121, group="redis",
    scrape_job=("redis", "Redis"),
    protected_by="flags",
    release=github_release(
        "oliver006/redis_exporter", version="1.80.1", oldest="1.45.0",
        oldest_reason="the oldest build the suite runs, Debian 12's (basic auth needs 1.67.0)",
        proven=[("1.45.0", "bookworm"), ("1.69.0", "trixie"), ("1.86.0", "sid")],
        file="redis_exporter-v{version}.linux-{arch}.tar.gz",
        top_dir="redis_exporter-v{version}.linux-{arch}",
        binaries={"redis_exporter": "redis_exporter"},
        checksums="sha256sums.txt",
        debian_package="prometheus-redis-exporter",
        notes="The tag, the file name and the top directory all carry the leading 'v'. Newer releases "
              "exist (1.81.0 to 1.87.0 seen), but only 1.80.1 has two agreeing checksum sources (1.81.0 "
              "has one, zulip). No 32-bit ARM asset was seen in a release listing. v1.80.1 package-github-binaries.sh "
              "writes sha256sums.txt (`sha256sum *.gz *.zip` in dist/) and "
              ".github/workflows/release.yml uploads dist/* to the release. Its Makefile "
              "builds linux 'arm' with gox and no GOARM (not mapped: the ARM level of that "
              "build was not confirmed)."),
    checksums={
        "redis_exporter-v1.80.1.linux-amd64.tar.gz": "1818cc2cbd3bac62a6f43054a2cc1596fc5f6148ce80112a6308bc3cad6d81fa",  # x2: boxcutter/boxcutter-chef-cookbooks cookbooks/boxcutter_prometheus/attributes/default.rb; a redis_exporter RPM spec
        "redis_exporter-v1.80.1.linux-arm64.tar.gz": "a807907d413edb1c0aa88513e7c1570c302873bd1cfcbf36fb53a14629177882",  # x2: same sources as amd64
    },
    settings=(
        Setting("redis_exporter_redis_addr", "str", "redis://localhost:6379",
                "the Redis instance to watch", section="redis_exporter"),
        secret_setting("redis_exporter_password_secret", "the Redis password, if it has one",
                       section="redis_exporter"),
    ),
)


# basic auth by environment variables came with 1.67.0
BASIC_AUTH_SINCE = (1, 67, 0)


def basic_auth_supported(s) -> bool:
    return (s.redis_exporter_install_method == "archive"
            and version_tuple(s.redis_exporter_version) >= BASIC_AUTH_SINCE)


def basic_auth_refusal(s) -> str | None:
    """Why this host's redis_exporter has no basic auth (None: it has)."""
    if basic_auth_supported(s):
        return None
    how = ("the distribution's package (Debian 12 has 1.45.0)"
           if s.redis_exporter_install_method == "package"
           else f"version {s.redis_exporter_version}")
    return (f"redis_exporter has basic auth only from {'.'.join(map(str, BASIC_AUTH_SINCE))} "
            f"on, not with {how}; use redis_exporter_install_method = 'archive' with a newer "
            "redis_exporter_version, or set redis_exporter_enabled = False")


# its service user has no data folder
home = no_home


def tls_flags(web: Served) -> list[str]:
    """No exporter-toolkit here: TLS by flags of its own."""
    if not web.cert_file:
        return []
    return [f"-tls-server-cert-file={web.cert_file}", f"-tls-server-key-file={web.key_file}"]


def environment_file(s, web: Served) -> ExporterFile:
    """Its environment: the Redis address and password, and its basic auth (1.67.0+)."""
    env = f"REDIS_ADDR={s.redis_exporter_redis_addr}\n"
    secrets = []
    if s.redis_exporter_password_secret:
        password = secret(s.redis_exporter_password_secret, "redis_exporter's Redis password")
        env += f"REDIS_PASSWORD={password}\n"
        secrets.append(password)
    if web.login:
        user, password = web.login
        env += (f"REDIS_EXPORTER_BASIC_AUTH_USERNAME={user}\n"
                f"REDIS_EXPORTER_BASIC_AUTH_PASSWORD={env_quote(password)}\n")
        secrets += [password, env_quote(password)]
    return ExporterFile(name="Write redis_exporter's environment file", dest=ENV_FILE,
                        content=env, secret=True, secrets=secrets)


@deploy("redis_exporter")
def install():
    s = settings()
    exporter_service(
        NAME, home(s), CONFIG_DIR,
        folders=[(CONFIG_DIR, "root", NAME, "0750")],
        basic_auth_refused=basic_auth_refusal(s),
        file=lambda web: environment_file(s, web),
        description="Prometheus redis_exporter (Redis metrics)",
        documentation="https://github.com/oliver006/redis_exporter",
        environment_files=[ENV_FILE],
        args=lambda web: [f"-web.listen-address={listen_address(NAME)}", *tls_flags(web)],
    )
