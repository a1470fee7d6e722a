"""Every deploy setting: its type, default and meaning, and the validation of host data.

This schema is the one source of truth: `group_data/all.py` and the README's settings table
are generated from it (`python3 -m operations.settings --write`), and a test checks both
are current. Values given with `pyinfra --data key=value` arrive as strings and are
coerced by the declared type ("false" is False); what does not fit is rejected with one
error naming the host, the key and the value.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pyinfra.api.exceptions import PyinfraError

from .remote_write import problems as remote_write_problems
from .remote_write import queue_problems as remote_write_queue_problems
from .upstream_releases import RELEASES

# Grafana's APT repository serves every release: its package method installs this one too
GRAFANA_REPO_VERSION_HELP = ("upstream version (pinned, never 'latest'): the archive method's "
                             "release, and the package version the package method installs "
                             "from Grafana's APT repository")

# Components, in deploy order, with where they run and the port they listen on.
# `group` is the inventory group whose hosts get the component ("all" = every host).
# Components only Prometheus talks to listen on "auto": the address it scrapes them at.
VM_CLUSTER_INSTALL_HELP = ("`archive` only: upstream's cluster tarball (via artifact_mirror; no "
                           "sha256 is pinned: give it in artifact_checksums); Debian has no "
                           "cluster package")
COMPONENTS: dict[str, dict[str, Any]] = {
    "node_exporter": {"listen_address": "auto", "port": 9100, "group": "all", "enabled": True,
                      "help": "host metrics (CPU, memory, disks, network, systemd units)"},
    "redis_exporter": {"listen_address": "auto", "port": 9121, "group": "redis", "enabled": True,
                       "help": "Redis metrics, on hosts of the redis group"},
    "postgres_exporter": {"listen_address": "auto", "port": 9187, "group": "postgres", "enabled": True,
                          "help": "PostgreSQL metrics, on hosts of the postgres group"},
    "cadvisor": {"listen_address": "auto", "port": 8080, "group": "docker", "enabled": True,
                 "help": "container metrics (CPU, memory, restarts), on hosts of the docker group",
                 "install_help": "`archive` only: upstream's raw binary (via "
                                 "artifact_mirror); there is no package"},
    "pushgateway": {"port": 9091, "group": "monitoring", "enabled": False,
                    "help": "push endpoint for batch jobs"},
    "blackbox_exporter": {"listen_address": "auto", "port": 9115, "group": "monitoring", "enabled": False,
                          "help": "HTTP/TCP/ICMP probes of endpoints"},
    "alertmanager": {"port": 9093, "group": "monitoring", "enabled": True,
                     "help": "routes alerts to receivers"},
    # the long-term store before Prometheus: a host running both sends to a ready store
    # no sha256 of its release archives is pinned: Debian's package is the default
    "victoriametrics": {"port": 8428, "group": "victoriametrics", "enabled": True,
                        "install_method": "package",
                        "help": "long-term storage of every Prometheus' samples (remote_write), "
                                "on hosts of the victoriametrics group",
                        "install_help": "`archive`: upstream's single-node tarball (via "
                                        "artifact_mirror; no sha256 is pinned: give it in "
                                        "artifact_checksums); `package`: the distribution's "
                                        "package victoria-metrics"},
    # the cluster edition (operations/vmcluster.py): upstream's cluster tarball only, one
    # release entry for the three; storage first, so vminsert and vmselect find it up
    "vmstorage": {"port": 8482, "group": "vmstorage", "enabled": True,
                  "release": "victoriametrics_cluster",
                  "help": "VictoriaMetrics cluster: stores the samples, on hosts of the "
                          "vmstorage group",
                  "install_help": VM_CLUSTER_INSTALL_HELP},
    "vminsert": {"port": 8480, "group": "vminsert", "enabled": True,
                 "release": "victoriametrics_cluster",
                 "help": "VictoriaMetrics cluster: takes every Prometheus' remote_write and "
                         "spreads it over the vmstorage hosts, on hosts of the vminsert group",
                 "install_help": VM_CLUSTER_INSTALL_HELP},
    "vmselect": {"port": 8481, "group": "vmselect", "enabled": True,
                 "release": "victoriametrics_cluster",
                 "help": "VictoriaMetrics cluster: answers queries (Grafana's data source) "
                         "from every vmstorage host, on hosts of the vmselect group",
                 "install_help": VM_CLUSTER_INSTALL_HELP},
    "prometheus": {"port": 9090, "group": "monitoring", "enabled": True,
                   "help": "scrapes targets, stores metrics, evaluates alert rules"},
    # Loki before Alloy: on a one-host first run the shipper finds its Loki running.
    # no sha256 of Loki's or Alloy's zips is pinned: by default they come from Grafana's
    # signed APT repository, so a plain deploy works without artifact_checksums
    "loki": {"port": 3100, "group": "monitoring", "enabled": True, "install_method": "package",
             "version_help": GRAFANA_REPO_VERSION_HELP,
             "help": "stores the logs shipped by Alloy (no authentication of its own)",
             "install_help": "`archive`: upstream zip (via artifact_mirror; no sha256 is "
                             "pinned: give it in artifact_checksums); `package`: Grafana's "
                             "APT repository (package loki)"},
    "alloy": {"listen_address": "auto", "port": 12345, "group": "all", "enabled": True, "install_method": "package",
              "version_help": GRAFANA_REPO_VERSION_HELP,
              "help": "log shipper: journal, log files and Docker containers to Loki",
              "install_help": "`archive`: upstream zip (x86_64, aarch64; via "
                              "artifact_mirror; no sha256 is pinned: give it in "
                              "artifact_checksums); `package`: Grafana's APT repository "
                              "(package alloy)"},
    "grafana": {"port": 3000, "group": "monitoring", "enabled": True,
                "version_help": GRAFANA_REPO_VERSION_HELP,
                "help": "dashboards; data sources and dashboards provisioned over its API",
                # armv6 (Pi 1/Zero): Grafana builds it only as the grafana-rpi package
                "install_help": "`archive`: upstream tarball (x86_64, aarch64; via "
                                "artifact_mirror); `package`: Grafana's APT repository "
                                "(package grafana, or grafana-rpi on armv6l hosts)"},
}
INSTALL_METHODS = ("package", "archive")

# pyinfra's own connection and execution settings may appear in host data too.
PYINFRA_KEY_PREFIXES = ("ssh_", "winrm_", "docker_", "chroot_", "local_", "podman_",
                        "terraform_", "vagrant_", "_")

# Prometheus' own duration syntax: units largest first, each at most once.
DURATION_RE = re.compile(r"^(?!$)((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$|^0$")
SIZE_RE = re.compile(r"^(\d+)(B|KB|MB|GB|TB|PB|EB)$")
# what Go's time.ParseDuration takes of those units (flags of Alertmanager, VictoriaMetrics)
GO_DURATION_RE = re.compile(r"(\d+(ms|s|m|h))+")
# VictoriaMetrics' -retentionPeriod: one number, a unit or none (months)
VM_RETENTION_RE = re.compile(r"^(\d+)(h|d|w|y)?$")


class SettingsError(PyinfraError, ValueError):
    """Bad deploy data: raised before any operation runs. As a PyinfraError, pyinfra
    shows it as one line naming the cause, without a traceback."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: str          # bool, int, str, duration, size, list, dict, choice
    default: Any
    help: str
    choices: tuple = ()
    optional: bool = False   # None allowed
    minimum: int | None = None
    maximum: int | None = None
    section: str = "general"


