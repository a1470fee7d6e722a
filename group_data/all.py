"""Every setting of the monitoring stack, with its default.

Generated from the catalogue (python3 -m operations.docs --write).
Override in group_data/<group>.py, in the inventory's host data, or with
`pyinfra --data key=value`. Secrets never go here: see the README.
"""

# -- general ------------------------------------------------------------------
# base URL (http:// or https://) of a flat folder holding upstream release files under their upstream names (Loki's and Alloy's SHA256SUMS as loki-v<version>-SHA256SUMS and alloy-v<version>-SHA256SUMS); unset: download from upstream
artifact_mirror = None
# file name -> sha256, extending the pinned table (for builds you mirror yourself)
artifact_checksums = {}
# controller folder where archives are downloaded once and verified
artifact_cache_dir = '~/.cache/monstack/artifacts'
# for an archive whose sha256 is neither pinned nor in artifact_checksums (e.g. the armv7/armv6 builds of 32-bit Raspberry Pis): trust the sha256 that its release's own checksum file lists (promu's sha256sums.txt, Grafana's <file>.sha256, ...), read from artifact_mirror (under the upstream name, or <component>-v<version>-<name> where that name holds no version, e.g. node_exporter-v1.12.1-sha256sums.txt) or upstream over HTTPS; the first one trusted is recorded in artifact_cache_dir/sha256-from-release/ and a later different one refused. It guards against corrupt downloads, not against a compromised release or mirror (see "Raspberry Pis")
artifact_checksums_from_release = False
# controller folder remembering which facts each host was asked for (names and arguments, never values), so the next run asks them all in one round trip per host; unset (None): one round trip per fact, as plain pyinfra
fact_batch_dir = '~/.cache/monstack/facts'
# longest an apt-get update or install on a host may take (a stalled mirror or proxy): the step then fails, naming the host and what to check
apt_timeout = '10m'
# a host that acknowledges nothing for this long in the middle of a run (its network went away) is given up: its run fails, the other hosts go on, a re-run converges it; a slow step on a reachable host is not cut short; 0s: wait for ever
connection_lost_after = '60s'
# seconds a service may take to answer its readiness check after a (re)start or reload, by component (defaults: 60, loki 120, grafana 300), for slow hosts; past it the step fails with the service's last journal lines
ready_timeouts = {}
# override the host's `uname -m` for artifact selection (x86_64, aarch64, armv7l, armv6l, armv8l)
machine_arch = None
# untracked YAML file (relative to where pyinfra runs) with secrets not given as environment variables
secrets_file = 'secrets.yml'
# address Prometheus uses to reach this host's exporters, an IP address or a host name (default: its inventory name)
scrape_address = None

# -- backups ------------------------------------------------------------------
# a systemd timer per kind of data a host holds (Prometheus' TSDB, Alertmanager's silences and notification log, Grafana's database and dashboards, Loki's index and rules, the rendered configs) writes a verified backup to backup_dir (see "Backups and restore"). Off by default: it enables Prometheus' admin API (only on loopback or behind basic auth) and takes disk space, both for the operator to decide
backup_enabled = False
# host folder of the backups (root only, 0700), one folder per kind; best on another disk than the data (each Prometheus backup is a full copy of its TSDB)
backup_dir = '/var/backups/monstack'
# verified backups kept per kind; older ones are deleted after each new one
backup_keep = 7
# read by restore.py only: the kind of backup to restore on the --limit host (prometheus, alertmanager, grafana, loki); see "Backups and restore"
restore_kind = None
# read by restore.py only: the backup to restore, a folder name under backup_dir/<kind>/ (e.g. prometheus-20260101T020000Z) or `latest`
restore_backup = 'latest'
# when the backup of the rendered configs and rule files (/etc/<component> of every component the host runs) runs (systemd OnCalendar: `daily`, `weekly`, `Sun *-*-* 03:00`; checked on the controller, then by `systemd-analyze calendar` on the host); unset (None): no backup of this kind
backup_configs_schedule = 'daily'
# when the backup of alertmanager's data runs (systemd OnCalendar: `daily`, `weekly`, `Sun *-*-* 03:00`; checked on the controller, then by `systemd-analyze calendar` on the host); unset (None): no backup of this kind
backup_alertmanager_schedule = 'daily'
# when the backup of prometheus's data runs (systemd OnCalendar: `daily`, `weekly`, `Sun *-*-* 03:00`; checked on the controller, then by `systemd-analyze calendar` on the host); unset (None): no backup of this kind
backup_prometheus_schedule = 'daily'
# when the backup of loki's data runs (systemd OnCalendar: `daily`, `weekly`, `Sun *-*-* 03:00`; checked on the controller, then by `systemd-analyze calendar` on the host); unset (None): no backup of this kind
backup_loki_schedule = 'daily'
# when the backup of grafana's data runs (systemd OnCalendar: `daily`, `weekly`, `Sun *-*-* 03:00`; checked on the controller, then by `systemd-analyze calendar` on the host); unset (None): no backup of this kind
backup_grafana_schedule = 'weekly'

