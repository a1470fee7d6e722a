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
