"""Every shipped alert, as Prometheus gets it, carries `summary`, `description`,
`runbook_url` and `dashboard`; the dashboard is one that ships, the runbook one the README
has; each alert has a runbook entry (`<set>.runbooks.yml`) and each entry an alert.

The rule sets are checked AS INSTALLED: through prometheus.rule_files(), which adds the
links (operations/base/alert_rules.py), for every set the templates ship.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from harness import debian
from operations import docs
from operations.base import alert_rules
from operations.base.templates import REPO, shipped_dashboards, shipped_rule_sets
from operations.components.prometheus import server as prometheus
from operations.stack import validate

SETS = shipped_rule_sets()
DASHBOARD_UIDS = {json.loads(p.read_text())["uid"] for p in shipped_dashboards()}
GRAFANA = "https://grafana.example.org"
BASE = prometheus.README_URL
README = REPO / "README.md"


def installed(grafana_url=GRAFANA, **data) -> dict[str, dict]:
    """File name -> loaded content of every shipped set as installed."""
    s = validate("mon1", {"prometheus_shipped_rules": sorted(SETS), **data})
    return {name: yaml.safe_load(text)
            for name, text in prometheus.rule_files(s, grafana_url).items()}


def source_alerts(path) -> list[dict]:
    return list(alert_rules.alerts(yaml.safe_load(path.read_text())))


def annotation_problems(data: dict, where: str, grafana_url: str | None, base: str,
                        uids: set[str], anchors: set[str]) -> list[str]:
    """What is wrong with the annotations of the alerts of one installed rule file."""
    problems = []
    for rule in alert_rules.alerts(data):
        at = f"{where}/{rule['alert']}"
        annotations = rule.get("annotations") or {}
        for key in ("summary", "description", "runbook_url", "dashboard"):
            if not isinstance(annotations.get(key), str) or not annotations[key].strip():
                problems.append(f"{at}: no annotation {key}")
        url = annotations.get("runbook_url")
        anchor = alert_rules.anchor(rule["alert"])
        if url is not None and url != f"{base}#{anchor}":
            problems.append(f"{at}: runbook_url {url!r} is not {base}#{anchor}")
        if anchor not in anchors:
            problems.append(f"{at}: the README has no anchor {anchor}")
        link = annotations.get("dashboard")
        prefix = f"{grafana_url}/d/" if grafana_url else ""
        if isinstance(link, str) and (not link.startswith(prefix)
                                      or link.removeprefix(prefix) not in uids):
            problems.append(f"{at}: dashboard {link!r} is not {prefix}<uid of a shipped "
                            "dashboard>")
    return problems


def readme_anchors() -> set[str]:
    return set(re.findall(r'<a name="([^"]+)"></a>', README.read_text()))


# -- the installed rule sets -------------------------------------------------------------------
def test_every_shipped_set_is_installed_and_has_alerts_or_records():
    files = installed()
    assert sorted(files) == sorted(p.name for p in SETS.values())
    assert sum(len(list(alert_rules.alerts(d))) for d in files.values()) >= 30


@pytest.mark.parametrize("grafana_url", [GRAFANA, None])
def test_every_installed_alert_has_the_four_annotations(grafana_url):
    anchors = readme_anchors()
    problems = []
    for name, data in installed(grafana_url).items():
        problems += annotation_problems(data, name, grafana_url, BASE, DASHBOARD_UIDS, anchors)
    assert problems == []


def test_the_runbook_base_url_is_a_setting():
    base = "https://wiki.example.org/ops/monitoring"
    files = installed(prometheus_runbook_base_url=base)
    rule = next(alert_rules.alerts(files["targets.rules.yml"]))
    assert rule["annotations"]["runbook_url"] == f"{base}#alert-targetdown"
    assert annotation_problems(files["targets.rules.yml"], "targets", GRAFANA, base,
                               DASHBOARD_UIDS, readme_anchors()) == []


def test_the_checker_finds_what_is_wrong():
    anchors = {"alert-a"}
    good = {"summary": "s", "description": "d", "runbook_url": f"{BASE}#alert-a",
            "dashboard": f"{GRAFANA}/d/monstack-hosts"}

    def check(**annotations):
        data = {"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": "up == 0", "annotations": {**good, **annotations}}]}]}
        return annotation_problems(data, "x", GRAFANA, BASE, DASHBOARD_UIDS, anchors)

    assert check() == []
    assert check(summary="") == ["x/A: no annotation summary"]
    assert check(runbook_url=f"{BASE}#alert-b") != []
    assert check(dashboard=f"{GRAFANA}/d/monstack-nothing") != []   # no such dashboard
    assert check(dashboard="monstack-hosts") != []                  # not a link
    assert annotation_problems({"groups": [{"name": "g", "rules": [
        {"alert": "B", "expr": "up", "annotations": good}]}]}, "x", GRAFANA, BASE,
        DASHBOARD_UIDS, anchors) != []                              # no README anchor


def test_installing_changes_nothing_but_the_two_annotations():
    """Expressions, labels, durations, recording rules and the other annotations reach
    Prometheus as written; `dashboard` maps back to the source's uid."""
    files = installed()
    for path in SETS.values():
        data = files[path.name]
        for rule in alert_rules.alerts(data):
            annotations = rule["annotations"]
            annotations.pop("runbook_url")
            annotations["dashboard"] = annotations["dashboard"].removeprefix(f"{GRAFANA}/d/")
        assert data == yaml.safe_load(path.read_text()), path.name