# -- tls_and_basic_auth -------------------------------------------------------
# serve Prometheus, Alertmanager, Pushgateway and the node, postgres, redis and blackbox exporters over HTTPS; Prometheus, Grafana and the readiness checks verify them with tls_ca_file
tls_enabled = False
# controller path of the host's certificate (PEM, chain after it), valid for the address Prometheus scrapes the host at; {host} is replaced by the inventory name
tls_cert_file = None
# controller path of that certificate's private key (PEM, not encrypted); {host} as above
tls_key_file = None
# controller path of the CA certificate(s) (PEM) that signed the hosts' certificates, trusted by Prometheus, Grafana and the readiness checks
tls_ca_file = None
# require an HTTP basic auth login on those endpoints (a bcrypt hash in each web.yml); Prometheus, Grafana and the readiness checks log in
basic_auth_enabled = False
# user name of that login
basic_auth_username = 'prometheus'
# name of the secret holding its password (at most 72 bytes; no line breaks, no spaces at either end)
basic_auth_password_secret = 'MONSTACK_BASIC_AUTH_PASSWORD'

# -- node_exporter ------------------------------------------------------------
# install node_exporter (host metrics (CPU, memory, disks, network, systemd units))
node_exporter_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
node_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
node_exporter_version = '1.12.1'
# TCP port it listens on
node_exporter_port = 9100
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
node_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
node_exporter_group = 'all'
# extra command-line flags, appended as given
node_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
node_exporter_purge_data = False
# folder of *.prom files exposed by the textfile collector
node_exporter_textfile_dir = '/var/lib/node_exporter/textfile_collector'

# -- process_exporter ---------------------------------------------------------
# install process_exporter (named groups of processes: count, CPU, memory, restarts)
process_exporter_enabled = False
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
process_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
process_exporter_version = '0.8.7'
# TCP port it listens on
process_exporter_port = 9256
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
process_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
process_exporter_group = 'all'
# extra command-line flags, appended as given
process_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
process_exporter_purge_data = False
# the named process groups: a list of {name, comm, exe, cmdline} as process-exporter's config documents them (name a plain group name; comm: process names of up to 15 characters, exe: argv[0] names or paths, any of them matching; cmdline: regular expressions, all matching), e.g. [{'name': 'sshd', 'comm': ['sshd']}]; a process counts in the first group it matches
process_exporter_names = []

# -- systemd_exporter ---------------------------------------------------------
# install systemd_exporter (state and restarts of every systemd unit)
systemd_exporter_enabled = False
# `archive`: upstream release archive (via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); `package`: the distribution's package, which Debian has only from sid on (not in Debian 12 or 13)
systemd_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
systemd_exporter_version = '0.7.0'
# TCP port it listens on
systemd_exporter_port = 9558
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
systemd_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
systemd_exporter_group = 'all'
# extra command-line flags, appended as given
systemd_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
systemd_exporter_purge_data = False
# regular expression (RE2) of the units it reports
systemd_exporter_unit_include = '.+'
# regular expression (RE2) of the units it leaves out (default: devices, as upstream, and scopes: one per login session, many short-lived series)
systemd_exporter_unit_exclude = '.+\\.(device|scope)'

# -- redis_exporter -----------------------------------------------------------
# install redis_exporter (Redis metrics, on hosts of the redis group)
redis_exporter_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
redis_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
redis_exporter_version = '1.80.1'
# TCP port it listens on
redis_exporter_port = 9121
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
redis_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
redis_exporter_group = 'redis'
# extra command-line flags, appended as given
redis_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
redis_exporter_purge_data = False
# the Redis instance to watch
redis_exporter_redis_addr = 'redis://localhost:6379'
# name of the secret holding the Redis password, if it has one
redis_exporter_password_secret = None

# -- postgres_exporter --------------------------------------------------------
# install postgres_exporter (PostgreSQL metrics, on hosts of the postgres group)
postgres_exporter_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
postgres_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
postgres_exporter_version = '0.20.1'
# TCP port it listens on
postgres_exporter_port = 9187
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
postgres_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
postgres_exporter_group = 'postgres'
# extra command-line flags, appended as given
postgres_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
postgres_exporter_purge_data = False
# connection string without password (default: the local server over its socket, peer authentication as the postgres_exporter role)
postgres_exporter_dsn = 'postgresql://postgres_exporter@:5432/postgres?host=/run/postgresql&sslmode=disable'
# name of the secret holding the role's password (TCP connections)
postgres_exporter_password_secret = None
# create the postgres_exporter role (login, pg_monitor) on the local server
postgres_exporter_create_db_user = False

# -- mysqld_exporter ----------------------------------------------------------
# install mysqld_exporter (MySQL or MariaDB metrics, on hosts of the mysql group)
mysqld_exporter_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
mysqld_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
mysqld_exporter_version = '0.19.0'
# TCP port it listens on
mysqld_exporter_port = 9104
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
mysqld_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
mysqld_exporter_group = 'mysql'
# extra command-line flags, appended as given
mysqld_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
mysqld_exporter_purge_data = False
# the server's socket the exporter logs in over (Debian's MariaDB and MySQL)
mysqld_exporter_socket = '/run/mysqld/mysqld.sock'
# host:port to log in over TCP instead of the socket (needs mysqld_exporter_password_secret)
mysqld_exporter_address = None
# the database user it logs in as (socket login: the same name as its system user, mysqld_exporter)
mysqld_exporter_db_user = 'mysqld_exporter'
# name of the secret holding the database user's password (none: passwordless socket login, MariaDB's unix_socket)
mysqld_exporter_password_secret = None
# create the database user on the local server with the grants upstream documents (PROCESS, REPLICATION CLIENT, SELECT, at most 3 connections)
mysqld_exporter_create_db_user = False