def _component_settings() -> list[Setting]:
    out = []
    for name, c in COMPONENTS.items():
        out += [
            Setting(f"{name}_enabled", "bool", c["enabled"],
                    f"install {name} ({c['help']})", section=name),
            Setting(f"{name}_install_method", "choice", c.get("install_method", "archive"), c.get(
                    "install_help", "`archive`: upstream release archive (via "
                    "artifact_mirror); `package`: the distribution's package"),
                    choices=INSTALL_METHODS, section=name),
            Setting(f"{name}_version", "str", _default_version(name), c.get(
                    "version_help", "upstream version for the archive method (pinned, never "
                    "'latest')"), section=name),
            Setting(f"{name}_port", "int", c["port"], "TCP port it listens on",
                    minimum=1, maximum=65535, section=name),
            Setting(f"{name}_listen_address", "str", c.get("listen_address", "0.0.0.0"),
                    "address it binds to: `auto` = only the address other hosts reach this "
                    "host at (see \"Listen addresses\"); `0.0.0.0` = every interface",
                    section=name),
            Setting(f"{name}_group", "str", c["group"],
                    "inventory group whose hosts run it ('all': every host)", section=name),
            Setting(f"{name}_extra_flags", "list", [],
                    "extra command-line flags, appended as given", section=name),
        ]
    return out


def release_of(component: str) -> str:
    """The release-table entry a component is installed from (the cluster's three
    components share one tarball)."""
    return COMPONENTS.get(component, {}).get("release", component)


def _default_version(component: str) -> str:
    return RELEASES[release_of(component)]["version"]


