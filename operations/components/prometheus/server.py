"""Prometheus: scrapes every exporter of the inventory, keeps the samples, evaluates the
shipped and the user's alert rules, sends alerts to every Alertmanager."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.files import FindFiles
from pyinfra.operations import files

from operations.base import alert_rules, catalogue
from operations.base.addresses import url_problem
from operations.base.component import Component, Leaves
from operations.base.downgrades import DataFormatLine, downgrade_refusal
from operations.base.facts import FreeSpace, ProgramVersion
from operations.base.files import validated_file, validated_files
from operations.base.install import (ARCHIVE_BIN_DIR, directories, directory, install_binaries,
                                     system_user)
from operations.base.inventory import (endpoint, hosts_running, listen_address, local_url,
                                       secret, settings)
from operations.base.releases import promu_release
from operations.base.schema import (LABEL_NAME_RE, Setting, SettingsError, duration_seconds,
                                    version_tuple)
from operations.base.services import Unit, service
from operations.base.templates import render, shipped_rule_sets
from operations.base.tls_auth import (PROMETHEUS_PASSWORD_FILE, is_protected, password_file,
                                      protect, scrape_client)
from operations.components import vmcluster
from operations.components.grafana import server as grafana
from operations.components.prometheus import (federation, remote_write,
                                            remote_write_receiver, snapshots)
from operations.components.prometheus.targets import inventory_jobs, jobs

NAME = "prometheus"
CONFIG_DIR = "/etc/prometheus"
CONFIG = f"{CONFIG_DIR}/prometheus.yml"
RULES_DIR = f"{CONFIG_DIR}/rules"
FILE_SD_DIR = f"{CONFIG_DIR}/file_sd"
# Prometheus 3.8.0 reads the retention from prometheus.yml (storage: tsdb: retention:) and
# deprecates the --storage.tsdb.retention.* flags; older ones refuse that block.
RETENTION_IN_CONFIG_SINCE = (3, 8, 0)
# What Prometheus takes for 0 (config/config.go GlobalConfig.UnmarshalYAML; the
# scrape timeout: at most the interval)
DEFAULT_FOR_ZERO = {"prometheus_scrape_interval": "1m", "prometheus_scrape_timeout": "10s",
                    "prometheus_evaluation_interval": "1m"}
# Any UTF-8 label name: Prometheus 3.0 (global.metric_name_validation_scheme defaults to
# utf8, config/config.go at v3.0.0); external labels go on every alert, and Alertmanager
# takes such names from 0.27.0 (matchers/compat/parse.go: isValidUTF8LabelName unless
# --enable-feature=classic-mode). Debian's packages are taken for older ones.
UTF8_LABEL_NAMES_SINCE = {"prometheus": (3, 0, 0), "alertmanager": (0, 27, 0)}


def settings_problems(values: dict) -> list[str]:
    """Rules between Prometheus' settings, which it would otherwise only report on the host."""
    errors = []
    if duration_seconds(values["prometheus_scrape_timeout"]) > duration_seconds(
            values["prometheus_scrape_interval"]):
        errors.append("prometheus_scrape_timeout "
                      f"({values['prometheus_scrape_timeout']}) must not be longer than "
                      f"prometheus_scrape_interval ({values['prometheus_scrape_interval']})")
    errors += remote_write.problems(values["prometheus_remote_write"])
    errors += remote_write.queue_problems(
        "prometheus_remote_write_victoriametrics_queue_config",
        values["prometheus_remote_write_victoriametrics_queue_config"])
    if not LABEL_NAME_RE.fullmatch(values["prometheus_replica_label"]):
        errors.append(f"prometheus_replica_label ({values['prometheus_replica_label']!r}) is "
                      "not a Prometheus label name (letters, digits, _; not a digit first)")
    for key, example in URLS.items():
        if values[key] is not None:
            errors.append(url_problem(key, values[key], example))
    errors += zero_duration_problems(values) + external_label_problems(values)
    return [e for e in errors if e] + federation.settings_problems(values)


