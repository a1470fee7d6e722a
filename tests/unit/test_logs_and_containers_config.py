"""Loki, the Alloy log shipper and cAdvisor: settings, rendered configs, units, scrape
targets and release artifacts.

What a test cannot run here: the real loki, alloy and cadvisor binaries (Debian builds
none of them; their upstream downloads are not reachable). So loki.yaml is checked as
YAML against the keys of Loki 3's configuration reference, config.alloy structurally
(balanced blocks, terminated strings, every component it refers to declared), and the
units with systemd-analyze. The settings of a host come from validate(), the inventory
is a real pyinfra Inventory, and downloads go to an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


from operations.components import alloy, cadvisor, loki
from operations.base import artifacts, inventory as context
from operations.components.prometheus import server as prometheus, targets
from operations.base.artifacts import ArtifactError
from operations.base.schema import SettingsError
from operations.stack import CHECKSUMS, COMPONENTS, RELEASES, validate
from harness import debian
from harness.units import directives, exec_start_argv

LOKI_URL = "http://mon1:3100/loki/api/v1/push"


class FakeFacts:
    """The current pyinfra host for functions that ask facts: a name and canned facts."""

    def __init__(self, name="web1", socket=None, groups=("adm", "systemd-journal")):
        self.name = name
        self.facts = {"Socket": socket, "SystemGroups": list(groups)}

    def get_fact(self, fact, **kw):
        if fact.__name__ == "SystemGroups":  # the groups asked about that the host has
            return [g for g in self.facts["SystemGroups"] if g in kw["names"]]
        return self.facts[fact.__name__]


# -- settings ---------------------------------------------------------------------------------
def test_components_ports_groups_and_order():
    order = list(COMPONENTS)
    assert (COMPONENTS["loki"].port, COMPONENTS["loki"].group) == (3100, "monitoring")
    assert (COMPONENTS["alloy"].port, COMPONENTS["alloy"].group) == (12345, "all")
    assert (COMPONENTS["cadvisor"].port, COMPONENTS["cadvisor"].group) == (8080, "docker")
    assert all(COMPONENTS[c].enabled for c in ("loki", "alloy", "cadvisor"))
    # Loki after Alertmanager and Prometheus; Alloy after Loki (a one-host first run finds
    # its Loki running); cAdvisor with the exporters, before the monitoring services
    assert order.index("alertmanager") < order.index("loki")
    assert order.index("prometheus") < order.index("loki") < order.index("alloy")
    assert order.index("cadvisor") < order.index("alertmanager")


def test_defaults_validate():
    s = validate("h1", {})
    assert s.loki_data_dir == "/var/lib/loki"
    assert s.loki_retention_period == "30d"
    assert (s.loki_ingestion_rate_mb, s.loki_ingestion_burst_size_mb,
            s.loki_max_global_streams_per_user) == (4, 6, 10000)
    assert s.alloy_log_paths == ["/var/log/*.log"]
    assert s.alloy_journal is True
    assert s.alloy_docker_logs == "auto"
    assert s.alloy_loki_url is None
    assert s.cadvisor_housekeeping_interval == "30s"
    assert {"loki", "containers"} <= set(s.prometheus_shipped_rules)
    assert s.component("cadvisor", "install_method") == "archive"


def test_values_from_the_command_line_are_coerced():
    s = validate("h1", {"loki_retention_period": "90d", "loki_ingestion_rate_mb": "8",
                        "alloy_log_paths": "[/var/log/*.log, /srv/app/*.log]",
                        "alloy_journal": "false", "alloy_docker_logs": "true",
                        "alloy_loki_url": "https://logs.example.org/loki/api/v1/push"})
    assert s.loki_retention_period == "90d" and s.loki_ingestion_rate_mb == 8
    assert s.alloy_log_paths == ["/var/log/*.log", "/srv/app/*.log"]
    assert s.alloy_journal is False and s.alloy_docker_logs == "true"
    # a group_data file may say False
    assert validate("h1", {"alloy_docker_logs": False}).alloy_docker_logs == "false"
    assert validate("h1", {"loki_retention_period": "0s"}).loki_retention_period == "0s"


@pytest.mark.parametrize("data,words", [
    ({"loki_retention_period": "12h"}, ["loki_retention_period", "24h"]),
    ({"loki_retention_period": "30 days"}, ["loki_retention_period"]),
    ({"loki_ingestion_rate_mb": "0"}, ["loki_ingestion_rate_mb", "out of range"]),
    ({"alloy_docker_logs": "maybe"}, ["alloy_docker_logs", "auto, true, false"]),
    ({"alloy_log_paths": "/var/log/*.log"}, ["alloy_log_paths", "list"]),
    ({"cadvisor_install_method": "package"}, ["cadvisor_install_method", "no Debian package",
                                              "archive"]),
    ({"cadvisor_housekeeping_interval": "1d"}, ["cadvisor_housekeeping_interval", "ms, s"]),
    ({"alloy_port": "70000"}, ["alloy_port", "out of range"]),
])
def test_bad_values_are_refused_naming_the_setting(data, words):
    with pytest.raises(SettingsError) as exc:
        validate("web1", data)
    for word in words:
        assert word in str(exc.value)


# -- loki.yaml --------------------------------------------------------------------------------
def loki_config(**data) -> dict:
    return yaml.safe_load(loki.config_content(validate("mon1", data)))


def test_loki_config_single_binary_on_the_filesystem():
    cfg = loki_config()
    assert cfg["auth_enabled"] is False
    assert cfg["server"]["http_listen_port"] == 3100
    assert cfg["server"]["http_listen_address"] == "0.0.0.0"
    assert cfg["server"]["grpc_listen_address"] == "127.0.0.1"
    common = cfg["common"]
    assert common["path_prefix"] == "/var/lib/loki"
    assert common["replication_factor"] == 1
    assert common["ring"]["kvstore"]["store"] == "inmemory"
    assert common["storage"]["filesystem"] == {"chunks_directory": "/var/lib/loki/chunks",
                                               "rules_directory": "/var/lib/loki/rules"}
    (period,) = cfg["schema_config"]["configs"]
    assert period == {"from": "2024-01-01", "store": "tsdb", "object_store": "filesystem",
                      "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}
    assert cfg["analytics"] == {"reporting_enabled": False}


def test_loki_config_retention_and_limits():
    cfg = loki_config(loki_retention_period="90d", loki_ingestion_rate_mb=8,
                      loki_ingestion_burst_size_mb=16, loki_max_global_streams_per_user=500,
                      loki_data_dir="/srv/loki/", loki_port="3200",
                      loki_listen_address="10.0.0.5")
    assert cfg["compactor"] == {"working_directory": "/srv/loki/compactor",
                                "retention_enabled": True, "delete_request_store": "filesystem"}
    assert cfg["limits_config"] == {"retention_period": "90d", "ingestion_rate_mb": 8,
                                    "ingestion_burst_size_mb": 16,
                                    "max_global_streams_per_user": 500,
                                    "reject_old_samples": True}
    assert cfg["common"]["storage"]["filesystem"]["chunks_directory"] == "/srv/loki/chunks"
    assert cfg["server"]["http_listen_port"] == 3200
    assert cfg["server"]["http_listen_address"] == "10.0.0.5"


def test_loki_config_says_it_has_no_authentication():
    text = loki.config_content(validate("mon1", {}))
    assert "No authentication" in text and "reverse proxy" in text


def test_loki_validator_is_verify_config():
    assert loki.validator("/usr/local/bin/loki").format(path="/etc/loki/.loki.yaml.new") == \
        "/usr/local/bin/loki -config.file=/etc/loki/.loki.yaml.new -verify-config"


# -- config.alloy -----------------------------------------------------------------------------
_ALLOY_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[{}\[\]]|"')


def alloy_structure(text: str) -> list[tuple[str, str]]:
    """A small structural check of Alloy syntax (not Alloy's parser): strings terminated,
    brackets balanced, components declared at the top level as `name.path "label" {`.
    Returns the declared components."""
    stack = []
    for m in _ALLOY_TOKEN.finditer(text):
        tok = m.group()
        if tok == '"':
            raise AssertionError(f"unterminated string at {text[m.start():m.start() + 40]!r}")
        if tok in "{[":
            stack.append(tok)
        elif tok in "}]":
            assert stack and stack.pop() == {"}": "{", "]": "["}[tok], f"unbalanced {tok}"
    assert not stack, f"unclosed {stack}"
    return re.findall(r'^([a-z_]+(?:\.[a-z_]+)+) "([a-z_]+)" \{$', text, re.M)


def alloy_config(s, loki_url=LOKI_URL, docker=False, host_name="web1") -> str:
    return alloy.config_content(s, host_name, loki_url, docker)


def check_wiring(text: str) -> set[str]:
    """Every `<component>.<label>.receiver|rules|targets` reference names a declared
    component; return the declared ones."""
    declared = {f"{kind}.{label}" for kind, label in alloy_structure(text)}
    for ref in re.findall(r"((?:loki|local|discovery)\.[a-z_.]+)\.(?:receiver|rules|targets)\b",
                          text):
        assert ref in declared, f"{ref} is used but not declared ({sorted(declared)})"
    return declared


def test_alloy_config_every_source():
    s = validate("web1", {"alloy_log_paths": ["/var/log/*.log", "/srv/app/*.log"]})
    text = alloy_config(s, docker=True)
    declared = check_wiring(text)
    assert declared == {"loki.relabel.journal", "loki.source.journal.journal",
                        "local.file_match.logfiles",
                        "loki.source.file.logfiles", "discovery.docker.containers",
                        "discovery.relabel.containers", "loki.source.docker.containers",
                        "loki.process.level", "loki.relabel.level", "loki.write.loki"}
    # the journal's unit, Docker's container name, the write URL and the host label
    assert re.search(r'source_labels = \["__journal__systemd_unit"\]\s+target_label\s+= "unit"',
                     text)
    assert re.search(r'source_labels = \["__meta_docker_container_name"\]\s+regex\s+= "/\(\.\*\)"'
                     r'\s+target_label\s+= "container"', text)
    assert f'url = "{LOKI_URL}"' in text
    assert 'external_labels = {host = "web1"}' in text
    assert '{__path__ = "/var/log/*.log", job = "logfiles"}' in text
    assert '{__path__ = "/srv/app/*.log", job = "logfiles"}' in text
    assert 'host          = "unix:///var/run/docker.sock"' in text
    for job in ("systemd-journal", "logfiles", "docker"):
        assert f'job = "{job}"' in text


def test_alloy_config_only_what_is_asked():
    s = validate("web1", {"alloy_journal": False, "alloy_log_paths": []})
    text = alloy_config(s, docker=False)
    declared = check_wiring(text)
    assert declared == {"loki.process.level", "loki.relabel.level", "loki.write.loki"}
    for absent in ("loki.source.journal", "local.file_match", "discovery.docker", "__path__"):
        assert absent not in text


def test_alloy_config_default_has_journal_and_files_but_docker_only_when_found():
    text = alloy_config(validate("web1", {}), docker=False)
    assert "loki.source.journal" in text and "loki.source.file" in text
    assert "docker" not in text.replace('"systemd-journal"', "")


def test_alloy_strings_are_escaped():
    s = validate("web1", {"alloy_log_paths": ['/srv/odd "quoted"/*.log']})
    text = alloy_config(s, host_name='we"b\\1')
    alloy_structure(text)
    assert r'external_labels = {host = "we\"b\\1"}' in text
    assert r'{__path__ = "/srv/odd \"quoted\"/*.log", job = "logfiles"}' in text


def test_alloy_log_paths_must_be_absolute():
    with pytest.raises(SettingsError, match="alloy_log_paths.*absolute"):
        alloy_config(validate("web1", {"alloy_log_paths": ["var/log/*.log"]}))


def test_the_structural_checker_catches_breakage():
    good = alloy_config(validate("web1", {}))
    alloy_structure(good)
    with pytest.raises(AssertionError):
        alloy_structure(good.replace('url = "http', 'url = "http\n', 1))
    with pytest.raises(AssertionError):
        alloy_structure(good.rstrip().rstrip("}"))
    with pytest.raises(AssertionError):
        check_wiring(good.replace('loki.write "loki" {', 'loki.write "other" {'))


@pytest.mark.parametrize("line,level", [
    ("ts=2026-01-01T00:00:00Z caller=main.go:12 level=warn msg=\"disk slow\"", "warn"),
    ('{"time":"x","level":"ERROR","msg":"boom"}', "ERROR"),
    ("ts=1 caller=error.go:7 level=info msg=ok", "info"),   # not the 'error' of error.go
    ("2026-01-01 severity: Warning something", "Warning"),
    ("lvl=dbug x=1", None),                                 # not a level word we know
    ("an error occurred", None),                            # no level field
    ("loglevel=info", None),                                # another field's name
])
def test_level_regex(line, level):
    m = re.search(alloy.LEVEL_REGEX, line)
    assert (m.group("level") if m else None) == level


def test_level_aliases_make_one_spelling():
    aliases = dict(alloy.LEVEL_ALIASES)
    assert aliases == {"err": "error", "warning": "warn", "crit": "critical",
                       "emergency": "emerg"}
    text = alloy_config(validate("web1", {}))
    assert 'action        = "lowercase"' in text
    for alias, name in aliases.items():
        assert f'regex         = "{alias}"\n\t\treplacement   = "{name}"' in text


def test_alloy_validator_is_fmt():
    assert alloy.validator("/usr/bin/alloy").format(path="/etc/alloy/.c.new") == \
        "/usr/bin/alloy fmt /etc/alloy/.c.new"


@pytest.mark.parametrize("version,check", [
    ("1.8.3", "fmt"),        # the last release without `alloy validate`
    ("1.9.0", "validate"),   # grafana/alloy v1.9.0 added internal/alloycli/cmd_validate.go
    (RELEASES["alloy"]["version"], "validate"),
    ("0.0.1-testdouble", "fmt"),
])
def test_alloy_config_is_checked_by_validate_where_the_version_has_it(version, check):
    assert alloy.config_check(version) == check


def test_alloy_validate_gets_the_stability_flags_of_the_unit():
    # validate must accept what `run` will: the same stability level and community flag
    flags = ["--stability.level=experimental", "--feature.community-components.enabled",
             "--server.http.enable-pprof=false"]
    assert alloy.validator("/usr/bin/alloy", "validate", flags).format(path="/etc/alloy/.c") == (
        "/usr/bin/alloy validate --stability.level=experimental "
        "--feature.community-components.enabled /etc/alloy/.c")


# -- which Loki, Docker or not ------------------------------------------------------------------
def test_alloy_ships_to_the_first_loki_of_the_inventory(inventory):
    use = inventory({"monitoring": ["mon2", "mon1"], "web": ["web1"]})
    assert alloy.loki_push_url(use("web1")) == LOKI_URL
    assert alloy.loki_push_url(use("mon2")) == LOKI_URL


def test_alloy_loki_url_setting_wins(inventory):
    url = "https://logs.example.org/loki/api/v1/push"
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    host_data={"web1": {"alloy_loki_url": url}})
    assert alloy.loki_push_url(use("web1")) == url


def test_loki_port_and_address_of_its_host_are_used(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    host_data={"mon1": {"loki_port": 3200, "scrape_address": "10.0.0.9"}})
    assert alloy.loki_push_url(use("web1")) == "http://10.0.0.9:3200/loki/api/v1/push"


def test_no_loki_anywhere_is_an_error_naming_the_way_out(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    group_data={"monitoring": {"loki_enabled": False}})
    with pytest.raises(SettingsError) as exc:
        alloy.loki_push_url(use("web1"))
    assert "alloy_loki_url" in str(exc.value) and "alloy_enabled" in str(exc.value)


@pytest.mark.parametrize("setting,socket,groups,ships", [
    ("auto", {"user": "root", "group": "docker"}, ["adm", "docker"], True),
    ("auto", None, ["adm", "docker"], False),                       # no socket
    ("auto", {"user": "root", "group": "root"}, ["adm"], False),    # no docker group
    ("true", None, ["adm"], True),
    ("false", {"user": "root", "group": "docker"}, ["docker"], False),
])
def test_docker_logs_decided_from_facts(monkeypatch, setting, socket, groups, ships):
    monkeypatch.setattr(alloy, "host", FakeFacts(socket=socket, groups=groups))
    assert alloy.ships_docker(validate("web1", {"alloy_docker_logs": setting})) is ships


def test_unit_groups_are_those_the_host_has(monkeypatch):
    s = validate("web1", {})
    monkeypatch.setattr(alloy, "host", FakeFacts(groups=["adm", "systemd-journal", "docker"]))
    assert alloy.groups(s, docker=True) == ["systemd-journal", "adm", "docker"]
    assert alloy.groups(s, docker=False) == ["systemd-journal", "adm"]
    monkeypatch.setattr(alloy, "host", FakeFacts(groups=["adm"]))
    assert alloy.groups(s, docker=True) == ["adm"]


# -- scrape targets and rules -----------------------------------------------------------------
def test_scrape_jobs_from_the_inventory(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"], "docker": ["docker1"]})
    use("mon1")
    jobs = {j["name"]: j for j in targets.inventory_jobs()}
    assert jobs["loki"]["groups"] == [{"targets": ["mon1:3100"], "labels": {"host": "mon1"}}]
    assert jobs["cadvisor"]["groups"] == [{"targets": ["docker1:8080"],
                                           "labels": {"host": "docker1"}}]
    assert [g["targets"] for g in jobs["alloy"]["groups"]] == [
        ["docker1:12345"], ["mon1:12345"], ["web1:12345"]]
    cfg = yaml.safe_load(prometheus.config_content(context.settings(), list(jobs.values())))
    scraped = {c["job_name"]: c for c in cfg["scrape_configs"]}
    for job in ("loki", "alloy", "cadvisor"):
        assert scraped[job]["file_sd_configs"] == [{"files": [f"/etc/prometheus/file_sd/{job}.yml"]}]


def test_shipped_rule_sets_include_loki_and_containers():
    wanted = prometheus.rule_files(validate("mon1", {}))
    assert {"loki.rules.yml", "containers.rules.yml"} <= set(wanted)


# -- units --------------------------------------------------------------------------------------


class HostWithOneAddress:
    """The pyinfra host the unit is planned for: web1, which has 10.0.0.5 on an
    interface (the LocalAddressOf fact's answer for its own name)."""
    name = "web1"

    @staticmethod
    def get_fact(fact, address):
        return "10.0.0.5" if address == "web1" else None


@pytest.fixture
def current(monkeypatch):
    """validate()d settings that context.settings() also answers (listen_address)."""
    monkeypatch.setattr(context, "current_host", HostWithOneAddress())

    def build(data=None):
        s = validate("web1", data or {})
        monkeypatch.setattr(context, "settings", lambda h=None: s)
        return s
    return build


def test_loki_unit(current):
    s = current()
    lines = directives(loki.unit(s, "/usr/local/bin/loki").content())
    assert "User=loki" in lines and "ReadWritePaths=/var/lib/loki" in lines
    assert "ProtectSystem=strict" in lines and "CapabilityBoundingSet=" in lines
    assert not any(line.startswith("ExecReload") for line in lines)   # restarts on change
    assert exec_start_argv("\n".join(lines)) == ["/usr/local/bin/loki",
                                            "-config.file=/etc/loki/loki.yaml"]


def test_alloy_unit(current):
    s = current({"alloy_listen_address": "0.0.0.0", "alloy_extra_flags": ["--stability.level=generally-available"]})
    content = alloy.unit(s, "/usr/local/bin/alloy", ["systemd-journal", "adm", "docker"]).content()
    lines = directives(content)
    for d in ("User=alloy", "Group=alloy", "SupplementaryGroups=systemd-journal adm docker",
              "ReadWritePaths=/var/lib/alloy", "ProtectSystem=strict", "ProtectHome=yes",
              "NoNewPrivileges=yes", "CapabilityBoundingSet=",
              "ExecReload=/bin/kill -HUP $MAINPID"):
        assert d in lines, d
    assert exec_start_argv(content) == ["/usr/local/bin/alloy", "run",
                                   "--server.http.listen-addr=0.0.0.0:12345",
                                   "--storage.path=/var/lib/alloy", "--disable-reporting",
                                   "--stability.level=generally-available",
                                   "/etc/alloy/config.alloy"]


def test_alloy_unit_without_groups_has_no_supplementary_groups(current):
    lines = directives(alloy.unit(current(), "/usr/bin/alloy", []).content())
    assert not any(line.startswith("SupplementaryGroups") for line in lines)


@pytest.mark.parametrize("component, flag", [("alloy", "--server.http.listen-addr=10.0.0.5:12345"),
                                             ("cadvisor", "--listen_ip=10.0.0.5")])
def test_scraped_components_bind_only_where_prometheus_reaches_them(current, component, flag):
    s = current()
    unit = alloy.unit(s, "/usr/bin/alloy", []) if component == "alloy" else \
        cadvisor.unit(s, "/usr/local/bin/cadvisor")
    assert flag in exec_start_argv(unit.content())


def test_cadvisor_unit_root_with_two_capabilities(current):
    s = current({"cadvisor_listen_address": "10.0.0.7", "cadvisor_port": 8081})
    content = cadvisor.unit(s, "/usr/local/bin/cadvisor").content()
    lines = directives(content)
    for d in ("User=root", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
              "ProtectProc=default", "ProtectSystem=strict", "NoNewPrivileges=yes",
              "AmbientCapabilities="):
        assert d in lines, d
    assert not any(line.startswith("ReadWritePaths") for line in lines)
    argv = exec_start_argv(content)
    assert argv[:5] == ["/usr/local/bin/cadvisor", "--listen_ip=10.0.0.7", "--port=8081",
                        "--docker_only=false", "--housekeeping_interval=30s"]
    assert "--store_container_labels=false" in argv
    (disabled,) = [a for a in argv if a.startswith("--disable_metrics=")]
    kinds = disabled.split("=", 1)[1].split(",")
    assert {"percpu", "disk"} <= set(kinds)
    # --disable_metrics replaces cAdvisor's default list, so that list must be there too
    assert CADVISOR_DEFAULT_DISABLED <= set(kinds)
    assert set(kinds) <= CADVISOR_METRIC_KINDS


@pytest.mark.parametrize("version, younger", [("0.38.7", set()), ("0.39.3", {"cpuset"}),
                                              ("0.57.0", {"cpuset", "oom_event"})])
def test_cadvisor_disables_only_metric_kinds_its_version_knows(version, younger):
    kinds = set(cadvisor.disabled_metrics(version))
    assert kinds & {"cpuset", "oom_event"} == younger
    assert {"percpu", "disk", "memory_numa", "resctrl"} <= kinds


def _cadvisor_starts(binary: Path, argv: list[str]) -> tuple[bool, str]:
    """Start the real cAdvisor with `argv`'s flags on loopback: does it answer /healthz?"""
    port = 18000 + os.getpid() % 1000
    flags = [a for a in argv[1:] if not a.startswith(("--listen_ip", "--port"))]
    proc = subprocess.Popen([str(binary), "--listen_ip=127.0.0.1", f"--port={port}", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            if proc.poll() is not None:
                return False, proc.stdout.read()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return True, ""
            time.sleep(0.1)
        return False, "no answer on /healthz"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="cAdvisor reads every cgroup: root only")
def test_the_real_cadvisor_takes_the_flags_rendered_for_its_version(current):
    """Debian's real cAdvisor 0.38.7 (bullseye) starts with the flags rendered for 0.38.7,
    and refuses, as the deploy did before, the metric list of a newer cAdvisor."""
    real = debian.binaries("cadvisor", suite=debian.NEWEST["cadvisor"])["cadvisor"]
    version = debian.upstream_version("cadvisor", suite=debian.NEWEST["cadvisor"])
    s = current({"cadvisor_version": version})
    started, output = _cadvisor_starts(real, exec_start_argv(
        cadvisor.unit(s, str(real)).content()))
    assert started, output
    newer = [f"--disable_metrics={','.join(cadvisor.disabled_metrics('0.57.0'))}"]
    started, output = _cadvisor_starts(real, ["cadvisor", *newer])
    assert not started and "cpuset" in output, output


# cAdvisor v0.57.0: container.AllMetrics (container/factory.go) and the default
# ignoreMetrics of cmd/cadvisor.go, written here from its source
CADVISOR_METRIC_KINDS = {
    "cpu", "sched", "percpu", "memory", "memory_numa", "cpuLoad", "diskIO", "disk",
    "network", "tcp", "advtcp", "udp", "app", "process", "hugetlb", "perf_event",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset", "oom_event", "pressure"}
CADVISOR_DEFAULT_DISABLED = {
    "memory_numa", "tcp", "udp", "advtcp", "sched", "process", "hugetlb",
    "referenced_memory", "cpu_topology", "resctrl", "cpuset"}


def test_cadvisor_runs_as_no_user_of_its_own():
    assert cadvisor.home(validate("docker1", {})) is None


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(not SYSTEMD_ANALYZE, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("component", ["loki", "alloy", "cadvisor"])
def test_units_pass_systemd_analyze_verify(tmp_path, current, component):
    s = current()
    sleep = shutil.which("sleep")   # verify needs an existing executable
    unit = {"loki": lambda: loki.unit(s, sleep),
            "alloy": lambda: alloy.unit(s, sleep, ["adm"]),
            "cadvisor": lambda: cadvisor.unit(s, sleep)}[component]()
    path = tmp_path / f"monstack-test-{component}.service"
    path.write_text(unit.content())
    res = subprocess.run([SYSTEMD_ANALYZE, "verify", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "monstack-test" not in res.stderr, res.stderr


# -- release artifacts --------------------------------------------------------------------------
MACHINES = ("x86_64", "aarch64", "armv7l", "armv6l", "armv8l")
ARCH = {   # upstream's arch token per `uname -m`; None: no build
    "loki": ("amd64", "arm64", "arm", None, "arm"),
    "alloy": ("amd64", "arm64", None, None, None),
    "cadvisor": ("amd64", "arm64", None, None, None),
}


@pytest.mark.parametrize("component", sorted(ARCH))
@pytest.mark.parametrize("index", range(len(MACHINES)), ids=MACHINES)
def test_arch_mapping(component, index):
    machine, want = MACHINES[index], ARCH[component][index]
    if want is None:
        with pytest.raises(ArtifactError) as exc:
            artifacts.upstream_arch(component, machine)
        msg = str(exc.value)
        assert repr(machine) in msg
        supported = sorted(m for m, a in zip(MACHINES, ARCH[component]) if a)
        assert f"it has: {', '.join(supported)}" in msg
    else:
        assert artifacts.upstream_arch(component, machine) == want


@pytest.mark.parametrize("component,machine,name", [
    ("loki", "x86_64", "loki-linux-amd64.zip"),
    ("loki", "armv7l", "loki-linux-arm.zip"),
    ("alloy", "aarch64", "alloy-linux-arm64.zip"),
])
def test_loki_and_alloy_zips_need_operator_checksums(component, machine, name, monkeypatch):
    """...when their release's checksum file cannot be read either."""
    monkeypatch.setattr(artifacts, "_published", {})
    version = RELEASES[component]["version"]
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve(component, version, machine, "http://mirror.invalid", {})
    msg = str(exc.value)
    assert f"no sha256 is pinned for any {component} release" in msg
    assert "artifact_checksums" in msg and name in msg
    sha = "ab" * 32
    a = artifacts.resolve(component, version, machine, "http://mirror.invalid/", {name: sha})
    assert (a.file_name, a.url, a.sha256) == (name, f"http://mirror.invalid/{name}", sha)


def test_no_loki_or_alloy_checksum_is_pinned():
    assert not [n for n in CHECKSUMS if n.startswith(("loki-", "alloy-"))]


def test_cadvisor_binary_has_pinned_checksums_for_64_bit():
    v = RELEASES["cadvisor"]["version"]
    for machine, arch in (("x86_64", "amd64"), ("aarch64", "arm64")):
        a = artifacts.resolve("cadvisor", v, machine, None, {})
        assert a.file_name == f"cadvisor-v{v}-linux-{arch}"
        assert a.url == f"https://github.com/google/cadvisor/releases/download/v{v}/{a.file_name}"


class Mirror:
    """Files over HTTP on 127.0.0.1."""

    def __init__(self, files: dict[str, bytes]):
        files_ = files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = files_.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def upstream_zip(inner: str, data: bytes) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(inner, (2026, 1, 1, 0, 0, 0))
        info.external_attr = (0o100755 << 16)
        zf.writestr(info, data)
    return raw.getvalue()


@pytest.mark.parametrize("component,machine,inner", [
    ("loki", "aarch64", "loki-linux-arm64"),
    ("alloy", "x86_64", "alloy-linux-amd64"),
])
def test_zip_from_the_mirror_gives_the_binary(no_proxy, tmp_path, component, machine, inner):
    arch = artifacts.upstream_arch(component, machine)
    name = f"{component}-linux-{arch}.zip"
    body = upstream_zip(inner, b"#!/bin/sh\necho " + component.encode() + b"\n")
    mirror = Mirror({name: body})
    try:
        artifact, folder = artifacts.prepare(
            component, RELEASES[component]["version"], machine, mirror.url,
            {name: hashlib.sha256(body).hexdigest()}, str(tmp_path / "cache"))
    finally:
        mirror.close()
    (path,) = artifacts.binary_paths(artifact, folder).values()
    assert path.name == inner and path.read_bytes().endswith(component.encode() + b"\n")
    assert path.stat().st_mode & 0o111


@pytest.mark.parametrize("component,machine", [("loki", "x86_64"), ("alloy", "aarch64")])
def test_an_unpinned_zip_is_verified_against_its_release_checksum_file(
        no_proxy, tmp_path, monkeypatch, component, machine):
    """No sha256 pinned or given: the one upstream's SHA256SUMS lists for the zip, read
    from artifact_mirror under <component>-v<version>-SHA256SUMS, is what it must have."""
    monkeypatch.setattr(artifacts, "_published", {})
    version = RELEASES[component]["version"]
    arch = artifacts.upstream_arch(component, machine)
    name, inner = f"{component}-linux-{arch}.zip", f"{component}-linux-{arch}"
    body = upstream_zip(inner, b"#!/bin/sh\necho " + component.encode() + b"\n")
    other = hashlib.sha256(b"another file").hexdigest()
    sums = (f"{other}  {component}-linux-s390x.zip\n"
            f"{hashlib.sha256(body).hexdigest()}  {name}\n").encode()
    sums_name = f"{component}-v{version}-SHA256SUMS"
    mirror = Mirror({name: body, sums_name: sums})
    try:
        artifact, folder = artifacts.prepare(component, version, machine, mirror.url, {},
                                             str(tmp_path / "cache"))
        assert artifact.sha256 == hashlib.sha256(body).hexdigest()
        (path,) = artifacts.binary_paths(artifact, folder).values()
        assert path.name == inner
        # a zip that is not the listed one is refused before anything is unpacked
        monkeypatch.setattr(artifacts, "_published", {})
        mirror_files = {name: body + b"tampered", sums_name: sums}
        tampered = Mirror(mirror_files)
        try:
            with pytest.raises(ArtifactError, match="checksum mismatch"):
                artifacts.prepare(component, version, machine, tampered.url, {},
                                  str(tmp_path / "cache2"))
        finally:
            tampered.close()
    finally:
        mirror.close()


def test_a_checksum_file_not_listing_the_zip_names_both(no_proxy, monkeypatch):
    monkeypatch.setattr(artifacts, "_published", {})
    version = RELEASES["loki"]["version"]
    mirror = Mirror({f"loki-v{version}-SHA256SUMS": b"ab" * 32 + b"  loki-linux-arm64.zip\n"})
    try:
        with pytest.raises(ArtifactError) as exc:
            artifacts.resolve("loki", version, "x86_64", mirror.url, {})
    finally:
        mirror.close()
    msg = str(exc.value)
    assert f"loki-v{version}-SHA256SUMS lists no loki-linux-amd64.zip" in msg
    assert "artifact_checksums" in msg


def test_the_checksum_files_are_upstreams_release_assets():
    for component in ("loki", "alloy"):
        url = RELEASES[component]["checksums"].format(version="1.2.3")
        assert url == f"https://github.com/grafana/{component}/releases/download/v1.2.3/SHA256SUMS"


def test_raw_cadvisor_binary_from_the_mirror(no_proxy, tmp_path):
    v = RELEASES["cadvisor"]["version"]
    name = f"cadvisor-v{v}-linux-amd64"
    body = b"\x7fELF not really cadvisor"
    mirror = Mirror({name: body})
    try:
        # a checksum given by the operator wins over the pinned one
        artifact, folder = artifacts.prepare("cadvisor", v, "x86_64", mirror.url,
                                             {name: hashlib.sha256(body).hexdigest()},
                                             str(tmp_path / "cache"))
    finally:
        mirror.close()
    paths = artifacts.binary_paths(artifact, folder)
    assert list(paths) == ["cadvisor"]
    assert paths["cadvisor"].read_bytes() == body and paths["cadvisor"].stat().st_mode & 0o111