SETTINGS: list[Setting] = [
    # -- where artifacts come from ------------------------------------------------------
    Setting("artifact_mirror", "str", None, optional=True, help=(
        "base URL of a flat folder holding upstream release files under their upstream "
        "names (Loki's and Alloy's SHA256SUMS as loki-v<version>-SHA256SUMS and "
        "alloy-v<version>-SHA256SUMS); unset: download from upstream")),
    Setting("artifact_checksums", "dict", {}, help=(
        "file name -> sha256, extending the pinned table (for builds you mirror yourself)")),
    Setting("artifact_cache_dir", "str", "~/.cache/monstack/artifacts", help=(
        "controller folder where archives are downloaded once and verified")),
    Setting("fact_batch_dir", "str", "~/.cache/monstack/facts", optional=True, help=(
        "controller folder remembering which facts each host was asked for (names and "
        "arguments, never values), so the next run asks them all in one round trip per "
        "host; unset (None): one round trip per fact, as plain pyinfra")),
    Setting("machine_arch", "str", None, optional=True, help=(
        "override the host's `uname -m` for artifact selection (x86_64, aarch64, armv7l, "
        "armv6l, armv8l)")),
    Setting("secrets_file", "str", "secrets.yml", help=(
        "untracked YAML file (relative to where pyinfra runs) with secrets not given as "
        "environment variables")),
    Setting("scrape_address", "str", None, optional=True, help=(
        "address Prometheus uses to reach this host's exporters (default: its inventory "
        "name)")),
    # -- tls and basic auth ---------------------------------------------------------------
    # Settings of the whole stack (every host the same): Prometheus reaches every target of
    # a job with one scheme and one login. Only the certificate and key are per host.
    Setting("tls_enabled", "bool", False, section="tls_and_basic_auth", help=(
        "serve Prometheus, Alertmanager, Pushgateway and the node, postgres, redis and "
        "blackbox exporters over HTTPS; Prometheus, Grafana and the readiness checks verify "
        "them with tls_ca_file")),
    Setting("tls_cert_file", "str", None, optional=True, section="tls_and_basic_auth", help=(
        "controller path of the host's certificate (PEM, chain after it), valid for the "
        "address Prometheus scrapes the host at; {host} is replaced by the inventory name")),
    Setting("tls_key_file", "str", None, optional=True, section="tls_and_basic_auth", help=(
        "controller path of that certificate's private key (PEM, not encrypted); {host} as "
        "above")),
    Setting("tls_ca_file", "str", None, optional=True, section="tls_and_basic_auth", help=(
        "controller path of the CA certificate(s) (PEM) that signed the hosts' "
        "certificates, trusted by Prometheus, Grafana and the readiness checks")),
    Setting("basic_auth_enabled", "bool", False, section="tls_and_basic_auth", help=(
        "require an HTTP basic auth login on those endpoints (a bcrypt hash in each "
        "web.yml); Prometheus, Grafana and the readiness checks log in")),
    Setting("basic_auth_username", "str", "prometheus", section="tls_and_basic_auth",
            help="user name of that login"),
    Setting("basic_auth_password_secret", "str", "MONSTACK_BASIC_AUTH_PASSWORD",
            section="tls_and_basic_auth", help=(
                "name of the secret holding its password (at most 72 bytes; no line breaks, "
                "no spaces at either end)")),
    # -- prometheus ----------------------------------------------------------------------
    Setting("prometheus_scrape_interval", "duration", "15s", "how often targets are scraped",
            section="prometheus"),
    Setting("prometheus_scrape_timeout", "duration", "10s", "scrape timeout",
            section="prometheus"),
    Setting("prometheus_evaluation_interval", "duration", "15s",
            "how often rules are evaluated", section="prometheus"),
    Setting("prometheus_external_labels", "dict", {}, section="prometheus",
            help="labels added to every series and alert (e.g. cluster, environment)"),
    Setting("prometheus_replica_label", "str", "replica", section="prometheus", help=(
        "when 2+ hosts run Prometheus (an HA pair): external label naming each one, its "
        "value the host's inventory name (unless prometheus_external_labels sets it); "
        "dropped from the alerts they send, so Alertmanager sees one alert, not one per "
        "replica (see \"Topologies\")")),
    Setting("site", "str", None, optional=True, section="prometheus", help=(
        "the site (data centre, region) this host belongs to: a Prometheus scrapes only "
        "the hosts of its own site and labels its series with it (prometheus_site_label); "
        "unset on every host: one site, as without this setting (see \"Topologies\")")),
    Setting("prometheus_site_label", "str", "site", section="prometheus", help=(
        "external label naming a Prometheus' site (its value: the host's `site`, unless "
        "prometheus_external_labels sets it), so a global Prometheus keeps the sites' "
        "series apart")),
    Setting("prometheus_federate_group", "str", "federation", section="prometheus", help=(
        "inventory group whose hosts run a global Prometheus: it federates the series "
        "matched by prometheus_federate_match from every other Prometheus of the "
        "inventory (each with a `site`) instead of scraping their targets")),
    Setting("prometheus_federate_match", "list", ["up", '{__name__=~".+:.+"}'],
            section="prometheus", help=(
                "the series a global Prometheus federates (`match[]` selectors of "
                "/federate; default: `up` and every recording rule's result, whose names "
                "hold a colon)")),
    Setting("prometheus_retention_time", "duration", "30d", "how long samples are kept",
            section="prometheus"),
    Setting("prometheus_retention_size", "size", None, optional=True, section="prometheus",
            help="cap on block storage (e.g. 10GB); unset: no size cap"),
    Setting("prometheus_data_dir", "str", "/var/lib/prometheus", "TSDB folder",
            section="prometheus"),
    Setting("prometheus_min_free_mb", "int", 256, minimum=0, maximum=1048576,
            section="prometheus", help=(
                "the deploy stops before changing anything when the filesystem of "
                "prometheus_data_dir has less free space than this, in MiB (on a full disk "
                "Prometheus stores no samples); 0: no check")),
    Setting("prometheus_web_external_url", "str", None, optional=True, section="prometheus",
            help="URL users reach Prometheus at (behind a proxy)"),
    Setting("prometheus_scrape_jobs", "list", [], section="prometheus", help=(
        "extra jobs: [{job_name, targets: [host:port], metrics_path, scheme, labels, "
        "fallback_scrape_protocol}] (application /metrics endpoints; "
        "fallback_scrape_protocol, for targets sending a wrong Content-Type, needs "
        "Prometheus 3)")),
    Setting("prometheus_extra_scrape_configs", "list", [], section="prometheus",
            help="raw Prometheus scrape_config entries, passed through as given"),
    Setting("prometheus_shipped_rules", "list",
            ["host", "targets", "apps", "redis", "postgres", "monitoring", "watchdog",
             "loki", "containers"],
            section="prometheus", help="shipped alert rule sets to install"),
    Setting("prometheus_rule_files", "list", [], section="prometheus",
            help="your own rule files (controller paths), validated and installed"),
    Setting("prometheus_remote_write", "list", [], section="prometheus", help=(
        "long-term stores to send samples to: [{url, name, remote_timeout, basic_auth: "
        "{username, password_secret}, bearer_token_secret, queue_config: {...}, "
        "write_relabel_configs: [...]}]; secrets are written to files beside "
        "prometheus.yml, never into it")),
    Setting("prometheus_remote_write_victoriametrics", "bool", True, section="prometheus",
            help=("send samples to every VictoriaMetrics host of the inventory too (group "
                  "victoriametrics), and to every vminsert of its cluster edition")),
    Setting("prometheus_remote_write_victoriametrics_queue_config", "dict", {},
            section="prometheus",
            help=("queue_config of those automatic entries (keys as in Prometheus' "
                  "queue_config; e.g. {min_shards: 4, max_shards: 4}: no resharding during "
                  "an outage of the store)")),
    # -- alertmanager ------------------------------------------------------------------
    Setting("alertmanager_receivers", "list", [], section="alertmanager", help=(
        "receivers: [{name, type: slack|email|telegram|pagerduty|webhook, severities, "
        "...}]; secret fields end in _secret and name an environment variable or a key "
        "of secrets_file")),
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
    # -- exporters -----------------------------------------------------------------------
    Setting("node_exporter_textfile_dir", "str", "/var/lib/node_exporter/textfile_collector",
            "folder of *.prom files exposed by the textfile collector",
            section="node_exporter"),
    Setting("redis_exporter_redis_addr", "str", "redis://localhost:6379",
            "the Redis instance to watch", section="redis_exporter"),
    Setting("redis_exporter_password_secret", "str", None, optional=True,
            section="redis_exporter",
            help="name of the secret holding the Redis password, if it has one"),
    Setting("postgres_exporter_dsn", "str",
            "postgresql://postgres_exporter@:5432/postgres?host=/run/postgresql&sslmode=disable",
            section="postgres_exporter", help=(
                "connection string without password (default: the local server over its "
                "socket, peer authentication as the postgres_exporter role)")),
    Setting("postgres_exporter_password_secret", "str", None, optional=True,
            section="postgres_exporter",
            help="name of the secret holding the role's password (TCP connections)"),
    Setting("postgres_exporter_create_db_user", "bool", False, section="postgres_exporter",
            help="create the postgres_exporter role (login, pg_monitor) on the local server"),
    Setting("blackbox_exporter_targets", "list", [], section="blackbox_exporter",
            help="URLs probed with the http_2xx module"),
    # -- loki ------------------------------------------------------------------------------
    Setting("loki_data_dir", "str", "/var/lib/loki", section="loki",
            help="chunks, index, rules and the compactor's working folder"),
    Setting("loki_retention_period", "duration", "30d", section="loki", help=(
        "how long logs are kept (deleted by the compactor; at least 24h, or 0s to keep "
        "them forever)")),
    Setting("loki_ingestion_rate_mb", "int", 4, minimum=1, maximum=100000, section="loki",
            help="per-tenant ingestion rate limit in MB/s (pushes above it get HTTP 429)"),
    Setting("loki_ingestion_burst_size_mb", "int", 6, minimum=1, maximum=100000,
            section="loki",
            help="per-tenant ingestion burst size in MB"),
    Setting("loki_max_global_streams_per_user", "int", 10000, minimum=1, maximum=10000000,
            section="loki",
            help="most active streams (label sets) Loki accepts"),
    # -- victoriametrics ------------------------------------------------------------------
    Setting("victoriametrics_retention_period", "str", "1y", section="victoriametrics",
            help=("how long samples are kept (-retentionPeriod: a number with h, d, w or y, "
                  "at least 24h; a bare number counts months)")),
    Setting("victoriametrics_data_dir", "str", "/var/lib/victoriametrics",
            section="victoriametrics", help="storage folder (-storageDataPath)"),
    # -- victoriametrics cluster (vmstorage, vminsert, vmselect) ---------------------------
    # Settings of the whole cluster: give them in group_data/all.py (every host the same).
    Setting("vmcluster_tenant", "int", 0, minimum=0, maximum=4294967295, section="vmcluster",
            help=("accountID the samples are written to and read from (the <tenant> of "
                  "/insert/<tenant>/prometheus and /select/<tenant>/prometheus)")),
    Setting("vmcluster_retention_period", "str", "1y", section="vmcluster", help=(
        "how long vmstorage keeps samples (-retentionPeriod; as "
        "victoriametrics_retention_period)")),
    Setting("vmcluster_replication_factor", "int", 1, minimum=1, maximum=100,
            section="vmcluster", help=(
                "copies vminsert writes of every sample, on that many vmstorage hosts "
                "(-replicationFactor of vminsert and vmselect); at most the number of "
                "vmstorage hosts")),
    Setting("vmcluster_dedup_min_scrape_interval", "str", None, optional=True,
            section="vmcluster", help=(
                "-dedup.minScrapeInterval of vmselect and vmstorage (a Go duration: ms, s, "
                "m, h); unset: 1ms when samples arrive twice (replication factor above 1, "
                "or 2+ vminsert hosts, each written to by every Prometheus), else none")),
    Setting("vmstorage_data_dir", "str", "/var/lib/vmstorage", section="vmcluster",
            help="vmstorage's storage folder (-storageDataPath)"),
    Setting("vmstorage_vminsert_port", "int", 8400, minimum=1, maximum=65535,
            section="vmcluster", help="port vmstorage takes vminsert's writes on (-vminsertAddr)"),
    Setting("vmstorage_vmselect_port", "int", 8401, minimum=1, maximum=65535,
            section="vmcluster", help="port vmstorage answers vmselect on (-vmselectAddr)"),
    # -- alloy -----------------------------------------------------------------------------
    Setting("alloy_log_paths", "list", ["/var/log/*.log"], section="alloy",
            help="log files Alloy tails (glob patterns; [] for none)"),
    Setting("alloy_journal", "bool", True, section="alloy",
            help="ship the systemd journal (labels unit and level)"),
    Setting("alloy_docker_logs", "choice", "auto", choices=("auto", "true", "false"),
            section="alloy", help=(
                "ship Docker containers' logs (label container); auto: where "
                "/var/run/docker.sock and the docker group exist")),
    Setting("alloy_loki_url", "str", None, optional=True, section="alloy", help=(
        "push URL of the Loki to ship to (default: the first Loki host of the inventory, "
        "http://<host>:<loki_port>/loki/api/v1/push)")),
    # -- cadvisor --------------------------------------------------------------------------
    Setting("cadvisor_housekeeping_interval", "duration", "30s", section="cadvisor",
            help="how often cAdvisor collects container statistics (s, m or h units)"),
    # -- grafana -------------------------------------------------------------------------
    Setting("grafana_admin_user", "str", "admin", section="grafana",
            help="login of Grafana's server admin (used to provision over the API)"),
    Setting("grafana_admin_password_secret", "str", "GRAFANA_ADMIN_PASSWORD",
            section="grafana", help=(
                "name of the secret holding the admin password (there is no default "
                "password: the deploy stops while it is unset)")),
    Setting("grafana_admin_password_previous_secret", "str", None, optional=True,
            section="grafana", help=(
                "name of the secret holding the admin password Grafana has now, to change "
                "it to the one above (Grafana reads admin_password only at its first "
                "start)")),
    Setting("grafana_root_url", "str", None, optional=True, section="grafana",
            help="URL users reach Grafana at (https: secure cookies)"),
    Setting("grafana_data_dir", "str", "/var/lib/grafana", section="grafana",
            help="database, plugins and logs"),
    Setting("grafana_apt_repo_url", "str", "https://apt.grafana.com", section="grafana",
            help="Grafana's APT repository (package method; or your mirror of it)"),
    Setting("grafana_apt_key_url", "str", "https://apt.grafana.com/gpg.key",
            section="grafana", help=(
                "signing key of that repository, downloaded once on the controller into "
                "artifact_cache_dir (delete it there to fetch it again)")),
    Setting("grafana_apt_key_file", "str", None, optional=True, section="grafana",
            help="controller path of that key, instead of downloading it (air-gapped sites)"),
    Setting("grafana_allow_sign_up", "bool", False, section="grafana",
            help="let visitors create their own accounts"),
    Setting("grafana_anonymous_access", "bool", False, section="grafana",
            help="let visitors view dashboards without logging in"),
    Setting("grafana_dashboards_dir", "str", None, optional=True, section="grafana",
            help="controller folder of your own dashboard JSON files (each with a uid)"),
    Setting("grafana_extra_datasources", "list", [], section="grafana", help=(
        "more data sources: [{uid, name, type, url, access, jsonData, secureJsonData}]; "
        "secureJsonData keys ending in _secret name a secret")),
    Setting("grafana_service_account", "str", "monstack", optional=True, section="grafana",
            help=("service account (Admin) with a token for automation, created once; its "
                  "token is written to grafana_token_dir; unset: none")),
    Setting("grafana_token_dir", "str", "~/.config/monstack/grafana-tokens",
            section="grafana", help=(
                "controller folder (0700) where each Grafana host's service-account token "
                "is kept, as <host>.token (0600); a lost token is replaced on the next run")),
    Setting("grafana_folder", "str", "Monitoring", section="grafana",
            help="title of the folder (uid monstack) holding the dashboards"),
    Setting("grafana_url", "str", None, optional=True, section="grafana", help=(
        "URL the controller reaches Grafana's API at (default: http://<host address>:"
        "<grafana_port>)")),
    *_component_settings(),
]
BY_NAME = {s.name: s for s in SETTINGS}