# -- nginx_exporter -----------------------------------------------------------
# install nginx_exporter (nginx connection and request counters (stub_status), on hosts of the nginx group)
nginx_exporter_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
nginx_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
nginx_exporter_version = '1.5.1'
# TCP port it listens on
nginx_exporter_port = 9113
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
nginx_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
nginx_exporter_group = 'nginx'
# extra command-line flags, appended as given
nginx_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
nginx_exporter_purge_data = False
# nginx's stub_status page the exporter reads (upstream's default)
nginx_exporter_scrape_uri = 'http://127.0.0.1:8080/stub_status'
# write a loopback-only status server serving nginx_exporter_scrape_uri into /etc/nginx/conf.d/monstack-stub-status.conf (checked with nginx -t first, then nginx is reloaded); off: the deploy only says what to add when nothing answers
nginx_exporter_add_status_server = False

# -- haproxy ------------------------------------------------------------------
# install haproxy (HAProxy's built-in Prometheus endpoint, scraped on hosts of the haproxy group (nothing is installed))
haproxy_enabled = True
# TCP port it listens on
haproxy_port = 8405
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
haproxy_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
haproxy_group = 'haproxy'

# -- cadvisor -----------------------------------------------------------------
# install cadvisor (container metrics (CPU, memory, restarts), on hosts of the docker group)
cadvisor_enabled = True
# `archive` only: upstream's raw binary (via artifact_mirror); there is no package
cadvisor_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
cadvisor_version = '0.57.0'
# TCP port it listens on
cadvisor_port = 8080
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
cadvisor_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
cadvisor_group = 'docker'
# extra command-line flags, appended as given
cadvisor_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
cadvisor_purge_data = False
# how often cAdvisor collects container statistics (s, m or h units)
cadvisor_housekeeping_interval = '30s'

# -- pushgateway --------------------------------------------------------------
# install pushgateway (push endpoint for batch jobs)
pushgateway_enabled = False
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
pushgateway_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
pushgateway_version = '1.11.3'
# TCP port it listens on
pushgateway_port = 9091
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
pushgateway_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
pushgateway_group = 'monitoring'
# extra command-line flags, appended as given
pushgateway_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
pushgateway_purge_data = False

# -- blackbox_exporter --------------------------------------------------------
# install blackbox_exporter (HTTP/TCP/ICMP probes of endpoints)
blackbox_exporter_enabled = False
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
blackbox_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
blackbox_exporter_version = '0.28.0'
# TCP port it listens on
blackbox_exporter_port = 9115
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
blackbox_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
blackbox_exporter_group = 'monitoring'
# extra command-line flags, appended as given
blackbox_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
blackbox_exporter_purge_data = False
# URLs probed with the http_2xx module
blackbox_exporter_targets = []

# -- snmp_exporter ------------------------------------------------------------
# install snmp_exporter (SNMP probes of network devices (snmp_exporter_devices))
snmp_exporter_enabled = False
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
snmp_exporter_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
snmp_exporter_version = '0.30.1'
# TCP port it listens on
snmp_exporter_port = 9116
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
snmp_exporter_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
snmp_exporter_group = 'monitoring'
# extra command-line flags, appended as given
snmp_exporter_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
snmp_exporter_purge_data = False
# devices Prometheus probes through the exporter: [{target: host or host:port (udp:// or tcp:// first for another transport), module: name or modules: [names] (default: all of snmp_exporter_modules), auth: a name of snmp_exporter_auths, labels: {name: value}}]
snmp_exporter_devices = []
# how to log in to the devices, by name: {version: 2, community_secret: NAME} or {version: 3, username, security_level: noAuthNoPriv|authNoPriv|authPriv, auth_protocol: MD5|SHA|SHA224|SHA256|SHA384|SHA512, password_secret: NAME, priv_protocol: DES|AES|AES192|AES256|..., priv_password_secret: NAME, context_name}; *_secret name secrets (environment or secrets_file), written only into snmp.yml (0640)
snmp_exporter_auths = {}
# modules written into snmp.yml, taken by name from the snmp.yml of the release archive (upstream's generated modules) or of snmp_exporter_modules_file
snmp_exporter_modules = ['if_mib', 'system']
# controller path of an snmp.yml made with snmp_exporter's generator to take the modules from instead (needed by the package method: Debian ships no modules)
snmp_exporter_modules_file = None

