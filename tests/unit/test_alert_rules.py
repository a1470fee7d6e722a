"""The shipped Prometheus alert rules: valid, documented, and unit-tested with promtool.

templates/<component>/*.rules.yml are uploaded verbatim to the Prometheus host.
Each has a promtool unit-test file tests/rules/<stem>_test.yml. These tests run the
real promtool (Debian's builds, through tests/harness/debian.py) of three releases, so
every rule and test holds on Prometheus 2 and 3 alike, and check that no alert ships
without a test proving it fires.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

from harness import debian
from operations.base.templates import shipped_rule_sets

RULE_TESTS_DIR = TESTS / "rules"

RULE_FILES = sorted(shipped_rule_sets().values(), key=lambda p: p.name)
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*_test.yml"))

SEVERITIES = {"critical", "warning", "info", "none"}
# Alerts that fire by design all the time, so no test can show them quiet.
ALWAYS_FIRING = {"Watchdog"}


def _ids(paths):
    return [p.name for p in paths]


def _load(path: Path) -> dict:
    with path.open() as fh:
        return yaml.safe_load(fh)


def _alerting_rules():
    """(file, group name, rule) for every alerting rule in every shipped file."""
    for path in RULE_FILES:
        for group in _load(path).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    yield path, group["name"], rule


def _alert_tests():
    """(test file, alertname, exp_alerts) for every alert_rule_test case."""
    for path in RULE_TEST_FILES:
        for test in _load(path).get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                yield path, case["alertname"], case.get("exp_alerts") or []


# Debian release -> the Prometheus its promtool is: the oldest we deploy, the last 2.x and
# 3.x (range selectors exclude their left boundary from 3.0 on: tests must hold on both).
PROMTOOL_SUITES = {"bookworm": "2.42", "trixie": "2.53", "sid": "3.5"}


@pytest.fixture(scope="session", params=sorted(PROMTOOL_SUITES))
def promtool(request) -> Path:
    return debian.tool("promtool", request.param)


@pytest.mark.parametrize("suite", sorted(PROMTOOL_SUITES))
def test_promtools_are_the_releases_we_mean(suite):
    res = _run([debian.tool("promtool", suite), "--version"])
    assert f"promtool, version {PROMTOOL_SUITES[suite]}." in res.stdout + res.stderr


def _run(cmd: list, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_rule_files_and_tests_exist():
    assert RULE_FILES, "no templates/<component>/*.rules.yml"
    assert RULE_TEST_FILES, f"no *_test.yml in {RULE_TESTS_DIR}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=_ids(RULE_FILES))
def test_promtool_check_rules(promtool, rule_file):
    res = _run([promtool, "check", "rules", rule_file])
    assert res.returncode == 0, f"promtool check rules {rule_file.name}:\n{res.stdout}{res.stderr}"


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=_ids(RULE_TEST_FILES))
def test_promtool_test_rules(promtool, test_file):
    res = _run([promtool, "test", "rules", test_file])
    assert res.returncode == 0, f"promtool test rules {test_file.name}:\n{res.stdout}{res.stderr}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=_ids(RULE_FILES))
def test_every_rule_file_has_a_test_file(rule_file):
    stem = rule_file.name.removesuffix(".rules.yml")
    test_file = RULE_TESTS_DIR / f"{stem}_test.yml"
    assert test_file.exists(), f"{rule_file.name} has no promtool test file {test_file}"
    wanted = rule_file.resolve()
    loaded = [(test_file.parent / p).resolve() for p in _load(test_file).get("rule_files") or []]
    assert wanted in loaded, f"{test_file.name} does not load {rule_file.name}: {loaded}"


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=_ids(RULE_TEST_FILES))
def test_rule_tests_load_only_shipped_rule_files(test_file):
    shipped = {p.resolve() for p in RULE_FILES}
    for p in _load(test_file).get("rule_files") or []:
        resolved = (test_file.parent / p).resolve()
        assert resolved in shipped, f"{test_file.name}: rule file {p} is not a shipped rule file"


def test_every_alert_is_tested():
    """A new alert without a promtool test fails here.

    Each alert name must appear in some test; each (alert, severity) pair must be
    shown firing at least once; and each alert must be shown quiet (exp_alerts: [])
    at least once, except those that fire by design all the time."""
    shipped = {(rule["alert"], rule["labels"]["severity"]) for _, _, rule in _alerting_rules()}
    names = {name for name, _ in shipped}
    tested_names, fired, quiet = set(), set(), set()
    for _, name, exp_alerts in _alert_tests():
        tested_names.add(name)
        if not exp_alerts:
            quiet.add(name)
        for alert in exp_alerts:
            fired.add((name, (alert.get("exp_labels") or {}).get("severity")))

    assert sorted(names - tested_names) == [], "alerts with no promtool test"
    assert sorted(shipped - fired) == [], "(alert, severity) never shown firing"
    assert sorted(names - ALWAYS_FIRING - quiet) == [], "alerts never shown quiet"
    assert sorted(tested_names - names) == [], "tests name alerts that are not shipped"


def test_every_recording_rule_is_tested():
    """A new recording rule without a promtool test fails here: each recorded name must be
    the subject of a promql_expr_test that expects samples of it."""
    recorded = {rule["record"] for path in RULE_FILES for group in _load(path)["groups"]
                for rule in group["rules"] if "record" in rule}
    assert recorded, "no shipped recording rule"
    shown = set()
    for path in RULE_TEST_FILES:
        for test in _load(path).get("tests") or []:
            for case in test.get("promql_expr_test") or []:
                for sample in case.get("exp_samples") or []:
                    shown.add(sample["labels"].split("{", 1)[0].strip())
    assert sorted(recorded - shown) == [], "recording rules never shown with a sample"


def test_every_alert_has_severity_summary_and_description():
    rules = list(_alerting_rules())
    assert rules
    problems = []
    for path, group, rule in rules:
        where = f"{path.name}/{group}/{rule['alert']}"
        severity = (rule.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{where}: severity {severity!r} not in {sorted(SEVERITIES)}")
        annotations = rule.get("annotations") or {}
        for key in ("summary", "description"):
            if not str(annotations.get(key) or "").strip():
                problems.append(f"{where}: no annotations.{key}")
    assert problems == []


def test_group_names_unique_across_files():
    seen: dict[str, str] = {}
    dupes = []
    for path in RULE_FILES:
        for group in _load(path).get("groups") or []:
            if group["name"] in seen:
                dupes.append(f"{group['name']} in {seen[group['name']]} and {path.name}")
            seen[group["name"]] = path.name
    assert dupes == []


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=_ids(RULE_FILES))
def test_rule_files_are_not_jinja_templates(rule_file):
    """They are uploaded verbatim: Jinja block syntax would reach Prometheus as is."""
    text = rule_file.read_text()
    assert "{%" not in text and "{#" not in text, f"{rule_file.name} contains Jinja syntax"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_a_rule_set_installs_the_same_whichever_yaml_loader_reads_it(rule_file, monkeypatch):
    """libyaml's loader (used where PyYAML has it) and the pure-Python one give the same
    installed file, so no host sees its rules change with the controller's PyYAML build."""
    from operations.base import alert_rules
    assert alert_rules._LOADER is yaml.CSafeLoader   # setup.sh's PyYAML has libyaml
    fast = alert_rules.installed(rule_file, "https://runbooks.example/", "https://grafana.example")
    monkeypatch.setattr(alert_rules, "_LOADER", yaml.SafeLoader)
    assert alert_rules.installed(rule_file, "https://runbooks.example/",
                                 "https://grafana.example") == fast
