"""Alertmanager: routes alerts by severity to Slack, email, Telegram, PagerDuty or webhooks."""

from __future__ import annotations

import ipaddress
import re
import shlex

from pyinfra import host
from pyinfra.api import deploy

from .config_files import validated_file
from .context import (EVERY_INTERFACE, address_of, bracketed, hosts_running,
                      listen_address, local_address, local_url, reach_address, secret,
                      settings)
from .facts import PackageVersion
from .install import debian_package, directories, install_binaries, system_user
from .services import Unit, render, service
from .settings import (CLUSTER_TLS_SINCE, SettingsError, alertmanager_cluster_size_problems,
                       cluster_tls_wanted, version_tuple)
from .web_config import CA_FILE, protect, protection

NAME = "alertmanager"
CONFIG_DIR = "/etc/alertmanager"
CONFIG = f"{CONFIG_DIR}/alertmanager.yml"
# mutual TLS of the gossip, with the certificate and key web_config copies beside it
CLUSTER_TLS = f"{CONFIG_DIR}/cluster-tls.yml"
# seconds a trial Alertmanager runs with a changed CLUSTER_TLS: one that is wrong makes it
# exit within milliseconds (the gossip is set up first thing)
TRIAL_SECONDS = 3
# Debian's build reads its notification templates from here at run time (upstream's
# binary embeds them); archives repacked from it carry them.
DEBIAN_TEMPLATES = "/usr/share/prometheus/alertmanager"

# receiver type -> (Alertmanager config list, fields that must be given, secret renames)
RECEIVER_TYPES = {
    "slack": ("slack_configs", ("webhook_url",), {"webhook_url": "api_url"}),
    "email": ("email_configs", ("to",), {}),
    "telegram": ("telegram_configs", ("bot_token", "chat_id"), {}),
    "pagerduty": ("pagerduty_configs", ("routing_key",), {}),
    "webhook": ("webhook_configs", ("url",), {}),
}
SEVERITIES = ("critical", "warning", "info", "none")
# receiver types younger than Alertmanager's floor (config/notifiers.go: TelegramConfig is
# absent at v0.23.0, present at v0.24.0)
RECEIVER_SINCE = {"telegram": (0, 24, 0)}


def receiver_config(receiver: dict) -> dict:
    """One receiver of the settings -> its Alertmanager form, secrets resolved."""
    if not isinstance(receiver, dict):
        raise SettingsError(f"alertmanager_receivers: each receiver needs a name and a type "
                            f"(a mapping); got {receiver!r}")
    name = receiver.get("name")
    kind = receiver.get("type")
    if not name or name == "blackhole" or kind not in RECEIVER_TYPES:
        raise SettingsError(
            f"alertmanager_receivers: each receiver needs a name and a type out of "
            f"{', '.join(RECEIVER_TYPES)} ('blackhole' is a reserved name); got {receiver!r}")
    config_key, required, renames = RECEIVER_TYPES[kind]
    config = {"send_resolved": True}
    for key, value in receiver.items():
        if key in ("name", "type", "severities"):
            continue
        if key.endswith("_secret"):
            key, value = key[: -len("_secret")], secret(value, f"receiver {name}")
        config[renames.get(key, key)] = value
    missing = [f for f in required if renames.get(f, f) not in config]
    if missing:
        raise SettingsError(f"alertmanager receiver {name} ({kind}) needs "
                            + ", ".join(f"{f} (or {f}_secret)" for f in missing))
    if kind == "telegram":
        config["chat_id"] = telegram_chat_id(name, config["chat_id"])
    return {"name": name, config_key: [config]}