# -- alertmanager -------------------------------------------------------------
# install alertmanager (routes alerts to receivers)
alertmanager_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
alertmanager_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
alertmanager_version = '0.34.1'
# TCP port it listens on
alertmanager_port = 9093
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
alertmanager_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
alertmanager_group = 'monitoring'
# extra command-line flags, appended as given
alertmanager_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
alertmanager_purge_data = False
# receivers: [{name, type: slack|email|telegram|pagerduty|webhook|msteams|msteamsv2|discord|opsgenie|pushover, severities, ...}]; secret fields end in _secret and name an environment variable or a key of secrets_file (msteams, msteamsv2, discord, opsgenie, pushover: only so, written to files under /etc/alertmanager/secrets); severities (default [critical, warning]; [] for none) routes those alerts to it after alertmanager_routes
alertmanager_receivers = []
# routes before the receivers' severity routes: [{receiver, matchers: ['team="db"'], continue, group_by, group_wait, group_interval, repeat_interval, mute_time_intervals, active_time_intervals, routes: [...]}]
alertmanager_routes = []
# named time intervals for routes' mute_time_intervals / active_time_intervals: [{name, time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}], weekdays, days_of_month, months, years, location}]}] (Alertmanager 0.24.0 or later; location 0.25.0)
alertmanager_time_intervals = []
# inhibit rules after the default one: [{source_matchers: [...], target_matchers: [...], equal: [labels]}]
alertmanager_inhibit_rules = []
# notification template files (controller paths), uploaded to /etc/alertmanager/templates and listed in templates:
alertmanager_template_files = []
# labels alerts are grouped by
alertmanager_group_by = ['alertname', 'job']
# wait before the first notification of a group
alertmanager_group_wait = '30s'
# wait before notifying about new alerts in a group
alertmanager_group_interval = '5m'
# wait before re-sending a still-firing alert
alertmanager_repeat_interval = '4h'
# a critical alert silences the warning of the same alertname/instance
alertmanager_inhibit_warning_when_critical = True
# email settings: {smarthost, from, auth_username, auth_password_secret, require_tls}
alertmanager_smtp = {}
# silences and notification log
alertmanager_data_dir = '/var/lib/alertmanager'
# gossip port (TCP and UDP) of the Alertmanager cluster, when 2+ hosts run Alertmanager: open it between them (silences and sent notifications are shared there; see "Topologies"); with alertmanager_cluster_tls_enabled TCP only, else TCP and UDP
alertmanager_cluster_port = 9094
# encrypt and authenticate the cluster's gossip with mutual TLS (--cluster.tls-config; Alertmanager 0.24.0 or later) using each host's tls_cert_file / tls_key_file and tls_ca_file: the certificates must also be valid for TLS clients and for the IP address a host gossips at; auto: when tls_enabled; true needs tls_enabled; false: plain gossip
alertmanager_cluster_tls_enabled = 'auto'
# --cluster.peer-timeout: the n-th Alertmanager of a cluster waits n times this before it sends what none before it did; alertmanager_group_interval must be longer than (Alertmanagers - 1) x this (units ms, s, m, h)
alertmanager_cluster_peer_timeout = '15s'

# -- victoriametrics ----------------------------------------------------------
# install victoriametrics (long-term storage of every Prometheus' samples (remote_write), on hosts of the victoriametrics group)
victoriametrics_enabled = True
# `archive`: upstream's single-node tarball (via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); `package`: the distribution's package victoria-metrics
victoriametrics_install_method = 'package'
# upstream version for the archive method (pinned, never 'latest')
victoriametrics_version = '1.150.0'
# TCP port it listens on
victoriametrics_port = 8428
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
victoriametrics_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
victoriametrics_group = 'victoriametrics'
# extra command-line flags, appended as given
victoriametrics_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
victoriametrics_purge_data = False
# how long samples are kept (-retentionPeriod: a number with h, d, w or y, at least 24h; a bare number counts months)
victoriametrics_retention_period = '1y'
# storage folder (-storageDataPath)
victoriametrics_data_dir = '/var/lib/victoriametrics'
# let the archive method install a VictoriaMetrics older than 1.90.0 where 1.90.0 or later has run: its data folder may then not open (1.90.0 changed the storage format); set it on purpose, after moving the data away
victoriametrics_allow_downgrade = False

# -- vmstorage ----------------------------------------------------------------
# install vmstorage (VictoriaMetrics cluster: stores the samples, on hosts of the vmstorage group)
vmstorage_enabled = True
# `archive` only: upstream's cluster tarball (via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); Debian has no cluster package
vmstorage_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
vmstorage_version = '1.150.0'
# TCP port it listens on
vmstorage_port = 8482
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
vmstorage_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
vmstorage_group = 'vmstorage'
# extra command-line flags, appended as given
vmstorage_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
vmstorage_purge_data = False

# -- vmcluster ----------------------------------------------------------------
# accountID the samples are written to and read from (the <tenant> of /insert/<tenant>/prometheus and /select/<tenant>/prometheus)
vmcluster_tenant = 0
# how long vmstorage keeps samples (-retentionPeriod; as victoriametrics_retention_period)
vmcluster_retention_period = '1y'
# copies vminsert writes of every sample, on that many vmstorage hosts (-replicationFactor of vminsert and vmselect); at most the number of vmstorage hosts
vmcluster_replication_factor = 1
# -dedup.minScrapeInterval of vmselect and vmstorage (a Go duration: ms, s, m, h); unset: 1ms when samples arrive twice (replication factor above 1, or 2+ vminsert hosts, each written to by every Prometheus), else none
vmcluster_dedup_min_scrape_interval = None
# vmstorage's storage folder (-storageDataPath)
vmstorage_data_dir = '/var/lib/vmstorage'
# let the archive method install a vmstorage older than 1.90.0 where 1.90.0 or later has run: its data folder may then not open (1.90.0 changed the storage format); set it on purpose, after moving the data away
vmstorage_allow_downgrade = False
# port vmstorage takes vminsert's writes on (-vminsertAddr)
vmstorage_vminsert_port = 8400
# port vmstorage answers vmselect on (-vmselectAddr)
vmstorage_vmselect_port = 8401

