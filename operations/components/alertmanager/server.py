"""Alertmanager: the component (catalogue row, settings, cluster, install).

Its config comes from routing.py (routes, time intervals, inhibit rules, templates) and
receivers.py (receivers and their secrets)."""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents

from operations.base.component import Backup, Component, Leaves
from operations.base.facts import PackageVersion
from operations.base.files import validated_file, validated_files
from operations.base.install import debian_package, directories, install_binaries, system_user
from operations.base.inventory import (EVERY_INTERFACE, address_of, bracketed, hosts_running,
                                       listen_address, local_address, local_url, reach_address,
                                       settings)
from operations.base.releases import promu_release
from operations.base.schema import (Setting, SettingsError, duration_seconds, is_go_duration,
                                    version_tuple)
from operations.base.services import Unit, service, unit_path
from operations.base.tls_auth import CA_FILE, protect, protection
from operations.components.alertmanager import receivers, routing
from operations.components.alertmanager.receivers import CONFIG_DIR, SECRETS_DIR
from operations.components.alertmanager.routing import TEMPLATES_DIR

config_content = routing.config_content   # alertmanager.yml of a host's settings

NAME = "alertmanager"
CONFIG = f"{CONFIG_DIR}/alertmanager.yml"
# mutual TLS of the gossip, with the certificate and key web_config copies beside it
CLUSTER_TLS = f"{CONFIG_DIR}/cluster-tls.yml"
# seconds a trial Alertmanager runs with a changed CLUSTER_TLS: one that is wrong makes it
# exit within milliseconds (the gossip is set up first thing)
TRIAL_SECONDS = 3
# Debian's build reads its notification templates from here at run time (upstream's
# binary embeds them); archives repacked from it carry them.
DEBIAN_TEMPLATES = "/usr/share/prometheus/alertmanager"

# Alertmanager 0.24.0 brought --cluster.tls-config (Debian 12 ships 0.25.0).
CLUSTER_TLS_SINCE = (0, 24, 0)
CLUSTER_FLAGS = {"--cluster.peer-timeout": "alertmanager_cluster_peer_timeout",
                 "--cluster.tls-config": "alertmanager_cluster_tls_enabled"}


def cluster_tls_wanted(values: dict[str, Any]) -> bool:
    """Is the gossip of an Alertmanager cluster (when there is one) to be encrypted?"""
    mode = values["alertmanager_cluster_tls_enabled"]
    return values["tls_enabled"] and mode != "false"


def cluster_settings_problems(values: dict[str, Any]) -> list[str]:
    """One host's Alertmanager cluster settings on their own."""
    errors = []
    timeout = values["alertmanager_cluster_peer_timeout"]
    # Alertmanager reads it with Go's time.ParseDuration: no d, w or y; 0 sends duplicates
    if not is_go_duration(timeout) or duration_seconds(timeout) <= 0:
        errors.append(f"alertmanager_cluster_peer_timeout ({timeout}) must be longer than 0 "
                      "and may only use the units ms, s, m and h")
    if values["alertmanager_cluster_tls_enabled"] == "true" and not values["tls_enabled"]:
        errors.append("alertmanager_cluster_tls_enabled = 'true' needs tls_enabled (the "
                      "gossip uses tls_cert_file, tls_key_file and tls_ca_file)")
    for flag in values["alertmanager_extra_flags"]:
        name = str(flag).split("=", 1)[0]
        setting = CLUSTER_FLAGS.get(name)
        if setting == "alertmanager_cluster_tls_enabled" and not cluster_tls_wanted(values):
            continue   # gossip TLS of the user's own making
        if setting:
            errors.append(f"alertmanager_extra_flags: {name} is set by monstack (Alertmanager "
                          f"refuses it twice): use the setting {setting}")
    return errors


def cluster_size_problems(values: dict[str, Any], size: int) -> list[str]:
    """Rules that depend on how many Alertmanagers form the cluster (`size`, this host
    counted): one host's settings, checked once the inventory is known."""
    if size < 2:
        return []
    errors = []
    timeout = values["alertmanager_cluster_peer_timeout"]
    interval = values["alertmanager_group_interval"]
    last_wait = (size - 1) * duration_seconds(timeout)
    # The n-th Alertmanager (counted from 0) sends a group's notification n peer timeouts
    # after the first, and only when the gossiped log shows none sent yet. Once that wait
    # reaches the group interval, it checks after the first one's next flush: both send.
    if duration_seconds(interval) <= last_wait:
        errors.append(
            f"alertmanager_group_interval ({interval}) must be longer than the wait of the "
            f"last of the {size} clustered Alertmanagers, ({size} - 1) x "
            f"alertmanager_cluster_peer_timeout ({timeout}) = {last_wait:g}s, or they all "
            "send each notification; raise alertmanager_group_interval or lower "
            "alertmanager_cluster_peer_timeout")
    if (cluster_tls_wanted(values) and values["alertmanager_install_method"] == "archive"
            and version_tuple(values["alertmanager_version"]) < CLUSTER_TLS_SINCE):
        errors.append(
            f"tls_enabled: the gossip of the {size} clustered Alertmanagers would be "
            f"encrypted (--cluster.tls-config), which alertmanager_version "
            f"{values['alertmanager_version']} lacks (it came with "
            f"{'.'.join(map(str, CLUSTER_TLS_SINCE))}); use a newer version, or set "
            "alertmanager_cluster_tls_enabled = 'false' for plain gossip")
    return errors