# URL settings -> an example of each
URLS = {"prometheus_web_external_url": "https://prometheus.example.org/",
        "prometheus_runbook_base_url": "https://wiki.example.org/monitoring/runbooks",
        "prometheus_dashboard_base_url": "https://grafana.example.org"}
README_URL = "https://github.com/monstack/monstack/blob/main/README.md"


def zero_duration_problems(values: dict) -> list[str]:
    """Durations Prometheus reads 0 as something else: its default interval, and its
    default retention (15d; flags only: from the config file, 0 keeps samples forever)."""
    errors = [f"{key} ({values[key]}) must be longer than 0: Prometheus would take its "
              f"default, {default}, instead" for key, default in DEFAULT_FOR_ZERO.items()
              if duration_seconds(values[key]) == 0]
    kept = values["prometheus_retention_time"]
    if (duration_seconds(kept) == 0 and not values["prometheus_retention_size"]
            and not retention_in_config(values)):
        errors.append(f"prometheus_retention_time ({kept}) does not keep samples forever: "
                      "without prometheus_retention_size, Prometheus takes 0 for its default "
                      "of 15d; give a duration like 30d or 10y, or set "
                      "prometheus_retention_size")
    return errors


def utf8_label_names_refused_by(values: dict) -> str | None:
    """The program that refuses label names beyond letters, digits and _ here: this
    Prometheus, or an Alertmanager it sends alerts to; None: both take UTF-8 names."""
    for name in ("prometheus", "alertmanager"):
        if name == "alertmanager" and not values["alertmanager_enabled"]:
            continue
        version = values[f"{name}_version"]
        if values[f"{name}_install_method"] != "archive":
            return f"Debian's {name} package"
        if version_tuple(version) < UTF8_LABEL_NAMES_SINCE[name]:
            return f"{name.capitalize()} {version}"
    return None


def external_label_problems(values: dict) -> list[str]:
    """External label names that this Prometheus, or the Alertmanager it sends alerts to,
    refuses, and those starting with __ (reserved for Prometheus' internal use); their
    values are strings."""
    errors = []
    refused_by = utf8_label_names_refused_by(values)
    for name, value in values["prometheus_external_labels"].items():
        where = f"prometheus_external_labels: {name!r}"
        if not isinstance(name, str) or not name or name.startswith("__"):
            errors.append(f"{where} is not a label name: names are non-empty strings, and "
                          "those starting with __ are reserved for Prometheus' own use")
        elif refused_by and not LABEL_NAME_RE.fullmatch(name):
            errors.append(
                f"{where} is not a label name {refused_by} takes (letters, digits and _, "
                "not a digit first): rename it, or for any UTF-8 name install Prometheus "
                "3.0.0 and Alertmanager 0.27.0 or later as archives "
                "(<component>_install_method = 'archive')")
        if isinstance(value, (bool, int, float)):
            errors.append(f"{where}: the value {value!r} is not a string: quote it "
                          f"({name}: '{json.dumps(value)}')")
        elif not isinstance(value, str):
            errors.append(f"{where}: the value {value!r} is not a string: give one string")
    return errors


def inventory_problems(hosts: list) -> list[str]:
    return (federation.inventory_problems(hosts, list(jobs()))
            + snapshots.admin_api_problems(hosts))


def also_runs_on(s, h) -> bool:
    """A global Prometheus runs on the hosts of prometheus_federate_group too."""
    return s.prometheus_federate_group in h.groups

def leaves(s) -> Leaves:
    """What it leaves on a host besides its unit and programs (removed when disabled)."""
    return Leaves(config=(CONFIG_DIR,), data=(s.prometheus_data_dir,))