# -- vminsert -----------------------------------------------------------------
# install vminsert (VictoriaMetrics cluster: takes every Prometheus' remote_write and spreads it over the vmstorage hosts, on hosts of the vminsert group)
vminsert_enabled = True
# `archive` only: upstream's cluster tarball (via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); Debian has no cluster package
vminsert_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
vminsert_version = '1.150.0'
# TCP port it listens on
vminsert_port = 8480
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
vminsert_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
vminsert_group = 'vminsert'
# extra command-line flags, appended as given
vminsert_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
vminsert_purge_data = False

# -- vmselect -----------------------------------------------------------------
# install vmselect (VictoriaMetrics cluster: answers queries (Grafana's data source) from every vmstorage host, on hosts of the vmselect group)
vmselect_enabled = True
# `archive` only: upstream's cluster tarball (via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); Debian has no cluster package
vmselect_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
vmselect_version = '1.150.0'
# TCP port it listens on
vmselect_port = 8481
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
vmselect_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
vmselect_group = 'vmselect'
# extra command-line flags, appended as given
vmselect_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
vmselect_purge_data = False

# -- prometheus ---------------------------------------------------------------
# install prometheus (scrapes targets, stores metrics, evaluates alert rules)
prometheus_enabled = True
# `archive`: upstream release archive (via artifact_mirror); `package`: the distribution's package
prometheus_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
prometheus_version = '3.15.0'
# TCP port it listens on
prometheus_port = 9090
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
prometheus_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
prometheus_group = 'monitoring'
# extra command-line flags, appended as given
prometheus_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
prometheus_purge_data = False
# how often targets are scraped
prometheus_scrape_interval = '15s'
# scrape timeout
prometheus_scrape_timeout = '10s'
# how often rules are evaluated
prometheus_evaluation_interval = '15s'
# labels added to every series and alert (e.g. cluster, environment)
prometheus_external_labels = {}
# when 2+ hosts run Prometheus (an HA pair): external label naming each one, its value the host's inventory name (unless prometheus_external_labels sets it); dropped from the alerts they send, so Alertmanager sees one alert, not one per replica (see "Topologies")
prometheus_replica_label = 'replica'
# the site (data centre, region) this host belongs to: a Prometheus scrapes only the hosts of its own site and labels its series with it (prometheus_site_label); unset on every host: one site, as without this setting (see "Topologies")
site = None
# external label naming a Prometheus' site (its value: the host's `site`, unless prometheus_external_labels sets it), so a global Prometheus keeps the sites' series apart
prometheus_site_label = 'site'
# inventory group whose hosts run a global Prometheus: it federates the series matched by prometheus_federate_match from every other Prometheus of the inventory (each with a `site`) instead of scraping their targets
prometheus_federate_group = 'federation'
# the series a global Prometheus federates (`match[]` selectors of /federate; default: `up` and every recording rule's result, whose names hold a colon)
prometheus_federate_match = ['up', '{__name__=~".+:.+"}']
# how long samples are kept
prometheus_retention_time = '30d'
# cap on block storage (e.g. 10GB); unset: no size cap
prometheus_retention_size = None
# TSDB folder
prometheus_data_dir = '/var/lib/prometheus'
# let the archive method install a Prometheus older than 2.55.0 where a Prometheus 3 has run: its data folder may then not open (Prometheus 3's TSDB is read by 2.55 and later only); set it on purpose, after moving the data away or going through 2.55 first
prometheus_allow_downgrade = False
# the deploy stops before changing anything when the filesystem of prometheus_data_dir has less free space than this, in MiB (on a full disk Prometheus stores no samples); 0: no check
prometheus_min_free_mb = 256
# URL users reach Prometheus at (behind a proxy)
prometheus_web_external_url = None
# extra jobs: [{job_name, targets: [host:port], metrics_path, scheme, labels, fallback_scrape_protocol}] (application /metrics endpoints; fallback_scrape_protocol, for targets sending a wrong Content-Type, needs Prometheus 3)
prometheus_scrape_jobs = []
# raw Prometheus scrape_config entries, passed through as given
prometheus_extra_scrape_configs = []
# shipped rule sets to install, alerting and recording (each component's templates/<component>/<set>.rules.yml; default: all of them; the hosts dashboard reads host_recording's series)
prometheus_shipped_rules = ['apps', 'backup', 'containers', 'haproxy', 'host', 'host_recording', 'jaeger', 'loki', 'monitoring', 'mysql', 'nginx', 'pipelines', 'postgres', 'processes', 'pyroscope', 'redis', 'snmp', 'systemd', 'targets', 'targets_recording', 'watchdog']
# your own rule files (controller paths), validated and installed
prometheus_rule_files = []
# where the shipped alerts' runbook_url points: this URL + #alert-<alert name lowercased> (default: this README, whose section "Runbooks" has those anchors; a copy of that section elsewhere keeps them)
prometheus_runbook_base_url = 'https://github.com/monstack/monstack/blob/main/README.md'
# the Grafana URL the shipped alerts' `dashboard` annotation links to (<url>/d/<uid>); unset: the inventory's Grafana (of this Prometheus' site first): its grafana_root_url, else http://<its address>:<port>; no Grafana either: the annotation holds the dashboard's uid
prometheus_dashboard_base_url = None
# long-term stores to send samples to: [{url, name, remote_timeout, basic_auth: {username, password_secret}, bearer_token_secret, queue_config: {...}, write_relabel_configs: [...]}]; secrets are written to files beside prometheus.yml, never into it
prometheus_remote_write = []
# send samples to every VictoriaMetrics host of the inventory too (group victoriametrics), and to every vminsert of its cluster edition
prometheus_remote_write_victoriametrics = True
# queue_config of those automatic entries (keys as in Prometheus' queue_config; e.g. {min_shards: 4, max_shards: 4}: no resharding during an outage of the store)
prometheus_remote_write_victoriametrics_queue_config = {}

