"""TLS and basic auth for Prometheus, Alertmanager, Pushgateway and the exporters, and the
client side of both: Prometheus' scrapes and alerts, Grafana's data sources, wait-ready.

Servers: the components built on Prometheus' exporter-toolkit get `--web.config.file`
pointing at /etc/<component>/web.yml (basic_auth_users with a bcrypt hash, and
tls_server_config with copies of the host's certificate and key). redis_exporter is not
built on it: it has flags of its own for TLS and, from 1.67.0, environment variables for
basic auth, which its module makes from what `protect` gives it (`Component.protected_by`
says which way a component is protected). The toolkit reads web.yml and the certificate on every request and handshake,
so a renewed certificate needs no restart; whether a server speaks TLS at all is decided
at its start, so a changed web.yml restarts it.

The bcrypt salt is derived from host, component and user name, so the hash stays the same
from run to run (idempotent re-runs) and differs between hosts. Not from the password: a
salt computed from the password with a fast function would let whoever reads the hash test
guesses at that speed instead of bcrypt's.

Secrets (the password, private keys, bcrypt hashes) are written by validated_file(hidden=True): never
shown, not even the live file's old content with --diff.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pyinfra
from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.server import Which

from operations.base import catalogue, inventory
from operations.base.files import validated_file
from operations.base.install import directory
from operations.base.schema import SettingsError


MONSTACK_ETC = "/etc/monstack"
CA_FILE = f"{MONSTACK_ETC}/ca.crt"
READY_CURLRC = f"{MONSTACK_ETC}/wait-ready.curlrc"
PROMETHEUS_PASSWORD_FILE = "/etc/prometheus/basic_auth_password"
# The toolkit caches verified logins, so a scrape pays bcrypt's cost once per password;
# 10 keeps that first check short on a Raspberry Pi.
BCRYPT_COST = 10
BCRYPT_MAX_BYTES = 72
STACK_KEYS = ("tls_enabled", "tls_ca_file", "basic_auth_enabled", "basic_auth_username",
              "basic_auth_password_secret")


@dataclass(frozen=True)
class Protection:
    """One host's TLS and basic auth, files read and secret resolved on the controller."""

    host_name: str
    tls: bool
    basic_auth: bool
    username: str
    password: str = field(repr=False)
    cert_pem: str = field(default="", repr=False)
    key_pem: str = field(default="", repr=False)
    ca_pem: str = field(default="", repr=False)


def host_file(template: str, host_name: str) -> Path:
    return Path(template.replace("{host}", host_name)).expanduser()


def _read(setting: str, path: Path, host_name: str) -> str:
    if not path.is_file():
        raise SettingsError(f"host {host_name}: {setting}: {path} does not exist on the "
                            "controller")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"host {host_name}: {setting}: {path} is not readable as PEM "
                            f"text: {exc}") from None


def _check_tls_files(host_name: str, cert: Path, key: Path, ca: Path) -> None:
    """Refuse a certificate that does not match its key, an encrypted key or a CA file
    that holds no certificate, on the controller: no host validator checks them for
    every component."""
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # a password callable: an encrypted key fails here instead of prompting
        server_side.load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(f"host {host_name}: tls_cert_file {cert} and tls_key_file {key} "
                            f"do not load as a pair (the key must match the certificate and "
                            f"not be encrypted): {exc}") from None
    try:
        ssl.create_default_context(cafile=str(ca))
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(f"host {host_name}: tls_ca_file {ca} holds no usable CA "
                            f"certificate: {exc}") from None


def check_password(password: str, name: str) -> None:
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        raise SettingsError(f"secret {name} (basic auth password) is longer than "
                            f"{BCRYPT_MAX_BYTES} bytes, which bcrypt cannot hash")
    # Prometheus trims password files; config and environment files end at a line break
    if password != password.strip() or any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise SettingsError(f"secret {name} (basic auth password) must not hold line breaks "
                            "or control characters, nor start or end with white space")


_protection: dict[str, Protection | None] = {}


def protection(h=None) -> Protection | None:
    """Host `h`'s TLS and basic auth, checked on the controller; None when both are off."""
    h = host if h is None else h
    if h.name in _protection:
        return _protection[h.name]
    s = inventory.settings(h)
    found = None
    if s.tls_enabled or s.basic_auth_enabled:
        password, cert, key, ca = "", "", "", ""
        if s.basic_auth_enabled:
            name = s.basic_auth_password_secret
            password = inventory.secret(name, "basic auth of the Prometheus components", h)
            check_password(password, name)
        if s.tls_enabled:
            paths = {k: host_file(getattr(s, k), h.name)
                     for k in ("tls_cert_file", "tls_key_file", "tls_ca_file")}
            cert, key, ca = (_read(k, p, h.name) for k, p in paths.items())
            _check_tls_files(h.name, *paths.values())
        found = Protection(h.name, s.tls_enabled, s.basic_auth_enabled,
                           s.basic_auth_username, password, cert, key, ca)
    _protection[h.name] = found
    return found


