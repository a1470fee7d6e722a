"""Templates: the Jinja environment over templates/ (each component's folder beside its
name: templates/<component>/), rendering with undefined values refused."""

from __future__ import annotations

from pathlib import Path

import jinja2

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(REPO / "templates")),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    trim_blocks=False, lstrip_blocks=False)


def _yaml(value, indent: int = 0) -> str:
    """Jinja filter: `value` as block YAML, every line after the first indented by `indent`."""
    import yaml
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=1000).rstrip()
    return ("\n" + " " * indent).join(text.splitlines())


TEMPLATES.filters["yaml"] = _yaml


def render(template: str, **values) -> str:
    return TEMPLATES.get_template(template).render(**values)


# What a component ships beside its templates: alert rule sets and Grafana dashboards
RULES_SUFFIX = ".rules.yml"
DASHBOARD_SUFFIX = ".dashboard.json"


def shipped_rule_sets() -> dict[str, Path]:
    """Every shipped alert rule set by name: templates/<component>/<name>.rules.yml."""
    found: dict[str, Path] = {}
    for path in sorted(REPO.glob(f"templates/*/*{RULES_SUFFIX}")):
        name = path.name.removesuffix(RULES_SUFFIX)
        if name in found:   # a setting names a set: two with one name would be ambiguous
            raise RuntimeError(f"two rule sets named {name!r}: {found[name]} and {path}")
        found[name] = path
    return dict(sorted(found.items()))


def shipped_dashboards() -> list[Path]:
    """Every shipped dashboard model: templates/<component>/<uid>.dashboard.json."""
    return sorted(REPO.glob(f"templates/*/*{DASHBOARD_SUFFIX}"), key=lambda p: p.name)