# -- coercion ----------------------------------------------------------------------------
TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0"}


def _parse_structured(value: str) -> Any:
    import yaml
    return yaml.safe_load(value)


def coerce(setting: Setting, value: Any) -> Any:
    """Return `value` as the setting's type, or raise ValueError saying what is wrong."""
    if value is None or (setting.optional and value == ""):
        if setting.optional:
            return None
        raise ValueError("must be set")
    t = setting.type
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
            return value.strip().lower() in TRUE
        raise ValueError(f"expected true/false, got {value!r}")
    if t == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = int(value) if isinstance(value, (int, str)) else None
        except ValueError:
            number = None
        if number is None:
            raise ValueError(f"expected a whole number, got {value!r}")
        if setting.minimum is not None and number < setting.minimum or (
                setting.maximum is not None and number > setting.maximum):
            raise ValueError(f"{number} is out of range {setting.minimum}..{setting.maximum}")
        return number
    if t == "choice" and isinstance(value, bool) and {"true", "false"} <= set(setting.choices):
        value = "true" if value else "false"
    if t in ("str", "choice", "duration", "size"):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
        if t == "choice" and value not in setting.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(setting.choices)}")
        if t == "duration" and not DURATION_RE.match(value):
            raise ValueError(f"{value!r} is not a duration like 30s, 5m, 12h, 30d")
        if t == "size" and not SIZE_RE.match(value):
            raise ValueError(f"{value!r} is not a size like 512MB or 10GB")
        return value
    if t in ("list", "dict"):
        if isinstance(value, str):
            try:
                value = _parse_structured(value)
            except Exception as exc:  # yaml's errors are many
                raise ValueError(f"could not parse {value!r} as a {t}: {exc}") from None
        want = list if t == "list" else dict
        if isinstance(value, tuple) and want is list:
            value = list(value)
        if not isinstance(value, want):
            raise ValueError(f"expected a {t}, got {type(value).__name__} {value!r}")
        return value
    raise AssertionError(f"unknown setting type {t}")