_stack_checked: list[bool] = []


def check_stack(hosts=None) -> None:
    """Every host must agree on the settings that say how the stack reaches its parts."""
    if _stack_checked and hosts is None:
        return
    variants: dict[str, list[str]] = {}
    for h in (pyinfra.inventory if hosts is None else hosts):
        s = inventory.settings(h)
        wanted = {k: getattr(s, k) for k in STACK_KEYS}
        if not s.tls_enabled:
            wanted["tls_ca_file"] = None
        if not s.basic_auth_enabled:
            wanted["basic_auth_username"] = wanted["basic_auth_password_secret"] = None
        variants.setdefault(json.dumps(wanted), []).append(h.name)
    if len(variants) > 1:
        found = "; ".join(f"{', '.join(names)}: {values}" for values, names in variants.items())
        raise SettingsError(
            "TLS and basic auth settings differ between hosts; Prometheus reaches every "
            f"target with one scheme and one login, so {', '.join(STACK_KEYS)} must be the "
            f"same for every host (set them in group_data/all.py). Found: {found}")
    if hosts is None:
        _stack_checked.append(True)


# -- bcrypt ----------------------------------------------------------------------------------
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def bcrypt_salt(*context: str, cost: int = BCRYPT_COST) -> bytes:
    """A bcrypt salt from `context` (host, component, user): 16 bytes of a SHA-256 in
    bcrypt's base64 alphabet (standard base64's bit order, another alphabet)."""
    digest = hashlib.sha256("\0".join(("monstack web.yml", *context)).encode()).digest()[:16]
    encoded = base64.b64encode(digest).decode().rstrip("=")
    encoded = encoded.translate(str.maketrans(_STD_ALPHABET, _BCRYPT_ALPHABET))
    return f"$2b${cost:02d}${encoded}".encode()


_hashes: dict[tuple, str] = {}


def bcrypt_hash(password: str, *context: str) -> str:
    """The same password and context give the same hash, run after run."""
    key = (password, *context)
    if key not in _hashes:
        import bcrypt
        _hashes[key] = bcrypt.hashpw(password.encode(), bcrypt_salt(*context)).decode()
    return _hashes[key]


# -- what the servers get ----------------------------------------------------------------------
def web_yml(p: Protection, component: str, config_dir: str) -> str:
    import yaml
    data = {}
    if p.tls:
        data["tls_server_config"] = {"cert_file": f"{config_dir}/tls.crt",
                                     "key_file": f"{config_dir}/tls.key"}
    if p.basic_auth:
        data["basic_auth_users"] = {
            p.username: bcrypt_hash(p.password, p.host_name, component, p.username)}
    return ("# Managed by monstack (pyinfra): the exporter-toolkit's TLS and login.\n"
            + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000))


def env_quote(value: str) -> str:
    """A value for a systemd EnvironmentFile: double-quoted, with the characters systemd
    un-escapes there escaped."""
    return '"' + re.sub(r'(["\\`$])', r"\\\1", value) + '"'


def is_protected(component: str) -> bool:
    """Can `component`'s HTTP endpoint be protected by TLS and basic auth?"""
    c = catalogue.components().get(component)
    return bool(c and c.protected_by)


@dataclass
class Served:
    """What a component's unit and environment need for TLS and basic auth."""

    flags: list[str] = field(default_factory=list)
    restart_on: list[OperationMeta] = field(default_factory=list)
    # for a component with flags of its own: what they are to name
    cert_file: str | None = None
    key_file: str | None = None
    login: tuple[str, str] | None = None               # (user name, password)


def protect(component: str, config_dir: str, *, validator: str | None = None,
            make_dir: bool = False, basic_auth_refused: str | None = None) -> Served:
    """Plan TLS and basic auth of `component`'s HTTP endpoint on this host: the
    certificate, key and web.yml in `config_dir` (made here when `make_dir`), checked with
    `validator` ("<command> {path}") where the host has one. Returns the unit's flags,
    or, for a component protected by flags of its own, the files and login to name.
    `basic_auth_refused`: why this host's build of it has no basic auth (an error when
    basic auth is on)."""
    check_stack()
    p = protection()
    if p is None:
        return Served()
    if p.basic_auth and basic_auth_refused:
        raise SettingsError(f"host {host.name}: basic_auth_enabled: {basic_auth_refused}")
    client_files(p)
    if make_dir:
        directory(config_dir, "root", component, "0750")
    if p.tls:
        validated_file(name=f"Install {component}'s TLS certificate",
                       dest=f"{config_dir}/tls.crt", content=p.cert_pem,
                       user="root", group=component, mode="0640")
        validated_file(name=f"Install {component}'s TLS key", dest=f"{config_dir}/tls.key",
                       content=p.key_pem, user="root", group=component, mode="0640",
                       hidden=True)
    if catalogue.component(component).protected_by == "flags":
        return Served(cert_file=f"{config_dir}/tls.crt" if p.tls else None,
                      key_file=f"{config_dir}/tls.key" if p.tls else None,
                      login=(p.username, p.password) if p.basic_auth else None)
    web = f"{config_dir}/web.yml"
    checked = " (checked by promtool)" if validator else ""
    web_op = validated_file(name=f"Write {component}'s web.yml (TLS, login){checked}", dest=web,
                            content=web_yml(p, component, config_dir), validate=validator,
                            user="root", group=component, mode="0640", hidden=True)
    return Served(flags=[f"--web.config.file={web}"], restart_on=[web_op])


