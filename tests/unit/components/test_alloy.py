"""alloy, the log shipper: config.alloy, the Loki it ships to, Docker logs or not, and
its unit.

The real alloy binary cannot run here (Debian builds none; upstream's downloads are not
reachable), so config.alloy is checked structurally (balanced blocks, terminated
strings, every component it refers to declared). The settings of a host come from
validate(), the inventory is a real pyinfra Inventory.
"""

from __future__ import annotations

import re

import pytest

from operations.components import alloy
from operations.base.schema import SettingsError
from operations.stack import RELEASES, validate
from harness.one_address import current  # noqa: F401
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


def test_alloy_unit(current):
    s = current({"alloy_listen_address": "0.0.0.0", "alloy_extra_flags": ["--stability.level=generally-available"]})
    content = alloy.unit(s, "/usr/local/bin/alloy", ["systemd-journal", "adm", "docker"]).content()
    lines = directives(content)
    assert {"User=alloy", "Group=alloy", "SupplementaryGroups=systemd-journal adm docker",
            "ReadWritePaths=/var/lib/alloy", "ProtectSystem=strict", "ProtectHome=yes",
            "NoNewPrivileges=yes", "CapabilityBoundingSet=",
            "ExecReload=/bin/kill -HUP $MAINPID"} - set(lines) == set()
    assert exec_start_argv(content) == ["/usr/local/bin/alloy", "run",
                                   "--server.http.listen-addr=0.0.0.0:12345",
                                   "--storage.path=/var/lib/alloy", "--disable-reporting",
                                   "--stability.level=generally-available",
                                   "/etc/alloy/config.alloy"]


def test_alloy_unit_without_groups_has_no_supplementary_groups(current):
    lines = directives(alloy.unit(current(), "/usr/bin/alloy", []).content())
    assert not any(line.startswith("SupplementaryGroups") for line in lines)