COMPONENT = Component(
    name=NAME,
    leaves=leaves,
    help="scrapes targets, stores metrics, evaluates alert rules",
    port=9090, group="monitoring",
    protected_by="web.yml",
    marks_monitoring_hosts=True,
    checks=settings_problems,
    inventory_checks=inventory_problems,
    runs_also=also_runs_on,
    group_settings=("prometheus_federate_group",),
    # the replicas of one site (and kind) are restarted one at a time, each answering
    # /-/ready (its TSDB loaded, rules evaluated) before the next goes down
    ha_group=lambda h: len(replicas(h)),
    backup=snapshots.BACKUP,
    release=promu_release(
        "prometheus/prometheus", NAME, version="3.15.0", oldest="2.42.0",
        oldest_reason="the oldest build the suite runs, Debian 12's",
        proven=[("2.42.0", "bookworm"), ("2.53.3", "trixie"), ("3.5.3", "sid")],
        debian_package="prometheus",
        binaries={"prometheus": "prometheus", "promtool": "promtool"},
        notes="promu build: linux-{amd64,arm64,armv7,armv6,armv5,386,...}. The 3.5.x line is the LTS "
              "(3.5.1 seen on prometheus.io in Jan 2026). Only amd64 and arm64 are pinned here. Debian "
              "bookworm ships 2.42 as package prometheus. Retention: from v3.8.0 the TSDB config "
              "holds storage.tsdb.retention {time, size} (config/config.go, TSDBRetentionConfig; "
              "docs/configuration/configuration.md) and --storage.tsdb.retention.time/size are "
              "marked deprecated (cmd/prometheus/main.go); v3.7.0's config/config.go has no such "
              "block. operations/components/prometheus/server.py picks the form by prometheus_version "
              "(RETENTION_IN_CONFIG_SINCE). Backups: --web.enable-admin-api and POST "
              "/api/v1/admin/tsdb/snapshot (snapshot in <data>/snapshots/<name>) and `promtool "
              "tsdb list` checked in cmd/prometheus/main.go, web/api/v1/api.go, "
              "docs/querying/api.md and cmd/promtool/main.go at v2.42.0 and v3.14.0 (the newest "
              "tag the mirror read held; see snapshots.py)."),
    checksums={
        "prometheus-3.15.0.linux-amd64.tar.gz": "2a542df32eac02ee17b9d844fb2aa1de00dafa5476579ba8a3ba862e9d572ea0",  # x3: enajx/nanoHPC src/nanohpc/deploy.py; a 'himmel' install-grafana.sh (from sha256sums.txt); promtool pin tables in several Makefiles/Bazel files
        "prometheus-3.15.0.linux-arm64.tar.gz": "f1f90ec08e849d494ca66c611470afc50192f0355f1a61c33f2cbde02d067823",  # x3: same sources as amd64
    },
    settings=(
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
        Setting("prometheus_allow_downgrade", "bool", False, section="prometheus", help=(
            "let the archive method install a Prometheus older than 2.55.0 where a "
            "Prometheus 3 has run: its data folder may then not open (Prometheus 3's TSDB "
            "is read by 2.55 and later only); set it on purpose, after moving the data "
            "away or going through 2.55 first")),
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
        Setting("prometheus_shipped_rules", "list", list(shipped_rule_sets()),
                section="prometheus", help=(
                    "shipped rule sets to install, alerting and recording (each component's "
                    "templates/<component>/<set>.rules.yml; default: all of them; the hosts "
                    "dashboard reads host_recording's series)")),
        Setting("prometheus_rule_files", "list", [], section="prometheus",
                help="your own rule files (controller paths), validated and installed"),
        Setting("prometheus_runbook_base_url", "str", README_URL, section="prometheus", help=(
            "where the shipped alerts' runbook_url points: this URL + #alert-<alert name "
            "lowercased> (default: this README, whose section \"Runbooks\" has those "
            "anchors; a copy of that section elsewhere keeps them)")),
        Setting("prometheus_dashboard_base_url", "str", None, optional=True,
                section="prometheus", help=(
                    "the Grafana URL the shipped alerts' `dashboard` annotation links to "
                    "(<url>/d/<uid>); unset: the inventory's Grafana (of this Prometheus' "
                    "site first): its grafana_root_url, else http://<its address>:<port>; "
                    "no Grafana either: the annotation holds the dashboard's uid")),
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
    ),
)


