"""What every shipped rule set of these components carries: per alert a severity, a
summary, a description and the uid of a shipped dashboard, and an entry in the runbooks
file beside the rule set (templates/<component>/<set>.runbooks.yml)."""

from __future__ import annotations

import json

import yaml

from operations.base.templates import shipped_dashboards, shipped_rule_sets


def check(rule_set: str) -> list[str]:
    """The alert names of `rule_set`, after asserting the above."""
    path = shipped_rule_sets()[rule_set]
    alerts = [rule for group in yaml.safe_load(path.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule]
    assert alerts, path
    uids = {json.loads(p.read_text())["uid"] for p in shipped_dashboards()}
    for rule in alerts:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"].strip() and notes["description"].strip(), rule["alert"]
        assert notes["dashboard"] in uids, (rule["alert"], notes["dashboard"])
    runbooks_path = path.with_name(f"{rule_set}.runbooks.yml")
    runbooks = yaml.safe_load(runbooks_path.read_text())
    names = [rule["alert"] for rule in alerts]
    assert sorted(runbooks) == sorted(set(names)), runbooks_path
    for name, entry in runbooks.items():
        check_runbook_entry(name, entry)
    return names


def check_runbook_entry(name: str, entry: dict) -> None:
    """A runbook entry has the shape {cause: str, first_steps: [str, ...]}, none empty."""
    assert set(entry) == {"cause", "first_steps"}, name
    assert isinstance(entry["cause"], str) and entry["cause"].strip(), name
    steps = entry["first_steps"]
    assert isinstance(steps, list) and steps, name
    assert all(isinstance(step, str) and step.strip() for step in steps), name