# -- loki ---------------------------------------------------------------------
# install loki (stores the logs shipped by Alloy (no authentication of its own))
loki_enabled = True
# `archive`: upstream zip (via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); `package`: Grafana's APT repository (package loki)
loki_install_method = 'package'
# upstream version (pinned, never 'latest'): the archive method's release, and the package version the package method installs from Grafana's APT repository
loki_version = '3.6.8'
# TCP port it listens on
loki_port = 3100
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
loki_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
loki_group = 'monitoring'
# extra command-line flags, appended as given
loki_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
loki_purge_data = False
# chunks, index, rules and the compactor's working folder
loki_data_dir = '/var/lib/loki'
# how long logs are kept (deleted by the compactor; at least 24h, or 0s to keep them forever)
loki_retention_period = '30d'
# per-tenant ingestion rate limit in MB/s (pushes above it get HTTP 429)
loki_ingestion_rate_mb = 4
# per-tenant ingestion burst size in MB
loki_ingestion_burst_size_mb = 6
# most active streams (label sets) Loki accepts
loki_max_global_streams_per_user = 10000

# -- jaeger -------------------------------------------------------------------
# install jaeger (distributed tracing: stores the traces Alloy forwards, query API and UI; no authentication of its own)
jaeger_enabled = False
# `archive`: upstream's release archive (via artifact_mirror; the amd64 sha256 of the pinned version is pinned); `package`: refused, Debian has no Jaeger package
jaeger_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
jaeger_version = '2.20.0'
# TCP port it listens on
jaeger_port = 16686
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
jaeger_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
jaeger_group = 'monitoring'
# extra command-line flags, appended as given
jaeger_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
jaeger_purge_data = False
# TCP port of its OTLP/HTTP receiver (POST /v1/traces), at its listen address; not 4318, which Alloy holds on loopback
jaeger_otlp_port = 14318
# TCP port of its own metrics (the collector's telemetry), at its listen address: Prometheus scrapes it there
jaeger_metrics_port = 8888
# its Badger trace store (keys/ and values/)
jaeger_data_dir = '/var/lib/jaeger'
# how long spans are kept (Badger's ttl.spans): whole hours, at least 1h; d and w are written as hours
jaeger_retention = '7d'

# -- pyroscope ----------------------------------------------------------------
# install pyroscope (stores profiles (continuous profiling) pushed by Alloy and the SDKs; no authentication of its own)
pyroscope_enabled = False
# `archive` only: upstream's tar.gz (via artifact_mirror); there is no package in Debian or Grafana's APT repository
pyroscope_install_method = 'archive'
# upstream version for the archive method (pinned, never 'latest')
pyroscope_version = '1.21.1'
# TCP port it listens on
pyroscope_port = 4040
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
pyroscope_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
pyroscope_group = 'monitoring'
# extra command-line flags, appended as given
pyroscope_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
pyroscope_purge_data = False
# its blocks (data/), the filesystem bucket they are uploaded to (shared/), the store-gateway's and compactor's working folders
pyroscope_data_dir = '/var/lib/pyroscope'
# how long profiles are kept (limits.compactor_blocks_retention_period: the compactor deletes older blocks; at least 24h, or 0s to keep them forever; Pyroscope also deletes the oldest blocks when less than 10 GiB and 5% of the disk is free)
pyroscope_retention_period = '30d'