def settings_problems(values: dict) -> list[str]:
    # Alertmanager refuses a route with either of them 0 (config/config.go: "cannot be
    # zero", v0.22.0 on); a group_wait of 0 is allowed (notify at once)
    errors = [f"{key} ({values[key]}) must be longer than 0: Alertmanager refuses a zero "
              "interval"
              for key in ("alertmanager_group_interval", "alertmanager_repeat_interval")
              if duration_seconds(values[key]) == 0]
    if values["alertmanager_cluster_port"] == values["alertmanager_port"]:
        errors.append(f"alertmanager_cluster_port ({values['alertmanager_cluster_port']}) "
                      "must differ from alertmanager_port")
    return errors + cluster_settings_problems(values) + routing.routing_problems(values)


def inventory_problems(hosts: list) -> list[str]:
    """Settings that only the whole inventory shows wrong: an Alertmanager cluster's
    timing against its size, peers that would not understand each other's gossip."""
    clustered = hosts_running("alertmanager")
    errors = []
    for h in clustered:
        found = cluster_size_problems(settings(h).values, len(clustered))
        if found:
            errors.append(f"host {h.name}: " + "; ".join(found))
    encrypted = {h.name: cluster_tls_wanted(settings(h).values) for h in clustered}
    if len(clustered) > 1 and len(set(encrypted.values())) > 1:
        errors.append(
            "the Alertmanager cluster would gossip over TLS on "
            f"{', '.join(n for n, tls in encrypted.items() if tls)} and in plain text on "
            f"{', '.join(n for n, tls in encrypted.items() if not tls)}, which cannot talk "
            "to each other: give alertmanager_cluster_tls_enabled the same value for every "
            "Alertmanager host")
    return errors

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(s.alertmanager_data_dir,),
                  program_files=(f"{DEBIAN_TEMPLATES}/default.tmpl", f"{DEBIAN_TEMPLATES}/email.tmpl"))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    # its state: silences and the notification log (cmd/alertmanager/main.go at v0.34.0: the
    # files "silences" and "nflog" in --storage.path, written at each maintenance and exit)
    backup=Backup(method="files", paths=("silences", "nflog"),
                  data_dir_setting="alertmanager_data_dir"),
    help="routes alerts to receivers",
    port=9093, group="monitoring",
    # the gossip port counts on a lone Alertmanager too: a second one makes it listen
    extra_ports=("alertmanager_cluster_port",),
    scrape_job=("alertmanager", "Alertmanager"),
    protected_by="web.yml",
    marks_monitoring_hosts=True,
    checks=settings_problems,
    inventory_checks=inventory_problems,
    # a cluster is restarted one Alertmanager at a time. /-/ready answers 200 as soon as
    # the web server runs (v0.25.0 ui/web.go, v0.34.0 httpserver/httpserver.go), so the
    # cluster's own word is waited for: /api/v2/status holds cluster.status "ready" once
    # its gossip has settled ("settling" before, "disabled" with no cluster) and
    # cluster.peers, every live member, itself included, each with an "address" (v0.25.0
    # and v0.34.0 api/v2/api.go getStatusHandler, api/v2/models/cluster_status.go,
    # peer_status.go; cluster/cluster.go Peer.Status, Peer.Peers)
    ha_group=lambda h: cluster_size(),
    rejoined=("/api/v2/status", '"status":"ready"', '"address":', '"status":"disabled"'),
    release=promu_release(
        "prometheus/alertmanager", NAME, version="0.34.1", oldest="0.22.0",
        oldest_reason=("its routes and inhibit rules use matchers, source_matchers and "
                      "target_matchers (config/config.go: absent at v0.21.0, present at "
                      "v0.22.0)"),
        proven=[("0.25.0", "bookworm"), ("0.28.1", "trixie"), ("0.33.1", "sid")],
        debian_package="prometheus-alertmanager",
        binaries={"alertmanager": "alertmanager", "amtool": "amtool"},
        notes="Same promu arch set as prometheus. Older releases had armv7 assets (0.26.0, 0.27.0 "
              "pinned in boxcutter/oci). armv7/armv6 are not pinned for 0.34.1. Backups: its "
              "state files \"silences\" and \"nflog\" in --storage.path "
              "(cmd/alertmanager/main.go at v0.34.0)."),
    checksums={
        "alertmanager-0.34.1.linux-amd64.tar.gz": "265b9d1e55ef0d5306a436018af6d2b686c2ce051f03d968f7464ecb1372a7e8",  # x3: enajx/nanoHPC src/nanohpc/deploy.py; a Homebrew tap formula; a 'dragontools' design doc (checked against sha256sums.txt)
        "alertmanager-0.34.1.linux-arm64.tar.gz": "d98d6cbaf52151c7e76e24355fec88b11cebcb9875d4cdd8b76ddce7a7e5535c",  # x3: same sources as amd64
    },
    settings=(
        Setting("alertmanager_receivers", "list", [], section="alertmanager", help=(
            "receivers: [{name, type: slack|email|telegram|pagerduty|webhook|msteams|"
            "msteamsv2|discord|opsgenie|pushover, severities, ...}]; secret fields end in "
            "_secret and name an environment variable or a key of secrets_file (msteams, "
            "msteamsv2, discord, opsgenie, pushover: only so, written to files under "
            "/etc/alertmanager/secrets); severities (default [critical, warning]; [] for "
            "none) routes those alerts to it after alertmanager_routes")),
        Setting("alertmanager_routes", "list", [], section="alertmanager", help=(
            "routes before the receivers' severity routes: [{receiver, matchers: "
            "['team=\"db\"'], continue, group_by, group_wait, group_interval, "
            "repeat_interval, mute_time_intervals, active_time_intervals, routes: [...]}]")),
        Setting("alertmanager_time_intervals", "list", [], section="alertmanager", help=(
            "named time intervals for routes' mute_time_intervals / active_time_intervals: "
            "[{name, time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}], "
            "weekdays, days_of_month, months, years, location}]}] (Alertmanager 0.24.0 or "
            "later; location 0.25.0)")),
        Setting("alertmanager_inhibit_rules", "list", [], section="alertmanager", help=(
            "inhibit rules after the default one: [{source_matchers: [...], "
            "target_matchers: [...], equal: [labels]}]")),
        Setting("alertmanager_template_files", "list", [], section="alertmanager", help=(
            "notification template files (controller paths), uploaded to "
            "/etc/alertmanager/templates and listed in templates:")),
        Setting("alertmanager_group_by", "list", ["alertname", "job"], section="alertmanager",
                help="labels alerts are grouped by"),
        Setting("alertmanager_group_wait", "duration", "30s", section="alertmanager",
                help="wait before the first notification of a group"),
        Setting("alertmanager_group_interval", "duration", "5m", section="alertmanager",
                help="wait before notifying about new alerts in a group"),
        Setting("alertmanager_repeat_interval", "duration", "4h", section="alertmanager",
                help="wait before re-sending a still-firing alert"),
        Setting("alertmanager_inhibit_warning_when_critical", "bool", True,
                section="alertmanager",
                help="a critical alert silences the warning of the same alertname/instance"),
        Setting("alertmanager_smtp", "dict", {}, section="alertmanager", help=(
            "email settings: {smarthost, from, auth_username, auth_password_secret, "
            "require_tls}")),
        Setting("alertmanager_data_dir", "str", "/var/lib/alertmanager", "silences and "
                "notification log", section="alertmanager"),
        Setting("alertmanager_cluster_port", "int", 9094, minimum=1, maximum=65535,
                section="alertmanager", help=(
                    "gossip port (TCP and UDP) of the Alertmanager cluster, when 2+ hosts run "
                    "Alertmanager: open it between them (silences and sent notifications are "
                    "shared there; see \"Topologies\"); with alertmanager_cluster_tls_enabled "
                    "TCP only, else TCP and UDP")),
        Setting("alertmanager_cluster_tls_enabled", "choice", "auto",
                choices=("auto", "true", "false"), section="alertmanager", help=(
                    "encrypt and authenticate the cluster's gossip with mutual TLS "
                    "(--cluster.tls-config; Alertmanager 0.24.0 or later) using each host's "
                    "tls_cert_file / tls_key_file and tls_ca_file: the certificates must also "
                    "be valid for TLS clients and for the IP address a host gossips at; auto: "
                    "when tls_enabled; true needs tls_enabled; false: plain gossip")),
        Setting("alertmanager_cluster_peer_timeout", "duration", "15s", section="alertmanager",
                help=(
                    "--cluster.peer-timeout: the n-th Alertmanager of a cluster waits n times "
                    "this before it sends what none before it did; alertmanager_group_interval "
                    "must be longer than (Alertmanagers - 1) x this (units ms, s, m, h)")),
    ),
)


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return s.alertmanager_data_dir