def telegram_chat_id(receiver: str, value) -> int:
    """Alertmanager reads chat_id as an int64 and refuses a quoted one; from --data or a
    secret it comes as text."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", text) \
            or not -2**63 <= int(text) < 2**63:
        raise SettingsError(f"alertmanager receiver {receiver} (telegram): chat_id must be "
                            f"an integer such as -1001234567890; got {value!r}")
    return int(text)


def receiver_severities(receiver: dict) -> list[str]:
    severities = receiver.get("severities", ["critical", "warning"])
    unknown = [s for s in severities if s not in SEVERITIES]
    if unknown:
        raise SettingsError(f"alertmanager receiver {receiver.get('name')}: unknown "
                            f"severities {unknown} (known: {', '.join(SEVERITIES)})")
    return severities


def smtp_globals(smtp: dict) -> dict:
    if not smtp:
        return {}
    missing = [k for k in ("smarthost", "from") if not smtp.get(k)]
    if missing:
        raise SettingsError(f"alertmanager_smtp needs {' and '.join(missing)}")
    out = {"smtp_smarthost": smtp["smarthost"], "smtp_from": smtp["from"],
           "smtp_require_tls": smtp.get("require_tls", True)}
    if smtp.get("auth_username"):
        out["smtp_auth_username"] = smtp["auth_username"]
    if smtp.get("auth_password_secret"):
        out["smtp_auth_password"] = secret(smtp["auth_password_secret"], "the SMTP login")
    return out


def check_receiver_types(s, receivers: list[dict]) -> None:
    """An upstream archive older than a receiver type refuses the whole config; Debian's
    packages (0.25 and later) have every type."""
    if s.alertmanager_install_method != "archive":
        return
    for receiver in receivers:
        since = RECEIVER_SINCE.get(receiver["type"])
        if since and version_tuple(s.alertmanager_version) < since:
            raise SettingsError(
                f"alertmanager receiver {receiver['name']} ({receiver['type']}): "
                f"alertmanager_version {s.alertmanager_version} has no {receiver['type']} "
                f"receivers (they came with {'.'.join(map(str, since))}); use a newer version")


def config_content(s) -> str:
    receivers = s.alertmanager_receivers
    configs = [receiver_config(r) for r in receivers]  # validates each receiver first
    check_receiver_types(s, receivers)
    names = [r["name"] for r in receivers]
    if len(set(names)) != len(names):
        raise SettingsError(f"alertmanager_receivers: receiver names must be unique: {names}")
    if any(r["type"] == "email" for r in receivers) and not s.alertmanager_smtp:
        raise SettingsError("an email receiver needs alertmanager_smtp (smarthost, from)")
    routes = [{"receiver": r["name"],
               "matchers": [f'severity=~"{"|".join(receiver_severities(r))}"'],
               "continue": True} for r in receivers]
    inhibit = []
    if s.alertmanager_inhibit_warning_when_critical:
        inhibit.append({"source_matchers": ['severity="critical"'],
                        "target_matchers": ['severity="warning"'],
                        "equal": ["alertname", "instance"]})
    return render(
        "alertmanager/alertmanager.yml.j2",
        smtp=smtp_globals(s.alertmanager_smtp),
        group_by=s.alertmanager_group_by, group_wait=s.alertmanager_group_wait,
        group_interval=s.alertmanager_group_interval,
        repeat_interval=s.alertmanager_repeat_interval,
        routes=routes, receivers=configs,
        inhibit_rules=inhibit)


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return s.alertmanager_data_dir


def peers() -> list:
    """The other hosts of the inventory that run Alertmanager (also outside --limit)."""
    return sorted((h for h in hosts_running(NAME) if h.name != host.name),
                  key=lambda h: h.name)


def gossip_bind(s) -> str:
    """Where this host's gossip listens: the address Alertmanager's web interface was
    told to bind to, else only the one its peers reach it at (every interface when the
    host does not have that address: NAT)."""
    listen = s.alertmanager_listen_address
    if listen not in (*EVERY_INTERFACE, "auto"):
        return listen
    return local_address() or "0.0.0.0"


def is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return True


def advertised(s) -> str:
    """The address this host's gossip is reached at: Alertmanager advertises its bind
    address to the peers, or for 0.0.0.0 a private address it picks itself (failing when
    it has none); an IP is all it takes."""
    bind = gossip_bind(s)
    return bind if bind not in EVERY_INTERFACE else address_of(host)


def gossip_encrypted(s) -> bool:
    """Mutual TLS between the Alertmanagers: with peers, and TLS wanted for gossip."""
    return bool(peers()) and cluster_tls_wanted(s.values)


def cluster_flags(s) -> list[str]:
    """One Alertmanager: no gossip port open. More: each gossips with every other one
    (silences, and which notifications were sent, so each goes out once); Prometheus
    sends every alert to all of them."""
    others = peers()
    if not others:
        return ["--cluster.listen-address="]
    # also here for a deploy of one's own, which skips context.validate_inventory()
    problems = alertmanager_cluster_size_problems(s.values, len(others) + 1)
    if problems:
        raise SettingsError(f"host {host.name}: " + "; ".join(problems))
    port = s.alertmanager_cluster_port
    advertise = advertised(s)
    flags = [f"--cluster.listen-address={bracketed(gossip_bind(s))}:{port}"]
    if is_ip(advertise):
        flags.append(f"--cluster.advertise-address={bracketed(advertise)}:{port}")
    flags += [f"--cluster.peer={reach_address(NAME, h)}:"
              f"{settings(h).alertmanager_cluster_port}" for h in others]
    flags.append(f"--cluster.peer-timeout={s.alertmanager_cluster_peer_timeout}")
    if gossip_encrypted(s):
        flags.append(f"--cluster.tls-config={CLUSTER_TLS}")
    return flags


def cluster_tls_yml() -> str:
    """--cluster.tls-config: each Alertmanager serves the gossip with its host's
    certificate and asks its peers for theirs (signed by the stack's CA), and connects to
    them with the same certificate, verifying theirs with that CA."""
    import yaml
    cert, key = f"{CONFIG_DIR}/tls.crt", f"{CONFIG_DIR}/tls.key"
    data = {
        "tls_server_config": {"cert_file": cert, "key_file": key,
                              "client_auth_type": "RequireAndVerifyClientCert",
                              "client_ca_file": CA_FILE},
        "tls_client_config": {"cert_file": cert, "key_file": key, "ca_file": CA_FILE},
    }
    return ("# Managed by monstack (pyinfra): mutual TLS of the Alertmanager cluster's "
            "gossip.\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def trial_command(binary: str) -> str:
    """validated_file's check of a changed cluster TLS file ({path}): amtool has no check
    for it, so an Alertmanager of its own starts with it, on loopback and a throw-away
    data folder, for TRIAL_SECONDS. A wrong file (a missing or mismatched certificate,
    an unknown key) stops it at once with Alertmanager's own message; still running when
    the time is up (timeout's exit status 124) is a pass."""
    q = shlex.quote
    # no braces but {path}: validated_file formats the command
    return ("d=$(mktemp -d) && ("
            f"timeout {TRIAL_SECONDS} {q(binary)} --config.file={q(CONFIG)} "
            '--storage.path="$d" --web.listen-address=127.0.0.1:0 '
            "--cluster.listen-address=127.0.0.1:0 --cluster.tls-config={path}; "
            'rc=$?; rm -rf "$d"; test $rc -eq 124)')


def gossip_certificate_problem(cert_pem: str, address: str) -> str | None:
    """Why the host's certificate cannot serve mutual TLS of the gossip at `address`,
    or None. Peers connect to the IP address a host advertises and check it against the
    certificate's IP entries; each also shows its certificate as a TLS client."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None   # no restriction: any use
    if usages is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return ("its extended key usage lacks clientAuth (each Alertmanager shows it to "
                "its peers as a TLS client too)")
    if not is_ip(address):
        return None   # Alertmanager advertises an address of its own choosing
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ips = names.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        ips = []
    if ipaddress.ip_address(address.strip("[]")) not in ips:
        return (f"it has no IP address entry (subjectAltName IP:{address.strip('[]')}) for "
                f"the address its peers gossip with it at ({address}); it has "
                f"{', '.join(map(str, ips)) or 'none'}")
    return None


def check_gossip_tls(s) -> None:
    """Refuse, before anything changes, what would keep this Alertmanager out of an
    encrypted cluster: a certificate peers cannot verify, a version without TLS gossip."""
    p = protection()
    problem = gossip_certificate_problem(p.cert_pem, advertised(s))
    if problem:
        raise SettingsError(
            f"host {host.name}: tls_cert_file cannot encrypt the Alertmanager cluster's "
            f"gossip: {problem}; issue it so, or set alertmanager_cluster_tls_enabled = "
            "'false' for plain gossip")
    if s.alertmanager_install_method == "package":
        package = debian_package(NAME)
        version = host.get_fact(PackageVersion, package=package)
        if version and version_tuple(version) < CLUSTER_TLS_SINCE:
            raise SettingsError(
                f"host {host.name}: tls_enabled: the gossip of the Alertmanager cluster "
                f"would be encrypted (--cluster.tls-config), which {package} {version} "
                f"lacks (it came with {'.'.join(map(str, CLUSTER_TLS_SINCE))}); use "
                "alertmanager_install_method = 'archive', or set "
                "alertmanager_cluster_tls_enabled = 'false' for plain gossip")


def cluster_tls_file(s, binary: str) -> list:
    """The cluster TLS file when the gossip is encrypted (none otherwise: a file left
    from before is unused once the flag is gone)."""
    if not gossip_encrypted(s):
        return []
    check_gossip_tls(s)
    return [validated_file(
        name="Write the cluster's TLS config (checked by a trial start of Alertmanager)",
        dest=CLUSTER_TLS, content=cluster_tls_yml(), validate=trial_command(binary),
        user="root", group=NAME, mode="0640")]


def flags(s, binary: str, web_flags: list[str] = ()) -> list[str]:
    return [binary, f"--config.file={CONFIG}", f"--storage.path={s.alertmanager_data_dir}",
            f"--web.listen-address={listen_address(NAME)}", *cluster_flags(s),
            *web_flags, *s.alertmanager_extra_flags]


@deploy("Alertmanager")
def install():
    s = settings()
    system_user(NAME, home(s))
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"),
                (s.alertmanager_data_dir, NAME, NAME, "0750"))
    binaries = install_binaries(NAME, [NAME, "amtool"], support_files={
        "default.tmpl": f"{DEBIAN_TEMPLATES}/default.tmpl",
        "email.tmpl": f"{DEBIAN_TEMPLATES}/email.tmpl",
    })
    web = protect(NAME, CONFIG_DIR)
    config_op = validated_file(
        name="Write alertmanager.yml (checked by amtool)", dest=CONFIG,
        content=config_content(s), validate=f"{binaries.path('amtool')} check-config {{path}}",
        user="root", group=NAME, mode="0640", secret=True)
    # after the config and the certificate: the trial start reads both
    gossip_ops = cluster_tls_file(s, binaries.path(NAME))
    unit = Unit(
        name=NAME, user=NAME, reloadable=True,
        description="Prometheus Alertmanager",
        documentation="https://prometheus.io/docs/alerting/latest/alertmanager/",
        write_paths=[s.alertmanager_data_dir],
        exec_start=flags(s, binaries.path(NAME), web.flags),
    )
    service(unit, local_url(NAME, "/-/ready"), restart_on=[*binaries.ops, *web.restart_on, *gossip_ops],
            reload_on=[config_op])