def test_installed_content_is_the_same_on_every_run():
    """What --dry plans is what the run writes, and a second run writes nothing new."""
    s = validate("mon1", {"prometheus_shipped_rules": sorted(SETS)})
    assert prometheus.rule_files(s, GRAFANA) == prometheus.rule_files(s, GRAFANA)


def test_user_rule_files_are_installed_as_they_are(tmp_path):
    own = tmp_path / "mine.rules.yml"
    text = ("groups:\n  - name: mine\n    rules:\n      - alert: Mine\n"
            "        expr: up == 0\n        annotations:\n          dashboard: my-board\n")
    own.write_text(text)
    s = validate("mon1", {"prometheus_rule_files": [str(own)]})
    assert prometheus.rule_files(s, GRAFANA)["mine.rules.yml"] == text


@pytest.mark.parametrize("suite", [debian.OLDEST, "sid"])
def test_promtool_accepts_the_installed_files(tmp_path, suite):
    s = validate("mon1", {"prometheus_shipped_rules": sorted(SETS)})
    paths = []
    for name, text in prometheus.rule_files(s, GRAFANA).items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    res = subprocess.run([str(debian.tool("promtool", suite)), "check", "rules", *paths],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


# -- the dashboards named in the source ------------------------------------------------------------
def test_source_rules_name_a_shipped_dashboard_by_uid():
    bad = {f"{path.name}/{rule['alert']}": rule.get("annotations", {}).get("dashboard")
           for path in SETS.values() for rule in source_alerts(path)
           if rule.get("annotations", {}).get("dashboard") not in DASHBOARD_UIDS}
    assert bad == {}, f"dashboard must be the uid of one of {sorted(DASHBOARD_UIDS)}"


# -- the runbooks ---------------------------------------------------------------------------------
def test_every_alert_has_a_runbook_entry_and_every_entry_an_alert():
    problems = []
    for name, path in SETS.items():
        alerts = {rule["alert"] for rule in source_alerts(path)}
        runbooks = alert_rules.load_runbooks(path)
        if alerts and not alert_rules.runbooks_path(path).is_file():
            problems.append(f"{name}: no {alert_rules.runbooks_path(path).name}")
        problems += [f"{name}: alert {a} has no runbook entry" for a in sorted(alerts - set(runbooks))]
        problems += [f"{name}: runbook entry {a} names no alert of the set"
                     for a in sorted(set(runbooks) - alerts)]
    assert problems == []


def test_every_runbooks_file_belongs_to_a_rule_set():
    found = sorted(REPO.glob(f"templates/*/*{alert_rules.RUNBOOKS_SUFFIX}"))
    assert found
    for path in found:
        rules = path.with_name(path.name.removesuffix(alert_rules.RUNBOOKS_SUFFIX)
                               + alert_rules.RULES_SUFFIX)
        assert rules.is_file(), f"{path} is beside no rule set"


@pytest.mark.parametrize("name", [n for n, p in SETS.items()
                                  if alert_rules.runbooks_path(p).is_file()])
def test_runbook_entries_have_the_shape(name):
    runbooks = alert_rules.load_runbooks(SETS[name])
    assert isinstance(runbooks, dict) and runbooks
    for alert, entry in runbooks.items():
        assert isinstance(entry, dict) and set(entry) == {"cause", "first_steps"}, alert
        assert isinstance(entry["cause"], str) and len(entry["cause"].strip()) >= 40, alert
        steps = entry["first_steps"]
        assert isinstance(steps, list) and steps, alert
        assert all(isinstance(step, str) and step.strip() for step in steps), alert


def test_readme_runbooks_section_is_current():
    text = README.read_text()
    start, end = "<!-- runbooks:start -->\n", "<!-- runbooks:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0] == docs.render_runbooks(), \
        "run python3 -m operations.docs --write"


def test_readme_has_one_entry_per_alert_with_its_cause():
    text = README.read_text()
    for path in SETS.values():
        runbooks = alert_rules.load_runbooks(path)
        for alert in {rule["alert"] for rule in source_alerts(path)}:
            entry = f'<a name="{alert_rules.anchor(alert)}"></a>\n### {alert}\n'
            assert text.count(entry) == 1, alert
            section = text.split(entry, 1)[1].split("\n### ", 1)[0]
            assert " ".join(runbooks[alert]["cause"].split()) in section, alert
            for step in runbooks[alert]["first_steps"]:
                assert step in section, (alert, step)


# -- where the dashboard links point ------------------------------------------------------------------
def test_dashboard_links_point_at_the_inventorys_grafana_of_the_own_site_first(inventory):
    use = inventory(
        {"monitoring": ["paris-mon", "berlin-mon"], "web": ["paris-web", "berlin-web"],
         "paris": ["paris-mon", "paris-web"], "berlin": ["berlin-mon", "berlin-web"],
         "federation": ["global1"]},
        group_data={"paris": {"site": "paris"}, "berlin": {"site": "berlin"}},
        host_data={"berlin-mon": {"grafana_root_url": "https://grafana.berlin.example.org/"}})
    assert prometheus.dashboard_base_url(use("paris-mon")) == "http://paris-mon:3000"
    assert prometheus.dashboard_base_url(use("berlin-mon")) == "https://grafana.berlin.example.org"
    # no Grafana of its own site: the first by name
    assert prometheus.dashboard_base_url(use("global1")) == "https://grafana.berlin.example.org"


def test_the_setting_wins_and_without_any_grafana_the_uid_stays(inventory):
    use = inventory({"monitoring": ["mon1"]}, {"grafana_enabled": False})
    s = use("mon1")
    assert prometheus.dashboard_base_url(s) is None
    data = yaml.safe_load(prometheus.rule_files(s, None)["targets.rules.yml"])
    assert next(alert_rules.alerts(data))["annotations"]["dashboard"] == "monstack-stack"
    use = inventory({"monitoring": ["mon1"]},
                    {"prometheus_dashboard_base_url": "https://dash.example.org/grafana/"})
    assert prometheus.dashboard_base_url(use("mon1")) == "https://dash.example.org/grafana"


def test_the_url_settings_are_checked():
    from operations.base.schema import SettingsError
    for key in ("prometheus_runbook_base_url", "prometheus_dashboard_base_url"):
        with pytest.raises(SettingsError, match=key):
            validate("mon1", {key: "wiki/runbooks"})
