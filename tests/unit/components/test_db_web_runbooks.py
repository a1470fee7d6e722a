"""The runbooks and dashboard links of the MySQL, nginx and HAProxy rule sets: each alert
has a runbook entry beside its rule set (templates/<component>/<set>.runbooks.yml) of
the shape `Alert: {cause: str, first_steps: [str, ...]}`, and its `dashboard`
annotation names a shipped dashboard."""

from __future__ import annotations

import pytest
import yaml

from harness.dashboards import uid_of
from harness.rule_sets import check_runbook_entry
from operations.base.templates import shipped_dashboards, shipped_rule_sets

SETS = ("mysql", "nginx", "haproxy")


def alerts(rule_set: str) -> dict[str, dict]:
    path = shipped_rule_sets()[rule_set]
    return {r["alert"]: r for g in yaml.safe_load(path.read_text())["groups"]
            for r in g["rules"] if "alert" in r}


def runbooks(rule_set: str) -> dict:
    path = shipped_rule_sets()[rule_set].with_name(f"{rule_set}.runbooks.yml")
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("rule_set", SETS)
def test_every_alert_has_a_runbook_of_the_shape(rule_set):
    books = runbooks(rule_set)
    assert set(books) == set(alerts(rule_set))
    for name, book in books.items():
        check_runbook_entry(name, book)


@pytest.mark.parametrize("rule_set", SETS)
def test_every_alert_links_a_shipped_dashboard(rule_set):
    uids = {uid_of(p) for p in shipped_dashboards()}
    for name, rule in alerts(rule_set).items():
        assert rule["annotations"].get("dashboard") in uids, name