def user_scrape_configs(s) -> list[dict]:
    jobs = []
    for job in s.prometheus_scrape_jobs:
        if (not isinstance(job, dict) or not job.get("job_name")
                or not isinstance(job.get("targets"), list) or not job["targets"]
                or not all(isinstance(t, str) for t in job["targets"])):
            raise SettingsError(f"prometheus_scrape_jobs: each job needs job_name and a "
                                f"list of host:port targets; got {job!r}")
        config = {"job_name": job["job_name"]}
        for key in ("metrics_path", "scheme", "scrape_interval", "scrape_timeout"):
            if key in job:
                config[key] = job[key]
        if "fallback_scrape_protocol" in job:
            config["fallback_scrape_protocol"] = fallback_scrape_protocol(s, job)
        static = {"targets": list(job["targets"])}
        if job.get("labels"):
            static["labels"] = job["labels"]
        config["static_configs"] = [static]
        jobs.append(config)
    return jobs + list(s.prometheus_extra_scrape_configs)


# The exposition formats Prometheus can be told to assume for a target whose Content-Type
# it does not know (config/config.go ScrapeProtocol names at v3.5.0); the setting came
# with Prometheus 3.0, and 2.x refuses the key.
SCRAPE_PROTOCOLS = ("PrometheusProto", "PrometheusText0.0.4", "PrometheusText1.0.0",
                    "OpenMetricsText0.0.1", "OpenMetricsText1.0.0")
FALLBACK_PROTOCOL_SINCE = (3, 0, 0)


def fallback_scrape_protocol(s, job: dict) -> str:
    value = job["fallback_scrape_protocol"]
    where = f"prometheus_scrape_jobs: job {job['job_name']}: fallback_scrape_protocol"
    if value not in SCRAPE_PROTOCOLS:
        raise SettingsError(f"{where} must be one of {', '.join(SCRAPE_PROTOCOLS)}; "
                            f"got {value!r}")
    # Debian's packages (2.42 in 12, 2.53 in 13) are older than 3.0
    package = s.prometheus_install_method == "package"
    if package or version_tuple(s.prometheus_version) < FALLBACK_PROTOCOL_SINCE:
        which = "Debian's package" if package else f"prometheus_version {s.prometheus_version}"
        raise SettingsError(f"{where} needs Prometheus 3.0 or later, not {which}; use "
                            "prometheus_install_method = 'archive' with a 3.x "
                            "prometheus_version, or drop the key")
    return value


def check_rule_file_shape(local: str, text: str) -> None:
    """Catch a malformed rule file on the controller, before any host is touched; its
    PromQL is checked by promtool on the host."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"prometheus_rule_files: {local} is not valid YAML: {exc}") from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not all(
            isinstance(g, dict) and g.get("name") and isinstance(g.get("rules"), list)
            for g in groups):
        raise SettingsError(f"prometheus_rule_files: {local} must hold `groups:`, a list of "
                            "{name, rules: [...]}")


def dashboard_base_url(s) -> str | None:
    """The Grafana the alerts' dashboard links point at: prometheus_dashboard_base_url,
    else the inventory's Grafana (one of this host's site first, then by name)."""
    if s.prometheus_dashboard_base_url:
        return s.prometheus_dashboard_base_url.rstrip("/")
    found = sorted(hosts_running(grafana.NAME),
                   key=lambda h: (not federation.scraped_here(h, host), h.name))
    return grafana.users_url(found[0]) if found else None


def rule_files(s, grafana_url: str | None = None) -> dict[str, str]:
    """Remote file name -> content, for the shipped rule sets chosen (their alerts with
    runbook and dashboard links, see alert_rules.py; `grafana_url`: where dashboards
    are) and the user's files (as they are)."""
    wanted = {}
    shipped = shipped_rule_sets()
    for rule_set in s.prometheus_shipped_rules:
        path = shipped.get(rule_set)
        if path is None:
            raise SettingsError(f"prometheus_shipped_rules: no rule set {rule_set!r} "
                                f"(shipped: {', '.join(sorted(shipped))})")
        wanted[path.name] = alert_rules.installed(path, s.prometheus_runbook_base_url,
                                                  grafana_url)
    for local in s.prometheus_rule_files:
        path = Path(local).expanduser()
        if not path.is_file():
            raise SettingsError(f"prometheus_rule_files: {local} does not exist on the "
                                "controller")
        check_rule_file_shape(local, path.read_text())
        name = path.name if path.name.endswith((".yml", ".yaml")) else f"{path.name}.yml"
        if name in wanted:
            raise SettingsError(f"prometheus_rule_files: {local} has the name of a shipped "
                                "rule file; rename it")
        wanted[name.replace(".yaml", ".yml")] = path.read_text()
    return wanted


