"""Files generated from the catalogue: group_data/all.py (every setting with its default)
and the README's tables of settings and versions. `python3 -m operations.docs --write`
rewrites them; a unit test checks they are current.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from operations.base import alert_rules
from operations.base.catalogue import release_of
from operations.base.templates import shipped_rule_sets
from operations.stack import COMPONENTS, RELEASES, SETTINGS


def render_group_data_all() -> str:
    """group_data/all.py: every setting with its default and a one-line comment."""
    lines = [
        '"""Every setting of the monitoring stack, with its default.',
        "",
        "Generated from the catalogue (python3 -m operations.docs --write).",
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
    # pyinfra reads a group data file's names from __all__ when it has one; without it,
    # pyinfra 3.8-3.10 parse the whole file again for each name (over a second a run).
    # Computed, so a name a user adds to this file is not dropped (nor its typo hidden).
    lines += ["", "# every name above: pyinfra reads them from __all__ instead of parsing this "
              "file", "# again for each one",
              "__all__ = [name for name, value in dict(globals()).items()",
              "           if not name.startswith(\"_\") and type(value).__name__ != \"module\"]"]
    return "\n".join(lines) + "\n"


def _py(value: Any) -> str:
    return repr(value)


def render_settings_table() -> str:
    rows = ["| setting | type | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        t = s.type + (f" ({'/'.join(s.choices)})" if s.choices else "")
        default = json.dumps(s.default) if not isinstance(s.default, str) else s.default
        # a | would end the table cell, also inside backticks (GitHub's tables): escaped
        default = default.replace("|", "\\|")
        rows.append(f"| `{s.name}` | {t} | `{default}` | {s.help.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


DEBIAN_RELEASES = {"bullseye": "Debian 11 (bullseye)", "bookworm": "Debian 12 (bookworm)",
                   "trixie": "Debian 13 (trixie)", "sid": "Debian unstable (sid)"}


def release_components() -> dict[str, list[str]]:
    """Each release entry with the components installed from it, in deploy order."""
    out: dict[str, list[str]] = {}
    for component, c in COMPONENTS.items():
        if not c.scrape_only:
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


def readable(template: str) -> str:
    """An alert annotation with its Prometheus templates shown as placeholders:
    {{ $labels.instance }} -> {instance}, {{ $value | ... }} -> {value}."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", r"{\1}", template)
    text = re.sub(r"\{\{[^}]*\$value[^}]*\}\}", "{value}", text)
    return " ".join(text.split())


def render_runbooks() -> str:
    """README's section "Runbooks": every shipped alert (by rule set, in file order), under
    the anchor its runbook_url names, with its summary, cause and first steps."""
    out = []
    for name, path in shipped_rule_sets().items():
        runbooks = alert_rules.load_runbooks(path)
        rules: dict[str, list[dict]] = {}
        for rule in alert_rules.alerts(yaml.safe_load(path.read_text())):
            rules.setdefault(rule["alert"], []).append(rule)
        for alert, levels in rules.items():
            book = runbooks.get(alert) or {}
            severities = ", ".join(dict.fromkeys(r["labels"]["severity"] for r in levels))
            dashboard = levels[0].get("annotations", {}).get("dashboard", "none")
            out += [f'<a name="{alert_rules.anchor(alert)}"></a>', f"### {alert}", "",
                    f"*{readable(levels[0]['annotations']['summary'])}*", "",
                    f"Rule set `{name}` ({path.relative_to(path.parents[2])}), severity "
                    f"{severities}, dashboard `{dashboard}`.", "",
                    f"**Cause.** {book.get('cause', 'no runbook entry')}", "",
                    "**First steps.**", ""]
            out += [f"{n}. {step}" for n, step in enumerate(book.get("first_steps", []), 1)]
            out.append("")
    return "\n".join(out)


README_TABLES = {"settings": render_settings_table, "versions": render_versions_table,
                 "runbooks": render_runbooks}


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