def is_pyinfra_key(key: str) -> bool:
    return key.startswith(PYINFRA_KEY_PREFIXES)


COMPONENT_SUFFIXES = ("_enabled", "_install_method", "_version", "_port", "_listen_address",
                      "_group", "_extra_flags")


def suggestion(key: str) -> str:
    for suffix in COMPONENT_SUFFIXES:
        component = key[: -len(suffix)]
        if key.endswith(suffix) and component not in COMPONENTS:
            # a setting of that shape that is no component's (prometheus_federate_group)
            near = difflib.get_close_matches(key, BY_NAME, n=1, cutoff=0.85)
            if near and not any(near[0] == f"{c}{suffix}" for c in COMPONENTS):
                return f" (did you mean {near[0]!r}?)"
            close = difflib.get_close_matches(component, COMPONENTS, n=1, cutoff=0.75)
            hint = f"did you mean {close[0] + suffix!r}? " if close else ""
            return (f" ({hint}unknown component {component!r}; components: "
                    f"{', '.join(COMPONENTS)})")
    close = difflib.get_close_matches(key, BY_NAME, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class Settings:
    """Validated settings of one host: attribute access, every key present."""

    host_name: str
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def component(self, name: str, key: str) -> Any:
        return self.values[f"{name}_{key}"]


def validate(host_name: str, data: dict[str, Any],
             source: Callable[[str], str] | None = None, strict: bool = True) -> Settings:
    """Check one host's data against the schema; return its Settings.

    `data` holds only the keys the user gave (group_data, host data, --data); `source`
    names where a key came from, for the error message. Not `strict`: keys that are not
    settings are ignored (a user's own deploy importing our components has data of its
    own); ours are still checked."""
    errors = []
    values = {s.name: s.default for s in SETTINGS}
    for key, value in data.items():
        if is_pyinfra_key(key):
            continue
        where = f" (from {source(key)})" if source else ""
        setting = BY_NAME.get(key)
        if setting is None and not strict:
            continue
        if setting is None:
            errors.append(f"unknown setting {key!r}{where}{suggestion(key)}")
            continue
        try:
            values[key] = coerce(setting, value)
        except ValueError as exc:
            errors.append(f"{key}{where}: {exc}")
    if not errors:
        errors += cross_checks(values)
    if errors:
        raise SettingsError(f"host {host_name}: " + "; ".join(errors))
    return Settings(host_name, values)


LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# an instant vector selector: a metric name, matchers in braces, or both (PromQL checks the
# rest on the host: a bad one shows as the federate job's scrape error)
SELECTOR_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?|\{.*\S.*\}", re.S)


def federation_problems(values: dict[str, Any]) -> list[str]:
    errors = []
    label = values["prometheus_site_label"]
    if not LABEL_NAME_RE.fullmatch(label):
        errors.append(f"prometheus_site_label ({label!r}) is not a Prometheus label name "
                      "(letters, digits, _; not a digit first)")
    elif label == values["prometheus_replica_label"]:
        errors.append(f"prometheus_site_label ({label!r}) must differ from "
                      "prometheus_replica_label")
    site = values["site"]
    if site is not None and not site.strip():
        errors.append("site must not be blank (unset it instead)")
    match = values["prometheus_federate_match"]
    if not match:
        errors.append("prometheus_federate_match must name at least one selector, like "
                      "'up' or '{__name__=~\"job:.+\"}'")
    for selector in match:
        if not isinstance(selector, str) or not SELECTOR_RE.fullmatch(selector.strip()):
            errors.append(f"prometheus_federate_match: {selector!r} is not a series "
                          "selector like 'up', 'up{job=\"node\"}' or '{__name__=~\"job:.+\"}'")
    if not values["prometheus_federate_group"].strip():
        errors.append("prometheus_federate_group must not be blank")
    return errors


def duration_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", value))


def cross_checks(values: dict[str, Any]) -> list[str]:
    """Rules between settings, which Prometheus would otherwise only report on the host."""
    errors = version_problems(values)
    if duration_seconds(values["prometheus_scrape_timeout"]) > duration_seconds(
            values["prometheus_scrape_interval"]):
        errors.append("prometheus_scrape_timeout "
                      f"({values['prometheus_scrape_timeout']}) must not be longer than "
                      f"prometheus_scrape_interval ({values['prometheus_scrape_interval']})")
    # Loki's documented minimum retention is 24h, its index period (0s: keep forever).
    retention = duration_seconds(values["loki_retention_period"])
    if 0 < retention < 86400:
        errors.append(f"loki_retention_period ({values['loki_retention_period']}) must be "
                      "at least 24h, or 0s to keep logs forever")
    if values["cadvisor_install_method"] == "package":
        errors.append("cadvisor_install_method = 'package': cAdvisor has no Debian package "
                      "(nor one in Grafana's repository); use 'archive' (upstream's binary, "
                      "via artifact_mirror)")
    if values["tls_enabled"]:
        missing = [k for k in ("tls_cert_file", "tls_key_file", "tls_ca_file") if not values[k]]
        if missing:
            errors.append(f"tls_enabled needs {', '.join(missing)} (controller paths of PEM "
                          "files)")
    # a colon ends the user name in a basic auth header; the rest would break config lines
    if values["basic_auth_enabled"] and not re.fullmatch(r"[^\s:\"\\]+",
                                                          values["basic_auth_username"]):
        errors.append(f"basic_auth_username ({values['basic_auth_username']!r}) must not be "
                      "empty nor hold white space, colons, quotes or backslashes")
    errors += remote_write_problems(values["prometheus_remote_write"])
    errors += remote_write_queue_problems("prometheus_remote_write_victoriametrics_queue_config",
                                          values["prometheus_remote_write_victoriametrics_queue_config"])
    for key in ("victoriametrics_retention_period", "vmcluster_retention_period"):
        retention = values[key]
        match = VM_RETENTION_RE.match(retention)
        if not match or (match.group(2) and duration_seconds(retention) < 86400) or (
                int(match.group(1)) == 0):
            errors.append(f"{key} ({retention!r}) must be a number with h, d, w or y (or "
                          "none: months), at least 24h, like 1y or 90d")
    errors += vm_cluster_problems(values)
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", values["prometheus_replica_label"]):
        errors.append(f"prometheus_replica_label ({values['prometheus_replica_label']!r}) is "
                      "not a Prometheus label name (letters, digits, _; not a digit first)")
    errors += federation_problems(values)
    if values["alertmanager_cluster_port"] == values["alertmanager_port"]:
        errors.append(f"alertmanager_cluster_port ({values['alertmanager_cluster_port']}) "
                      "must differ from alertmanager_port")
    errors += alertmanager_cluster_problems(values)
    # cAdvisor reads its flag with Go's time.ParseDuration, which has no d, w or y.
    if re.search(r"\d(d|w|y)", values["cadvisor_housekeeping_interval"]):
        errors.append(f"cadvisor_housekeeping_interval "
                      f"({values['cadvisor_housekeeping_interval']}) may only use the units "
                      "ms, s, m and h")
    return errors


# Alertmanager 0.24.0 brought --cluster.tls-config (Debian 12 ships 0.25.0).
CLUSTER_TLS_SINCE = (0, 24, 0)
CLUSTER_FLAGS = {"--cluster.peer-timeout": "alertmanager_cluster_peer_timeout",
                 "--cluster.tls-config": "alertmanager_cluster_tls_enabled"}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


# -- floors: the oldest version of each component the deploy can configure ------------------
# A release's number, as the file names take it: "v" is in RELEASES' templates where
# upstream's names carry one. A pre-release or build suffix counts as its release (as in
# every version check here).
VERSION_RE = re.compile(r"\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?")


def floor_of(component: str) -> tuple[str, str]:
    """The oldest version of `component` the deploy can configure, and why."""
    release = RELEASES[release_of(component)]
    return release["oldest"], release["oldest_reason"]


def version_is_pinned(values: dict[str, Any], component: str) -> bool:
    """Does <component>_version choose what is installed? The archive method's release;
    the package method's too for Grafana's repository (the package of that version),
    while a distribution's package is whatever the distribution ships."""
    return (values[f"{component}_install_method"] == "archive"
            or "deb_version" in RELEASES[release_of(component)])


def version_problems(values: dict[str, Any]) -> list[str]:
    """Each <component>_version that is not a version, or is older than its floor."""
    errors = []
    for component in COMPONENTS:
        key = f"{component}_version"
        version = values[key]
        if not VERSION_RE.fullmatch(version):
            hint = ("drop the leading 'v': the file names add it where upstream's carry one"
                    if VERSION_RE.fullmatch(version[1:]) and version[0] in "vV"
                    else "pinned, never 'latest'")
            errors.append(f"{key} ({version!r}) is not a version like "
                          f"{_default_version(component)} ({hint})")
            continue
        oldest, why = floor_of(component)
        if version_is_pinned(values, component) and version_tuple(version) < version_tuple(oldest):
            errors.append(f"{key} {version} is older than {oldest}, the oldest {component} "
                          f"monstack can configure (reason: {why}); use {oldest} or newer")
    return errors


def cluster_tls_wanted(values: dict[str, Any]) -> bool:
    """Is the gossip of an Alertmanager cluster (when there is one) to be encrypted?"""
    mode = values["alertmanager_cluster_tls_enabled"]
    return values["tls_enabled"] and mode != "false"


def alertmanager_cluster_problems(values: dict[str, Any]) -> list[str]:
    """One host's Alertmanager cluster settings on their own."""
    errors = []
    timeout = values["alertmanager_cluster_peer_timeout"]
    # Alertmanager reads it with Go's time.ParseDuration: no d, w or y; 0 sends duplicates
    if not GO_DURATION_RE.fullmatch(timeout) or duration_seconds(timeout) <= 0:
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


def alertmanager_cluster_size_problems(values: dict[str, Any], size: int) -> list[str]:
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


VM_CLUSTER = ("vmstorage", "vminsert", "vmselect")


def vm_cluster_problems(values: dict[str, Any]) -> list[str]:
    """The cluster edition's own rules (those between hosts: operations/vmcluster.py)."""
    errors = [f"{c}_install_method = 'package': Debian has no VictoriaMetrics cluster "
              "package; use 'archive' (upstream's cluster tarball, via artifact_mirror)"
              for c in VM_CLUSTER if values[f"{c}_install_method"] == "package"]
    dedup = values["vmcluster_dedup_min_scrape_interval"]
    if dedup is not None and not GO_DURATION_RE.fullmatch(dedup):
        errors.append(f"vmcluster_dedup_min_scrape_interval ({dedup!r}) must be a Go "
                      "duration like 1ms, 15s or 1m (units ms, s, m, h)")
    ports = {k: values[k] for k in ("vmstorage_port", "vmstorage_vminsert_port",
                                    "vmstorage_vmselect_port")}
    if len(set(ports.values())) < 3:
        errors.append("vmstorage_port, vmstorage_vminsert_port and vmstorage_vmselect_port "
                      f"must differ (one host serves all three): {ports}")
    return errors


# -- generated files ------------------------------------------------------------------------
def render_group_data_all() -> str:
    """group_data/all.py: every setting with its default and a one-line comment."""
    lines = [
        '"""Every setting of the monitoring stack, with its default.',
        "",
        "Generated from operations/settings.py (python3 -m operations.settings --write).",
        "Override in group_data/<group>.py, in the inventory's host data, or with",
        "`pyinfra --data key=value`. Secrets never go here: see the README.",
        '"""',
    ]
    for section in dict.fromkeys(s.section for s in SETTINGS):
        lines += ["", f"# -- {section} " + "-" * (80 - 7 - len(section))]
        for s in SETTINGS:
            if s.section == section:
                lines.append(f"# {s.help}")
                lines.append(f"{s.name} = {_py(s.default)}")
    return "\n".join(lines) + "\n"


def _py(value: Any) -> str:
    return repr(value)


def render_settings_table() -> str:
    rows = ["| setting | type | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        t = s.type + (f" ({'/'.join(s.choices)})" if s.choices else "")
        default = json.dumps(s.default) if not isinstance(s.default, str) else s.default
        rows.append(f"| `{s.name}` | {t} | `{default}` | {s.help.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


DEBIAN_RELEASES = {"bullseye": "Debian 11 (bullseye)", "bookworm": "Debian 12 (bookworm)",
                   "trixie": "Debian 13 (trixie)", "sid": "Debian unstable (sid)"}


def release_components() -> dict[str, list[str]]:
    """Each release entry with the components installed from it, in deploy order."""
    out: dict[str, list[str]] = {}
    for component in COMPONENTS:
        out.setdefault(release_of(component), []).append(component)
    return out


def render_versions_table() -> str:
    """README's table of versions: the default, the floor and what the suite proves."""
    rows = [("| component | default | oldest supported | proven with real binaries | how (Debian "
             "release of the build) |"),
            "| --- | --- | --- | --- | --- |"]
    for release, components in release_components().items():
        entry = RELEASES[release]
        name = release if components == [release] else f"{release} ({', '.join(components)})"
        proven = ", ".join(v for v, _ in entry["proven"]) or "none"
        how = (", ".join(f"{v}: {DEBIAN_RELEASES[d]}" for v, d in entry["proven"])
               or "test doubles only")
        rows.append(f"| {name} | {entry['version']} | {entry['oldest']} | {proven} | {how} |")
    return "\n".join(rows) + "\n"


README_TABLES = {"settings": render_settings_table, "versions": render_versions_table}


def with_table(text: str, marker: str, table: str) -> str:
    """`text` with `table` between its <!-- marker:start --> and <!-- marker:end -->."""
    start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start.strip()} ... {end} markers for the table")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + table + end + tail


if __name__ == "__main__":
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if "--write" in sys.argv:
        (repo / "group_data/all.py").write_text(render_group_data_all())
        readme = repo / "README.md"
        text = readme.read_text()
        for marker, render in README_TABLES.items():
            text = with_table(text, marker, render())
        readme.write_text(text)
    else:
        print(render_settings_table())
