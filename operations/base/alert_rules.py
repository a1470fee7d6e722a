"""The shipped rule sets as Prometheus gets them, and their runbooks.

In a component's room, an alert of `<set>.rules.yml` carries the annotations `summary`,
`description` and `dashboard: <uid of a shipped dashboard>`; `<set>.runbooks.yml` beside
it maps every alert name to `{cause, first_steps: [...]}`. When the set is installed,
each alert gets `runbook_url` (the runbook base URL + `#alert-<name lowercased>`, the
anchor of its entry in the README's "Runbooks" section, generated from the runbooks by
operations/docs.py) and its `dashboard` becomes a link, `<Grafana URL>/d/<uid>` (no
Grafana URL known: the uid stays). User rule files are not touched.
"""

from __future__ import annotations

from pathlib import Path

import yaml

RUNBOOKS_SUFFIX = ".runbooks.yml"
RULES_SUFFIX = ".rules.yml"


def anchor(alert: str) -> str:
    """The README anchor of an alert's runbook."""
    return f"alert-{alert.lower()}"


def runbook_url(base_url: str, alert: str) -> str:
    return f"{base_url.split('#', 1)[0]}#{anchor(alert)}"


def dashboard_url(grafana_url: str, uid: str) -> str:
    return f"{grafana_url.rstrip('/')}/d/{uid}"


def runbooks_path(rule_set: Path) -> Path:
    """templates/<component>/<set>.runbooks.yml beside <set>.rules.yml."""
    return rule_set.with_name(rule_set.name.removesuffix(RULES_SUFFIX) + RUNBOOKS_SUFFIX)


def load_runbooks(rule_set: Path) -> dict:
    """Alert name -> {cause, first_steps} of a rule set ({} when it has no runbooks)."""
    path = runbooks_path(rule_set)
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def alerts(data: dict):
    """Every alerting rule (a dict, in place) of a loaded rule file."""
    for group in data.get("groups") or []:
        for rule in group.get("rules") or []:
            if "alert" in rule:
                yield rule


# libyaml's loader where PyYAML has it: the same data, read several times faster (every
# run reads every shipped rule set)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, descriptions) as literal blocks, readable on the host."""


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def installed(rule_set: Path, runbook_base_url: str, grafana_url: str | None) -> str:
    """The content of a shipped rule set as installed: every alert with `runbook_url`, and
    its `dashboard` uid turned into a link to Grafana (when its URL is known)."""
    data = yaml.load(rule_set.read_text(), Loader=_LOADER)
    for rule in alerts(data):
        annotations = rule.setdefault("annotations", {})
        uid = annotations.get("dashboard")
        if grafana_url and uid:
            annotations["dashboard"] = dashboard_url(grafana_url, uid)
        annotations["runbook_url"] = runbook_url(runbook_base_url, rule["alert"])
    source = "/".join(rule_set.parts[-3:])
    head = (f"# Installed by monstack from {source} (its alerts with runbook_url and a "
            "dashboard link):\n# change that file, not this one.\n")
    return head + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000,
                            allow_unicode=True, default_flow_style=False)
