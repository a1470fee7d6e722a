"""redis_exporter: metrics of the Redis server on hosts of the redis group."""

from pyinfra.api import deploy

from .config_files import validated_file
from .context import listen_address, local_url, secret, settings
from .install import directory, install_binaries, system_user
from .services import Unit, service
from .web_config import protect

NAME = "redis_exporter"
CONFIG_DIR = "/etc/redis_exporter"
ENV_FILE = f"{CONFIG_DIR}/redis_exporter.env"


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return "/nonexistent"


@deploy("redis_exporter")
def install():
    s = settings()
    system_user(NAME, home(s))
    directory(CONFIG_DIR, "root", NAME, "0750")
    binaries = install_binaries(NAME)
    # no exporter-toolkit here: TLS by flags, basic auth (1.67.0+) by environment
    web = protect(NAME, CONFIG_DIR)
    env = f"REDIS_ADDR={s.redis_exporter_redis_addr}\n"
    password = ""
    if s.redis_exporter_password_secret:
        password = secret(s.redis_exporter_password_secret, "redis_exporter's Redis password")
        env += f"REDIS_PASSWORD={password}\n"
    env += web.env
    env_op = validated_file(name="Write redis_exporter's environment file", dest=ENV_FILE,
                            content=env, user="root", group=NAME, mode="0640", secret=True,
                            secrets=[password, *web.secrets])
    unit = Unit(
        name=NAME, user=NAME,
        description="Prometheus redis_exporter (Redis metrics)",
        documentation="https://github.com/oliver006/redis_exporter",
        environment_files=[ENV_FILE],
        exec_start=[binaries.path(NAME), f"-web.listen-address={listen_address(NAME)}",
                    *web.flags, *s.redis_exporter_extra_flags],
    )
    service(unit, local_url(NAME, "/metrics"), restart_on=[*binaries.ops, env_op])