def remove_stale(directory: str, wanted: set[str], what: str) -> list:
    """Remove files we put in `directory` earlier that are no longer wanted."""
    present = host.get_fact(FindFiles, path=directory, quote_path=True) or []
    return [files.file(name=f"Remove {what} {Path(p).name} (no longer wanted)", path=p,
                       present=False)
            for p in sorted(present) if Path(p).name not in wanted]


def blackbox_probe_jobs(s) -> list[dict]:
    """Probe jobs: every URL of blackbox_exporter_targets through the first blackbox
    exporter of the inventory."""
    exporters = sorted((h for h in hosts_running("blackbox_exporter")
                        if federation.scraped_here(h, host)), key=lambda h: h.name)
    if not exporters or not s.blackbox_exporter_targets:
        return []
    return [{
        "job_name": "blackbox_http", **scrape_client(s), "metrics_path": "/probe",
        "params": {"module": ["http_2xx"]},
        "static_configs": [{"targets": list(s.blackbox_exporter_targets)}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__",
             "replacement": endpoint("blackbox_exporter", exporters[0])},
        ],
    }]


def component_probe_jobs(s) -> list[dict]:
    """The jobs components declare for probing through them (`Component.probe_jobs`),
    each through the first exporter of this Prometheus' site, by name."""
    found = []
    for c in catalogue.components().values():
        if not c.probe_jobs:
            continue
        exporters = sorted((h for h in hosts_running(c.name) if federation.scraped_here(h, host)),
                           key=lambda h: h.name)
        if not exporters:
            continue
        client = scrape_client(s) if c.protected_by else {}
        found += [{"job_name": job["job_name"], **client,
                   **{k: v for k, v in job.items() if k != "job_name"}}
                  for job in c.probe_jobs(s, endpoint(c.name, exporters[0]))]
    return found


def store_urls(s) -> dict[str, str]:
    """name -> write URL of every VictoriaMetrics host of the inventory (by name), then of
    every vminsert of its cluster edition."""
    if not s.prometheus_remote_write_victoriametrics:
        return {}
    return {**{f"victoriametrics-{h.name}": f"http://{endpoint('victoriametrics', h)}/api/v1/write"
               for h in sorted(hosts_running("victoriametrics"), key=lambda h: h.name)},
            **vmcluster.write_urls(s, hosts_running(vmcluster.INSERT))}


def remote_write_config(s) -> tuple[list[dict], list[remote_write.SecretFile]]:
    """prometheus.yml's remote_write entries, and the secret files they name."""
    return remote_write.config_entries(
        s.prometheus_remote_write, store_urls(s),
        s.prometheus_remote_write_victoriametrics_queue_config)


def replicas(of=None) -> list:
    """The Prometheus hosts of the site and kind (global or not) of this one (or `of`),
    by name: 2+ are an HA group scraping the same targets."""
    of = host if of is None else of
    return sorted((h for h in hosts_running(NAME) if federation.same_kind(h, of)),
                  key=lambda h: h.name)


def external_labels(s, ha: bool) -> dict:
    """The user's external labels; the site label of a host with a `site`; in an HA
    group also the replica label naming this host (the user's labels win, e.g. set per
    host)."""
    replica = {s.prometheus_replica_label: host.name} if ha else {}
    return {**federation.site_labels(s), **replica, **s.prometheus_external_labels}


def alert_relabel_configs(s, ha: bool) -> list[dict]:
    """Alert relabeling runs after external labels are added: dropping the replica label
    there makes the replicas' alerts identical, so Alertmanager merges them into one."""
    return [{"action": "labeldrop", "regex": s.prometheus_replica_label}] if ha else []