# -- alloy --------------------------------------------------------------------
# install alloy (log shipper: journal, log files and Docker containers to Loki)
alloy_enabled = True
# `archive`: upstream zip (x86_64, aarch64; via artifact_mirror; no sha256 is pinned: give it in artifact_checksums); `package`: Grafana's APT repository (package alloy)
alloy_install_method = 'package'
# upstream version (pinned, never 'latest'): the archive method's release, and the package version the package method installs from Grafana's APT repository
alloy_version = '1.17.1'
# TCP port it listens on
alloy_port = 12345
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
alloy_listen_address = 'auto'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
alloy_group = 'all'
# extra command-line flags, appended as given
alloy_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
alloy_purge_data = False
# log files Alloy tails (glob patterns; [] for none)
alloy_log_paths = ['/var/log/*.log']
# ship the systemd journal (labels unit and level)
alloy_journal = True
# ship Docker containers' logs (label container); auto: where /var/run/docker.sock and the docker group exist
alloy_docker_logs = 'auto'
# push URL of the Loki to ship to (default: the first Loki host of the inventory, http://<host>:<loki_port>/loki/api/v1/push)
alloy_loki_url = None
# also receive applications' OTLP (gRPC and HTTP) and profiles, batch them and forward: metrics to Prometheus' remote-write receiver (translated by otelcol.exporter.prometheus), logs to Loki, traces to Jaeger, profiles to Pyroscope (each where the inventory has one or a URL setting names one; Alloy 1.10.0 or later)
alloy_otlp = False
# address the OTLP and profile receivers listen on (127.0.0.1: this host's applications only; 0.0.0.0 to take other hosts' too)
alloy_otlp_address = '127.0.0.1'
# OTLP over gRPC (otelcol.receiver.otlp)
alloy_otlp_grpc_port = 4317
# OTLP over HTTP: POST /v1/traces, /v1/metrics, /v1/logs
alloy_otlp_http_port = 4318
# profiles (pyroscope.receive_http: POST /ingest and the push API), forwarded to Pyroscope
alloy_profiles_port = 4041
# remote-write URL to write applications' metrics to (default: every replica of the first Prometheus of the inventory, http://<host>:<prometheus_port>/api/v1/write, with the stack's TLS and login)
alloy_metrics_url = None
# OTLP/HTTP traces URL to forward spans to (default: the first Jaeger host, http://<host>:<jaeger_otlp_port>/v1/traces)
alloy_traces_url = None
# Pyroscope URL to forward profiles to (default: the first Pyroscope host, http://<host>:<pyroscope_port>)
alloy_profiles_url = None

