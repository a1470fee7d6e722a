"""validate() of one host's data, for unit tests of the checks of the settings and of
what is planned from them."""

from __future__ import annotations

from operations.base import inventory as context
from operations.base.schema import SettingsError
from operations.stack import validate


def refused(data: dict) -> str:
    """validate()'s error for one host's `data`, without the host ('' when it passes)."""
    try:
        validate("h1", data)
    except SettingsError as exc:
        text = str(exc)
        assert text.startswith("host h1: ")
        return text[len("host h1: "):]
    return ""


def settings_builder(monkeypatch, tmp_path, host_name: str = "h1", *,
                     environment: dict | None = None, seen_by=(), **base):
    """build(data): host `host_name`'s validate()d Settings (its secrets_file
    tmp_path/secrets.yml, read anew; then `base`, then `data`), which context.settings()
    and the `settings` of each module of `seen_by` then answer. `environment` is set
    first: the secrets the real secret() finds there."""
    for name, value in (environment or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(context, "_secrets_files", {})

    def build(data: dict | None = None):
        s = validate(host_name, {"secrets_file": str(tmp_path / "secrets.yml"), **base,
                                 **(data or {})})
        monkeypatch.setattr(context, "settings", lambda h=None: s)
        for module in seen_by:
            monkeypatch.setattr(module, "settings", lambda h=None: s)
        return s

    return build