def retention_in_config(values: dict) -> bool:
    """Whether this Prometheus (its settings' values) takes its retention from
    prometheus.yml rather than flags: an upstream archive of 3.8.0 or later. Debian's
    packages (2.42 in 12, 2.53 in 13, 3.5 in sid) are all older, so the package method
    keeps the flags."""
    return (values["prometheus_install_method"] == "archive"
            and version_tuple(values["prometheus_version"]) >= RETENTION_IN_CONFIG_SINCE)


def retention(s) -> dict[str, str]:
    """How long and how much Prometheus keeps: the keys of storage.tsdb.retention."""
    kept = {"time": s.prometheus_retention_time}
    if s.prometheus_retention_size:
        kept["size"] = s.prometheus_retention_size
    return kept


def config_content(s, jobs: list[dict]) -> str:
    client = scrape_client(s)   # TLS and login of the stack's own endpoints, if any
    jobs = [{**job, "client": client if is_protected(job["component"]) else {}}
            for job in jobs]
    group = replicas()
    ha = len(group) > 1
    return render(
        "prometheus/prometheus.yml.j2",
        scrape_interval=s.prometheus_scrape_interval,
        scrape_timeout=s.prometheus_scrape_timeout,
        evaluation_interval=s.prometheus_evaluation_interval,
        external_labels=external_labels(s, ha),
        retention=retention(s) if retention_in_config(s.values) else {},
        # a global Prometheus holds the series of every replica of a site (each labelled
        # with its replica by /federate): its alerts about them are one alert too
        alert_relabel_configs=alert_relabel_configs(s, ha or federation.is_global(host)),
        alertmanagers=[endpoint("alertmanager", h) for h in
                       sorted(hosts_running("alertmanager"), key=lambda h: h.name)],
        rules_dir=RULES_DIR, file_sd_dir=FILE_SD_DIR,
        # replicas scrape each other too: the one left up tells that the other is down
        prometheus_targets=[endpoint(NAME, h) for h in group] if ha else [endpoint(NAME, host)],
        client=client,
        remote_write=remote_write_config(s)[0],
        inventory_jobs=jobs, blackbox_jobs=blackbox_probe_jobs(s) + component_probe_jobs(s),
        federate_jobs=federation.federate_jobs(s, client, host),
        user_jobs=user_scrape_configs(s))


def flags(s, binary: str, web_flags: list[str] = (), receivers: list[str] = ()) -> list[str]:
    # in the flags' long-standing order, so a unit written before 3.8 stays as it was
    flagged = {} if retention_in_config(s.values) else retention(s)
    out = [binary, f"--config.file={CONFIG}", f"--storage.tsdb.path={s.prometheus_data_dir}"]
    if "time" in flagged:
        out.append(f"--storage.tsdb.retention.time={flagged['time']}")
    out.append(f"--web.listen-address={listen_address(NAME)}")
    if "size" in flagged:
        out.append(f"--storage.tsdb.retention.size={flagged['size']}")
    if s.prometheus_web_external_url:
        out.append(f"--web.external-url={s.prometheus_web_external_url}")
    return (out + list(web_flags) + snapshots.admin_api_flags(s) + list(receivers)
            + list(s.prometheus_extra_flags))


def remote_write_secrets(s) -> None:
    """The password and token files of the remote_write entries (read again by Prometheus
    on every request: no reload), and the removal of those no entry names any more."""
    _, wanted = remote_write_config(s)
    if wanted:
        directory(remote_write.SECRETS_DIR, "root", NAME, "0750")
    for f in wanted:
        value = secret(f.secret_name, f.purpose)
        validated_file(name=f"Write {f.path} (remote_write secret)", dest=f.path,
                       content=value + "\n", user="root", group=NAME, mode="0640",
                       secret=True, secrets=[value])
    remove_stale(remote_write.SECRETS_DIR, {Path(f.path).name for f in wanted},
                 "remote_write secret")


def home(s) -> str:
    """Home of the service user: its data folder, or none."""
    return s.prometheus_data_dir