# -- grafana ------------------------------------------------------------------
# install grafana (dashboards; data sources and dashboards provisioned over its API)
grafana_enabled = True
# `archive`: upstream tarball (x86_64, aarch64; via artifact_mirror); `package`: Grafana's APT repository (package grafana, or grafana-rpi on armv6l hosts)
grafana_install_method = 'archive'
# upstream version (pinned, never 'latest'): the archive method's release, and the package version the package method installs from Grafana's APT repository
grafana_version = '13.2.3'
# TCP port it listens on
grafana_port = 3000
# IP address it binds to (not a name): `auto` = only the address other hosts reach this host at (see "Listen addresses"); `0.0.0.0` or `::` = every interface
grafana_listen_address = '0.0.0.0'
# inventory group whose hosts run it ('all': every host); a group no host is in is refused, unless it is the default
grafana_group = 'monitoring'
# extra command-line flags, appended as given
grafana_extra_flags = []
# when it is disabled on a host that ran it: remove its data folders and service user too (its unit, programs and config always go)
grafana_purge_data = False
# login of Grafana's server admin (used to provision over the API)
grafana_admin_user = 'admin'
# name of the secret holding the admin password (there is no default password: the deploy stops while it is unset)
grafana_admin_password_secret = 'GRAFANA_ADMIN_PASSWORD'
# name of the secret holding the admin password Grafana has now, to change it to the one above (Grafana reads admin_password only at its first start)
grafana_admin_password_previous_secret = None
# URL users reach Grafana at (https: secure cookies)
grafana_root_url = None
# database, plugins and logs
grafana_data_dir = '/var/lib/grafana'
# Grafana's APT repository (package method; or your mirror of it)
grafana_apt_repo_url = 'https://apt.grafana.com'
# signing key of that repository, downloaded once on the controller into artifact_cache_dir (delete it there to fetch it again)
grafana_apt_key_url = 'https://apt.grafana.com/gpg.key'
# controller path of that key, instead of downloading it (air-gapped sites)
grafana_apt_key_file = None
# let visitors create their own accounts
grafana_allow_sign_up = False
# let visitors view dashboards without logging in
grafana_anonymous_access = False
# controller folder of your own dashboard JSON files (each with a uid)
grafana_dashboards_dir = None
# more data sources: [{uid, name, type, url, access, jsonData, secureJsonData}]; secureJsonData keys ending in _secret name a secret
grafana_extra_datasources = []
# service account (Admin) with a token for automation, created once; its token is written to grafana_token_dir; unset: none
grafana_service_account = 'monstack'
# controller folder (0700) where each Grafana host's service-account token is kept, as <host>.token (0600); a lost token is replaced on the next run
grafana_token_dir = '~/.config/monstack/grafana-tokens'
# title of the folder (uid monstack) holding the dashboards
grafana_folder = 'Monitoring'
# URL the controller reaches Grafana's API at (default: http://<host address>:<grafana_port>)
grafana_url = None
# let Grafana send mail (invitations, password resets, alert e-mails): [smtp]
grafana_smtp_enabled = False
# SMTP server as host:port, e.g. smtp.example.org:587 (needed with mail on)
grafana_smtp_host = None
# SMTP login; unset: no authentication
grafana_smtp_user = None
# name of the secret holding the SMTP password (with grafana_smtp_user)
grafana_smtp_password_secret = None
# sender address of Grafana's mail (needed with mail on)
grafana_smtp_from_address = None
# sender name of Grafana's mail
grafana_smtp_from_name = 'Grafana'
# do not verify the SMTP server's certificate (insecure)
grafana_smtp_skip_verify = False
# Grafana's startTLS_policy: MandatoryStartTLS (refuse a server without STARTTLS), OpportunisticStartTLS (Grafana's default) or NoStartTLS
grafana_smtp_starttls_policy = 'MandatoryStartTLS'
# log users in against an LDAP server ([auth.ldap], /etc/grafana/ldap.toml)
grafana_ldap_enabled = False
# create a Grafana user at a user's first LDAP login (else only existing ones)
grafana_ldap_allow_sign_up = True
# LDAP server name or address (several: space separated; needed with LDAP on)
grafana_ldap_host = None
# LDAP port; unset: 636 with grafana_ldap_security ssl, else 389
grafana_ldap_port = None
# starttls (start_tls), ssl (LDAPS: use_ssl) or none (plain text, bind password included)
grafana_ldap_security = 'starttls'
# do not verify the LDAP server's certificate (insecure)
grafana_ldap_ssl_skip_verify = False
# DN Grafana binds as to search for users, e.g. cn=grafana,ou=services,dc=example,dc=org; unset: anonymous search
grafana_ldap_bind_dn = None
# name of the secret holding the bind DN's password (needed with a bind DN)
grafana_ldap_bind_password_secret = None
# user search filter, %s being the login, e.g. (sAMAccountName=%s)
grafana_ldap_search_filter = '(uid=%s)'
# base DNs to search users under, e.g. [ou=people,dc=example,dc=org]
grafana_ldap_search_base_dns = []
# LDAP attribute of each user field (name, surname, username, member_of, email) over the defaults givenName, sn, uid, memberOf, mail
grafana_ldap_attributes = {}
# [{group_dn, org_role: Admin|Editor|Viewer, grafana_admin: bool}], first match wins; group_dn '*' matches everyone; no mappings: Grafana's default role
grafana_ldap_group_mappings = []
# log users in through an OAuth2 / OpenID Connect provider ([auth.generic_oauth])
grafana_oauth_enabled = False
# the provider's name on the login button
grafana_oauth_name = 'OAuth'
# client ID registered at the provider (needed with OAuth on)
grafana_oauth_client_id = None
# name of the secret holding the client secret (needed with OAuth on)
grafana_oauth_client_secret_secret = None
# scopes Grafana asks for
grafana_oauth_scopes = ['openid', 'profile', 'email']
# the provider's authorization endpoint (needed with OAuth on)
grafana_oauth_auth_url = None
# the provider's token endpoint (needed with OAuth on)
grafana_oauth_token_url = None
# the provider's user info endpoint (needed with OAuth on)
grafana_oauth_api_url = None
# JMESPath giving the user's role (Admin, Editor, Viewer) from the user info or ID token, e.g. role; unset: Grafana's default role
grafana_oauth_role_attribute_path = None
# create a Grafana user at a user's first OAuth login (else only existing ones)
grafana_oauth_allow_sign_up = True
# use PKCE (RFC 7636) in the authorization code flow
grafana_oauth_use_pkce = True
# plugins to install: [{id, version, sha256, per_arch}] (id as on grafana.com, version x.y.z; sha256 of the zip, else it must be in artifact_checksums under its file name <id>-<version>.zip; per_arch: true for a plugin with a backend, one zip per architecture named <id>-<version>.linux_<amd64|arm64|arm>.zip, its sha256s in artifact_checksums). Downloaded on the controller from grafana.com or <artifact_mirror>/grafana-plugins/; a plugin the deploy installed and this list no longer names is removed (plugins installed otherwise are left alone)
grafana_plugins = []
# dashboards from grafana.com by id and revision: [{id, revision, folder (title; default grafana_folder), datasources ({DS_INPUT: our data source uid}; default: each datasource input by its plugin: prometheus, loki, alertmanager), uid (only to replace a uid that clashes)}]; each file is sha256-pinned like an archive: artifact_checksums {'grafana-dashboard-<id>-<revision>.json': '<sha256>'}
grafana_community_dashboards = []
# controller folder holding the grafana-dashboard-<id>-<revision>.json files (air-gapped sites); unset: <artifact_mirror>/grafana-dashboards/, else grafana.com
grafana_community_dashboards_dir = None
# provision Grafana-managed alerting: grafana_contact_points, grafana_notification_policy, grafana_message_templates (Alertmanager stays the path of Prometheus' alerts)
grafana_alerting_enabled = False
# Grafana contact points: [{name, type, settings, uid?, disableResolveMessage?}]; a settings key ending in _secret names a secret (e.g. url_secret: SLACK_URL); uid default monstack-<name>
grafana_contact_points = []
# Grafana's notification policy tree, in its API form ({receiver, group_by, group_wait, routes: [{receiver, object_matchers: [[label, op, value]]}]}); unset: Grafana's tree is left as it is
grafana_notification_policy = None
# Grafana message templates: {name: template text with {{ define }} blocks}
grafana_message_templates = {}
# with alerting on: the Alertmanager data source also receives Grafana-managed alerts (jsonData.handleGrafanaManagedAlerts)
grafana_alertmanager_external = False
# remove data sources, dashboards, folders and contact points the deploy created and the settings no longer name (never others)
grafana_prune = True

# every name above: pyinfra reads them from __all__ instead of parsing this file
# again for each one
__all__ = [name for name, value in dict(globals()).items()
           if not name.startswith("_") and type(value).__name__ != "module"]