def client_files(p: Protection) -> None:
    """This host's CA certificate and wait-ready's curl config (login, CA), once per host."""
    if not inventory.first_plan("tls and basic auth client files"):
        return
    if not host.get_fact(Which, command="curl"):
        raise SettingsError(f"host {host.name}: tls_enabled / basic_auth_enabled: the "
                            "readiness checks then need curl on the host (apt-get install "
                            "curl)")
    directory(MONSTACK_ETC, "root", "root", "0755")
    if p.tls:
        validated_file(name="Install the CA certificate the stack trusts", dest=CA_FILE,
                       content=p.ca_pem, user="root", group="root", mode="0644")
    validated_file(name="Write wait-ready's curl config (CA, login)", dest=READY_CURLRC,
                   content=curlrc(p), user="root", group="root", mode="0600", hidden=True)


def curlrc(p: Protection, ca_file: str = CA_FILE) -> str:
    """curl's config file for wait-ready: the CA to trust and the login."""
    lines = ["# Managed by monstack: how wait-ready reaches this host's services"]
    if p.tls:
        lines.append(f"cacert = {curl_quote(ca_file)}")
    if p.basic_auth:
        lines.append(f"user = {curl_quote(p.username + ':' + p.password)}")
    return "\n".join(lines) + "\n"


def curl_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def password_file(dest: str, group: str) -> OperationMeta:
    """The login's password alone in a file (Prometheus' password_file)."""
    p = protection()
    return validated_file(name=f"Write {dest} (basic auth password)", dest=dest,
                          content=p.password + "\n", user="root", group=group, mode="0640",
                          hidden=True)


# -- what the clients get ----------------------------------------------------------------------
def scrape_client(s) -> dict:
    """scheme, tls_config and basic_auth of Prometheus' scrape and alerting configs, from
    the (stack-wide) settings `s`; empty when both are off."""
    out = {}
    if s.tls_enabled:
        out["scheme"] = "https"
        out["tls_config"] = {"ca_file": CA_FILE}
    if s.basic_auth_enabled:
        out["basic_auth"] = {"username": s.basic_auth_username,
                             "password_file": PROMETHEUS_PASSWORD_FILE}
    return out


def grafana_client(h, uid: str) -> dict:
    """Fields of a Grafana data source reaching a protected component on host `h`: basic
    auth and the CA (secrets in secureJsonData), plus a fingerprint of both in jsonData:
    Grafana never returns secureJsonData, so only a changed fingerprint shows that a
    changed password or CA must be sent again."""
    p = protection(h)
    if p is None:
        return {}
    out, json_data, secure = {}, {}, {}
    if p.tls:
        json_data["tlsAuthWithCACert"] = True
        secure["tlsCACert"] = p.ca_pem
    if p.basic_auth:
        out.update(basicAuth=True, basicAuthUser=p.username)
        secure["basicAuthPassword"] = p.password
    # a bcrypt hash under the digest: the fingerprint is no fast test of password guesses
    login = bcrypt_hash(p.password, "grafana", uid, p.username) if p.basic_auth else ""
    json_data["monstackCredentials"] = hashlib.sha256(
        f"{login}\0{p.ca_pem}".encode()).hexdigest()[:16]
    return {**out, "jsonData": json_data, "secureJsonData": secure}


def readiness(component: str, url: str) -> tuple[str, list[str]]:
    """wait-ready's URL and curl options for `component` on this host. With TLS the URL
    names the address in the certificate (the one Prometheus scrapes), and curl connects
    to the local address of `url` instead; the login comes from READY_CURLRC, never from
    the command line, which pyinfra prints."""
    if not is_protected(component):
        return url, []
    p = protection()
    if p is None:
        return url, []
    options = ["-K", READY_CURLRC]
    if p.tls:
        local = urlsplit(url)
        public = inventory.endpoint(component, host)
        if public != local.netloc:
            options += ["--connect-to", f"{public}:{local.netloc}"]
        url = f"https://{public}{local.path}"
    return url, [shlex.quote(o) for o in options]