def cluster_size() -> int:
    """How many Alertmanagers of the inventory form one cluster (also outside --limit)."""
    return len(hosts_running(NAME))


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
    problems = cluster_size_problems(s.values, len(others) + 1)
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


CLUSTER_FLAG_RE = re.compile(r"--cluster\.[a-z.-]+=\S*")


def cluster_flags_in(lines) -> set[str]:
    return {m.group(0) for line in lines for m in CLUSTER_FLAG_RE.finditer(line)}


def cluster_changes(unit: Unit) -> bool:
    """Does this run change how this Alertmanager finds and talks to its cluster: the
    --cluster.* flags of `unit` (members, gossip port or address, encryption, timing)
    against those of its installed unit? Then a member restarted alone would look for
    the others where they are not yet, or speak what they do not: the cluster restarts
    together, not one host at a time (services.service). False for a new install."""
    if cluster_size() < 2:
        return False   # no cluster to restart one host at a time
    live = host.get_fact(FileContents, path=unit_path(NAME))
    if not live:
        return False
    return cluster_flags_in(live) != cluster_flags_in(unit.content().splitlines())


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


def template_check(amtool: str) -> str:
    """validated_files' check of notification templates ({paths}): amtool check-config
    of a config of their own that lists them, which parses every template (a file it
    cannot parse fails with Go's template error)."""
    q = shlex.quote
    # no braces but {paths}: validated_files formats the command; the paths are
    # /etc/alertmanager/templates/<name>, names of letters, digits, _ . and -
    head = "route:\\n  receiver: x\\nreceivers:\\n  - name: x\\ntemplates:\\n"
    return (f'd=$(mktemp -d) && printf {q(head)} > "$d/c.yml" && '
            'for p in {paths}; do echo "  - $p" >> "$d/c.yml"; done && '
            f'{q(amtool)} check-config "$d/c.yml"; rc=$?; rm -rf "$d"; test $rc -eq 0')