def check_free_space(s) -> None:
    """On a full disk Prometheus stores no samples (every WAL write fails) while it still
    answers as ready, and restarted there it may damage its WAL: stop the run while
    planning, before any host is touched."""
    free = host.get_fact(FreeSpace, path=s.prometheus_data_dir)
    if s.prometheus_min_free_mb and free is not None and free < s.prometheus_min_free_mb:
        raise PyinfraError(
            f"prometheus_data_dir {s.prometheus_data_dir} on {host.name} has {free} MiB free, "
            f"need at least {s.prometheus_min_free_mb} MiB (prometheus_min_free_mb): free "
            "some space there and run again; nothing was changed")


# Prometheus 3's data folder is readable by 2.55.0 and later only (upstream's migration
# guide, docs/migration.md, "TSDB format and downgrade")
PROMETHEUS_3_DATA = DataFormatLine(written_since=(3,), read_since=(2, 55, 0),
                                   writer="Prometheus 3")


def check_downgrade(s) -> None:
    """Stop before anything changes when the archive method would replace a Prometheus 3
    with one that cannot read its data folder."""
    if s.prometheus_install_method != "archive" or s.prometheus_allow_downgrade:
        return
    if version_tuple(s.prometheus_version) >= PROMETHEUS_3_DATA.read_since:
        return  # no need to ask the host
    installed = host.get_fact(ProgramVersion, path=f"{ARCHIVE_BIN_DIR}/{NAME}")
    refusal = downgrade_refusal(NAME, "Prometheus", s.prometheus_version, installed,
                                PROMETHEUS_3_DATA, s.prometheus_data_dir, host.name)
    if refusal:
        raise PyinfraError(refusal)


@deploy("Prometheus")
def install():
    s = settings()
    check_free_space(s)
    check_downgrade(s)
    system_user(NAME, home(s))
    directories(NAME, (CONFIG_DIR, "root", NAME, "0750"), (RULES_DIR, "root", NAME, "0750"),
                (FILE_SD_DIR, "root", NAME, "0750"), (s.prometheus_data_dir, NAME, NAME, "0750"))
    binaries = install_binaries(NAME, [NAME, "promtool"])
    promtool = binaries.path("promtool")
    web = protect(NAME, CONFIG_DIR, validator=f"{promtool} check web-config {{path}}")

    reload_on = []
    if s.basic_auth_enabled:   # Prometheus' login to the stack's endpoints
        reload_on.append(password_file(PROMETHEUS_PASSWORD_FILE, NAME))
    # every rule file in one step: the changed ones staged, all checked by one promtool
    # run, then moved into place together (a bad one replaces none)
    reload_on.append(validated_files(
        name="Write rule files (checked by promtool)",
        files={f"{RULES_DIR}/{name}": content
               for name, content in rule_files(s, dashboard_base_url(s)).items()},
        validate=f"{promtool} check rules {{paths}}", only_these_in=RULES_DIR,
        user="root", group=NAME, mode="0640"))

    jobs = [job for job in inventory_jobs() if job["groups"]]
    # file_sd files are re-read by Prometheus when they change: no reload needed
    validated_files(
        name="Write scrape target files",
        files={f"{FILE_SD_DIR}/{job['name']}.yml": yaml.safe_dump(job["groups"], sort_keys=False)
               for job in jobs},
        only_these_in=FILE_SD_DIR, user="root", group=NAME, mode="0640")

    remote_write_secrets(s)   # before prometheus.yml, which names them
    reload_on.append(validated_file(
        name="Write prometheus.yml (checked by promtool)", dest=CONFIG,
        content=config_content(s, jobs), validate=f"{promtool} check config {{path}}",
        user="root", group=NAME, mode="0640"))

    unit = Unit(
        name=NAME, user=NAME, reloadable=True,
        description="Prometheus monitoring server",
        documentation="https://prometheus.io/docs/",
        write_paths=[s.prometheus_data_dir],
        exec_start=flags(s, binaries.path(NAME), web.flags,
                         remote_write_receiver.receiver_flags(s)),
    )
    service(unit, local_url(NAME, "/-/ready"), restart_on=[*binaries.ops, *web.restart_on],
            reload_on=reload_on)