def check_package_version(s) -> None:
    """Debian's package is whatever the host's release ships: what its version lacks
    (receivers, time intervals) is refused while planning, before anything changes."""
    if s.alertmanager_install_method != "package":
        return
    package = debian_package(NAME)
    version = host.get_fact(PackageVersion, package=package)
    if not version:
        return   # apt knows no such package: the install step says so
    who = f"Debian's {package} {version}"
    errors = (receivers.receiver_version_problems(s.alertmanager_receivers, version, who)
              + routing.routing_version_problems(s.values, version, who))
    if errors:
        raise SettingsError(f"host {host.name}: " + "; ".join(errors)
                            + " (or alertmanager_install_method = 'archive')")


@deploy("Alertmanager")
def install():
    s = settings()
    system_user(NAME, home(s))
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (SECRETS_DIR, "root", NAME, "0750"),
                (TEMPLATES_DIR, "root", NAME, "0750"),
                (s.alertmanager_data_dir, NAME, NAME, "0750"))
    binaries = install_binaries(NAME, [NAME, "amtool"], support_files={
        "default.tmpl": f"{DEBIAN_TEMPLATES}/default.tmpl",
        "email.tmpl": f"{DEBIAN_TEMPLATES}/email.tmpl",
    })
    web = protect(NAME, CONFIG_DIR)
    check_package_version(s)
    amtool = binaries.path("amtool")
    text, secret_files = routing.config(s)
    # read by Alertmanager on every notification: no reload
    validated_files(name="Write the receivers' secret files", files=secret_files,
                    only_these_in=SECRETS_DIR, user="root", group=NAME, mode="0640",
                    hidden=True)
    templates_op = validated_files(
        name="Write notification templates (checked by amtool)",
        files={dest: local.read_text()
               for dest, local in routing.template_files(s.values).items()},
        validate=template_check(amtool), only_these_in=TEMPLATES_DIR,
        user="root", group=NAME, mode="0640")
    config_op = validated_file(
        name="Write alertmanager.yml (checked by amtool)", dest=CONFIG,
        content=text, validate=f"{amtool} check-config {{path}}",
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
            together=cluster_changes(unit),
            reload_on=[templates_op, config_op])
